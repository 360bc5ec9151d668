"""Files on disk: atomic writes and hashes, reading images, weight files (tensors only, never code)."""
