"""Connection limits of the web rater that uvicorn lacks, so that idle sockets cannot shut
raters out.

uvicorn answers 503 to everyone once ``limit_concurrency`` connections are open, and it
starts no timer on a new connection: a client that connects and sends nothing (or its
headers a byte at a time) holds a place for ever, with no token needed. Two limits close
that: a **request deadline** (a connection must deliver a whole request within
``request_timeout_s`` of opening or of its last response, else it is closed) and a
**per-client limit** (one address holds at most ``per_client`` connections; more are closed
at once). A browser opens about six connections to a host; raters behind one NAT share an
address, hence the generous default.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

WAITING = (h11.IDLE, h11.SEND_BODY)  # the client's side of a request not yet received whole


@dataclass(frozen=True)
class ConnectionLimits:
    request_timeout_s: float = 10.0
    per_client: int = 64


def limited_protocol(limits: ConnectionLimits) -> type[H11Protocol]:
    """uvicorn's h11 protocol with the limits; one class per server (it counts that server's
    connections by client address)."""
    open_by_client: Counter[str] = Counter()

    class LimitedH11Protocol(H11Protocol):
        _deadline: asyncio.TimerHandle | None = None
        _client_host: str | None = None  # set while counted in open_by_client

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            host = self.client[0] if self.client else ""
            if open_by_client[host] >= limits.per_client:
                transport.close()
                return
            open_by_client[host] += 1
            self._client_host = host
            self._start_deadline()

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel_deadline()
            if self._client_host is not None:
                open_by_client[self._client_host] -= 1
                if open_by_client[self._client_host] <= 0:
                    del open_by_client[self._client_host]
                self._client_host = None
            super().connection_lost(exc)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._start_deadline()  # the next request on a kept-alive connection gets the same time

        def _start_deadline(self) -> None:
            self._cancel_deadline()
            if not self.transport.is_closing():
                self._deadline = self.loop.call_later(limits.request_timeout_s, self._request_late)

        def _cancel_deadline(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _request_late(self) -> None:
            self._deadline = None
            if self.conn.their_state in WAITING and not self.transport.is_closing():
                self.transport.close()

    return LimitedH11Protocol
