"""Serving an index: the HTTP server and its page (server.py, static/), the live version it
follows (live.py), the 2-D map of the embeddings (projection.py) and its picture (plot.py).
"""
