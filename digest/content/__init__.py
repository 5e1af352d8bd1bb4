"""Content: the tools and comparisons the newsletter is about, and how they get in and out.

models     Tool, Comparison, Entry, Review (and Vote, a reader's pick in a comparison; ComparisonVersion)
importer   page exports and JSON files -> records -> the store, all or nothing
catalog    reading comparisons back as plain values, and the topics readers may choose
votes      one vote per reader per comparison, and the community figure (one definition)
versions   what each import said (a history of versions), and which changes matter to readers
"""
