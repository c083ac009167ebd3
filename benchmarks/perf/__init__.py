"""Speed and memory: encoding, indexing, queries, serving, backends.
"""
