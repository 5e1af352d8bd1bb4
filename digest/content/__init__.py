"""Content: the tools and comparisons the newsletter is about, and how they get in and out.

models     Tool, Comparison, Entry, Review (and Vote, a reader's pick in a comparison)
importer   page exports and JSON files -> records -> the store, all or nothing
catalog    reading comparisons back as plain values, and the topics readers may choose
votes      one vote per reader per comparison, and the community share it adds up to
"""
