"""Editions: which comparisons go into a week's email, frozen as an Edition, and editors' changes.

models     Edition and EditionItem (the frozen list, in order, with what is left out)
status     EditionStatus and the changes allowed; service.change_status is the one write of it
selection  the pure core: which comparisons a week carries, and in what order
service    building, finding and editing editions in the store around that core
"""
