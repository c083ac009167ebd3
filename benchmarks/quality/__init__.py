"""Retrieval quality: nDCG@10 and friends on BEIR collections, the demo questions, ablations.
"""
