"""Running the web rater with uvicorn: the listening socket, TLS, and the URLs to hand out."""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from backend.config.network import DEFAULT_HOST, DEFAULT_PORT
from backend.errors import BadInputError
from backend.survey import Survey
from backend.web.app import create_app
from backend.web.connections import ConnectionLimits, limited_protocol
from backend.workspace.store import Workspace


@dataclass(frozen=True)
class ServeConfig:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    certfile: str | None = None
    keyfile: str | None = None
    limits: ConnectionLimits = ConnectionLimits()

    @property
    def scheme(self) -> str:
        return "https" if self.certfile else "http"


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def lan_address() -> str:
    """This machine's address on its network (no packet is sent: a UDP socket only picks
    the interface a route would use); the host name's address when there is no route."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))
            return s.getsockname()[0]
        except OSError:
            return socket.gethostbyname(socket.gethostname())


def check_tls(config: ServeConfig) -> None:
    if bool(config.certfile) != bool(config.keyfile):
        raise BadInputError("TLS needs both --certfile and --keyfile (PEM files of the certificate and its key)")
    for flag, name in (("--certfile", config.certfile), ("--keyfile", config.keyfile)):
        if name and not Path(name).is_file():
            raise BadInputError(
                f"{flag} {name}: no such file (give the PEM file of the server's "
                f"{'certificate' if flag == '--certfile' else 'private key'})"
            )


def bind(config: ServeConfig) -> socket.socket:
    """The listening socket, or a clear error (port taken, address not on this machine)."""
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((config.host, config.port))
    except OSError as e:
        sock.close()
        raise BadInputError(
            f"cannot listen on {config.host}:{config.port}: {e.strerror}. Choose another "
            "--port, or a --host address of this machine"
        ) from None
    sock.listen(128)
    return sock


def base_urls(config: ServeConfig, port: int) -> list[str]:
    """Where raters reach the server: the host itself, or each way in for 0.0.0.0 / ::."""
    hosts = [config.host]
    if config.host in ("0.0.0.0", "::"):
        hosts = [lan_address(), "127.0.0.1"]
    return [f"{config.scheme}://{f'[{h}]' if ':' in h else h}:{port}" for h in hosts]


def make_server(ws: Workspace, survey: Survey, config: ServeConfig) -> uvicorn.Server:
    check_tls(config)
    loaded = uvicorn.Config(
        create_app(ws, survey),
        ssl_certfile=config.certfile,
        ssl_keyfile=config.keyfile,
        # no access log: its lines would carry the raters' link tokens
        access_log=False,
        log_level="warning",
        server_header=False,
        lifespan="off",
        http=limited_protocol(config.limits),  # request deadline and per-client limit (idle sockets)
        limit_concurrency=400,
        timeout_keep_alive=15,
        h11_max_incomplete_event_size=16 * 1024,
    )
    try:
        loaded.load()  # reads the TLS files now, so a bad one is a message, not a traceback
    except (ssl.SSLError, OSError) as e:
        raise BadInputError(
            f"cannot use --certfile {config.certfile} / --keyfile {config.keyfile} for TLS: {e}. "
            "Give the PEM certificate and its unencrypted PEM private key"
        ) from None
    return uvicorn.Server(loaded)


@contextmanager
def running_server(ws: Workspace, survey: Survey, config: ServeConfig) -> Iterator[str]:
    """The server in a background thread for as long as the block runs; yields its base URL."""
    server = make_server(ws, survey, config)
    sock = bind(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="web-rater")
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the web rater server stopped while starting")
            thread.join(0.02)
        yield base_urls(config, sock.getsockname()[1])[0]
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
