"""The largest image the readers decode: a guard against decompression bombs (a small file
whose header claims gigapixels). Its own light module, so the CLI can show it in ``--help``."""

DEFAULT_MAX_PIXELS = 8192 * 8192
