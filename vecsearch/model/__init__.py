"""The encoder: its config and safetensors format (format.py), the tokenizer, the torch
encoder (encoder.py), its numpy twin that embeds queries and passages without torch
(numpy_encoder.py), which of the two runs here (runtime.py), and the base encoder that ships
in base/ (bases.py says which one an index starts from).

Importing this package imports neither torch nor tokenizers; its modules do as they need.
"""
