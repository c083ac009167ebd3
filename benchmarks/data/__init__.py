"""Not measurements: collections and corpora the measurements use.
"""
