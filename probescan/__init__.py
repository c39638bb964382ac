"""probescan: active service fingerprinting."""

__version__ = "0.1.0"
