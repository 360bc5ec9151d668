"""Where ``diffgen survey serve`` listens by default, and so the base of the web links raters
get: one place for both (and light, so the CLI's parser can show it)."""

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
DEFAULT_BASE_URL = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"
