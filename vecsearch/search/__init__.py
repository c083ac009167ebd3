"""Ranking: BM25 (lexical.py), the fusion of dense and BM25 rankings (fusion.py), the label-free
choice of the hybrid weight and default mode (calibration.py), ranking metrics (metrics.py) and
the snippets shown with a hit (snippets.py).
"""
