"""Measurements of vecsearch. Run each from the repository root as a module:

    python -m benchmarks.perf.query_latency --help

perf/ times things, quality/ scores retrieval, diagnostics/ inspects the code, data/ makes
collections and corpora; tables.py holds what they share. See README.md here.
"""
