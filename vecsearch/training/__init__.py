"""Training an encoder on a corpus: the settings (config.py, torch-free), the loop shared by
every recipe (loop.py), the self-supervised recipe with BM25-taught pseudo-queries
(self_supervised.py, whose `fit` picks the recipe), distillation from a sentence-transformers
teacher (distillation.py), and the co-occurrence start of a new encoder's token embeddings.
"""
