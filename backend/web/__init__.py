"""The web rater (``diffgen survey serve``): blinded rating in a browser, through the same
:class:`backend.survey.RaterSession` as the desktop rater window. Starlette on uvicorn.

Modules: ``app`` (the ASGI app: routes, token and CSRF checks, headers, size limits),
``page`` (the static page, its style and script), ``connections`` (the request deadline and
per-client connection limit uvicorn lacks), ``serve`` (socket, TLS, URLs, a server in a
thread for tests).
"""

from backend.web.app import create_app
from backend.web.connections import ConnectionLimits
from backend.web.serve import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    ServeConfig,
    base_urls,
    bind,
    is_loopback,
    make_server,
    running_server,
)

__all__ = [
    "ConnectionLimits",
    "create_app",
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "ServeConfig",
    "base_urls",
    "bind",
    "is_loopback",
    "make_server",
    "running_server",
]
