"""The package version, in a leaf module: modules that record it (the manifest, the API) import it from here."""

__version__ = "0.1.0"  # as in pyproject.toml
