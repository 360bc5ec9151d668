"""Load on localhost: 20 raters x 30 items at once through the real server; every answer
stored exactly once, on the right item, within a bounded time."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx  # noqa: E402 - hard dependencies: a broken install fails, never skips
import pytest
import uvicorn  # noqa: E402, F401

from backend import survey as sv  # noqa: E402
from backend.survey.links import issue_link, verify_token  # noqa: E402
from backend.web import ConnectionLimits, ServeConfig, running_server  # noqa: E402

RATERS = 20
TIME_LIMIT_S = 60
QUESTIONS = ("image_quality", "mask_quality", "real_fake")


def intended(rater: int, pos: int) -> dict[str, str]:
    """Answers that differ by rater and position, so a mixed-up item would show."""
    return {
        "image_quality": sv.QUALITY[(rater + pos) % 3],
        "mask_quality": sv.QUALITY[(rater * 7 + pos) % 3],
        "real_fake": sv.REAL_FAKE[(rater + pos * 3) % 2],
    }


async def rate(base: str, token: str, n: int, sent: list[int]) -> None:
    """One rater's browser: the state, then one request per answer, in order (as the page
    sends them); every tenth answer is sent twice, as after a dropped connection."""
    async with httpx.AsyncClient(base_url=f"{base}/r/{token}", timeout=30) as client:
        state = (await client.get("/state")).raise_for_status().json()
        headers = {"X-CSRF-Token": state["csrf"]}
        for pos, item in enumerate(state["items"]):
            for q, v in intended(n, pos).items():
                body = {"item": item["code"], "question": q, "value": v}
                for _ in range(2 if len(sent) % 10 == 0 else 1):
                    (await client.post("/answer", json=body, headers=headers)).raise_for_status()
                    sent.append(1)
        assert (await client.post("/submit", json={}, headers=headers)).json() == {"submitted": True}


async def rate_all(base: str, tokens: list[str], sent: list[int]) -> None:
    await asyncio.wait_for(asyncio.gather(*(rate(base, t, n, sent) for n, t in enumerate(tokens))), TIME_LIMIT_S)


def test_twenty_raters_at_once_store_every_answer_exactly_once(ws, survey):
    raters = [sv.add_rater(ws, survey, f"dr-{n:02d}") for n in range(RATERS)]
    tokens = [issue_link(ws, r) for r in raters]
    sent: list[int] = []
    start = time.monotonic()
    with running_server(ws, survey, ServeConfig("127.0.0.1", 0)) as base:
        assert base.startswith("http://127.0.0.1:")
        asyncio.run(rate_all(base, tokens, sent))
    elapsed = time.monotonic() - start
    n_items = len(sv.items(ws, survey))
    assert n_items == 30 and len(sent) > RATERS * n_items * 3  # the duplicates were sent too
    rows = ws.query("SELECT rater_id, item_id, COUNT(*) AS n FROM survey_answers GROUP BY rater_id, item_id")
    assert len(rows) == RATERS * n_items and {r["n"] for r in rows} == {1}
    for n, (rater, token) in enumerate(zip(raters, tokens)):
        link = verify_token(ws, survey, token)
        order = sv.rater_order(ws, survey, rater)
        stored = sv.answers_of(ws, rater)
        assert {
            i: (a.values.get("image_quality"), a.values.get("mask_quality"), a.values.get("real_fake")) for i, a in stored.items()
        } == {item: tuple(intended(n, pos)[q] for q in QUESTIONS) for pos, item in enumerate(order)}
        assert link.rater.submitted_at is not None
    assert elapsed < TIME_LIMIT_S


ATTACKER = "127.0.0.2"  # loopback too (127/8): the idle sockets come from another address than the rater's


@contextmanager
def idle_sockets(base: str, count: int, first_bytes: bytes = b"") -> Iterator[list[socket.socket]]:
    """``count`` connections from ATTACKER to the server that send ``first_bytes`` and then nothing."""
    port = int(base.rsplit(":", 1)[1])
    socks = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.settimeout(5)
            s.bind((ATTACKER, 0))
            s.connect(("127.0.0.1", port))
            if first_bytes:
                s.sendall(first_bytes)
            socks.append(s)
        yield socks
    finally:
        for s in socks:
            s.close()


def closed_by_server(s: socket.socket, within_s: float) -> bool:
    s.settimeout(within_s)
    try:
        return s.recv(1024) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def rates(base: str, token: str) -> int:
    """A rater's first steps: the state and one answer; the status of the answer."""
    with httpx.Client(base_url=f"{base}/r/{token}", timeout=10) as client:
        state = client.get("/state").raise_for_status().json()
        body = {"item": state["items"][0]["code"], "question": "image_quality", "value": "good"}
        return client.post("/answer", json=body, headers={"X-CSRF-Token": state["csrf"]}).status_code


def test_three_hundred_idle_connections_do_not_shut_raters_out(ws, survey):
    token = issue_link(ws, sv.add_rater(ws, survey, "dr-busy"))
    limits = ConnectionLimits()
    with running_server(ws, survey, ServeConfig("127.0.0.1", 0)) as base, idle_sockets(base, 300) as idle:
        start = time.monotonic()
        assert rates(base, token) == 200
        assert time.monotonic() - start < 5
        # one address keeps at most per_client connections: the rest were closed at once
        still_open = sum(not closed_by_server(s, 0.05) for s in idle)
        assert still_open == limits.per_client


@pytest.mark.parametrize("first_bytes", [b"", b"GET /r/x HTTP/1.1\r\nHost: a\r\n"], ids=["silent", "headers-unfinished"])
def test_a_connection_that_sends_no_whole_request_is_closed_after_the_deadline(ws, survey, first_bytes):
    token = issue_link(ws, sv.add_rater(ws, survey, "dr-slow"))
    config = ServeConfig("127.0.0.1", 0, limits=ConnectionLimits(request_timeout_s=0.5, per_client=4))
    with running_server(ws, survey, config) as base, idle_sockets(base, 4, first_bytes) as idle:
        assert all(closed_by_server(s, 3) for s in idle)
        assert rates(base, token) == 200  # a whole request in time is served, from any address
