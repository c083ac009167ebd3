"""The encoder: its config and safetensors format (format.py), the tokenizer, the torch
encoder (encoder.py), its numpy twin for torch-free queries (numpy_encoder.py), and the base
encoder that ships in base/ (bases.py says which one an index starts from).

Importing this package imports neither torch nor tokenizers; its modules do as they need.
"""
