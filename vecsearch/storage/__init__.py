"""Where a version's vectors and passages live: the index directory's versions, lock and reader
holds (indexdir.py), the FAISS index (dense.py), the SQLite passage store (sqlite.py), metadata
filters (filters.py), and the backends that combine them (backends/: faiss and milvus).
"""
