"""The web rater: the blinded survey page and its JSON API, as an ASGI app (Starlette).

Every rater's personal link is ``/r/TOKEN``; a wrong or missing token gets 403 with an empty
body. Answers go through the same :class:`backend.survey.RaterSession` as the desktop rater
window: one request per answer, committed before the response, idempotent (the same answer
sent twice stores the same row). What a rater's browser sees is the same for every kind of
item: the page is static, images are addressed by opaque codes of this rater (keyed by the
link's secret, not item ids or survey codes, not sequential), served as the stored blinded
PNG bytes with the same headers, ``Cache-Control: no-store`` on every response.
Posts need the rater's CSRF token in a header, a JSON body and, where the browser sends
one, an Origin of this server; bodies over :data:`BODY_LIMIT` bytes are refused.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backend.errors import BadInputError, WorkspaceError
from backend.survey import Answer, RaterSession, Survey, template_of
from backend.survey.links import RaterLink, verify_token
from backend.survey.template import Template
from backend.web.page import CSS, html, script
from backend.workspace.integrity import DamagedWorkspaceError
from backend.workspace.store import Workspace

log = logging.getLogger(__name__)
BODY_LIMIT = 4096  # bytes of a request body (an answer or a comment is far smaller)
COMMENT_LIMIT = 1000  # characters of a comment
HEADERS = [
    (b"cache-control", b"no-store"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        b"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    ),
]
_REPLACED = {name for name, _ in HEADERS} | {b"etag", b"last-modified", b"server"}


class Guard:
    """ASGI middleware, outermost: the security headers on every response (errors too), and
    the body size limit (a body is read whole, at most ``limit`` bytes, before the app runs)."""

    def __init__(self, app, limit: int = BODY_LIMIT):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_guarded(message):
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in _REPLACED]
                message = {**message, "headers": kept + HEADERS}
            await send(message)

        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            return await Response(status_code=413)(scope, receive, send_guarded)
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.limit:  # a chunked body without a length
                return await Response(status_code=413)(scope, receive, send_guarded)
            more = message.get("more_body", False)
        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send_guarded)


@dataclass
class Seat:
    """One rater's session in this server; its lock keeps their requests in order."""

    link: RaterLink
    session: RaterSession
    positions: dict[str, int]  # opaque code -> position in the rater's order
    lock: threading.Lock = field(default_factory=threading.Lock)


class RaterService:
    """Token checks and the rater operations behind the routes (plain threads, no async)."""

    def __init__(self, ws: Workspace, survey: Survey):
        self.ws, self.survey = ws, survey
        self._seats: dict[int, Seat] = {}
        self._lock = threading.Lock()

    def seat(self, token: str) -> Seat | None:
        """The seat of a valid token of this survey (checked on every request: a link
        replaced by a new one stops working at once), else None."""
        link = verify_token(self.ws, self.survey, token)
        if link is None:
            return None
        with self._lock:
            seat = self._seats.get(link.rater.id)
            if seat is None or seat.link.secret != link.secret:
                session = RaterSession.open(self.ws, self.survey.name, link.rater.name)
                seat = Seat(link, session, {link.code(it.item_id): pos for pos, it in enumerate(session.items)})
                self._seats[link.rater.id] = seat
        return seat

    def state(self, seat: Seat) -> dict:
        with seat.lock:
            s = seat.session
            s.reload()
            return {
                "rater": s.rater.name,
                "total": s.total,
                "position": s.index,
                "submitted": s.submitted,
                "csrf": seat.link.csrf_token,
                "items": [
                    {
                        "code": seat.link.code(it.item_id),
                        "answer": _answer_json(s.template, s.answers.get(it.item_id, Answer())),
                        "feedback": s.feedback(pos),  # calibration items only, else ""
                    }
                    for pos, it in enumerate(s.items)
                ],
            }

    def file(self, seat: Seat, code: str, mask: bool) -> bytes | None:
        pos = seat.positions.get(code)
        if pos is None:
            return None
        item = seat.session.items[pos]
        if not mask:  # the page asks for an item's image when it shows the item
            with seat.lock:
                seat.session.mark_shown(pos)
        return (item.mask_path if mask else item.image_path).read_bytes()

    def answer(self, seat: Seat, code: str, question: str, value: str) -> dict:
        with seat.lock:
            s = seat.session
            s.select(seat.positions[code])
            if question == "comment":
                s.comment(value)
            else:
                s.give(question, value)
            return {
                "saved": True,
                "item": code,
                "answer": _answer_json(s.template, s.answer()),
                "complete": s.complete_count,
                "feedback": s.feedback(),
            }

    def submit(self, seat: Seat) -> dict:
        with seat.lock:
            seat.session.submit()
            return {"submitted": True}


def _answer_json(template: Template, answer: Answer) -> dict:
    """An item's answers as the page holds them: every question (null when unanswered) and the comment."""
    return {**{q: answer.values.get(q) for q in template.names}, "comment": answer.comment}


def _forbidden() -> Response:
    return Response(status_code=403)


def _csrf_ok(request: Request, seat: Seat) -> bool:
    """Same-origin JSON posts carrying the rater's CSRF token only."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        return False
    origin = request.headers.get("origin")
    if origin is not None and origin != f"{request.url.scheme}://{request.headers.get('host', '')}":
        return False
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return False
    return hmac.compare_digest(request.headers.get("x-csrf-token", "").encode(), seat.link.csrf_token.encode())


def _answer_fields(body, seat: Seat) -> tuple[str, str, str]:
    questions = seat.session.template.names
    """(code, question, value) of a valid answer post, or BadInputError saying what is wrong."""
    if not isinstance(body, dict) or set(body) != {"item", "question", "value"}:
        raise BadInputError("an answer is a JSON object with exactly: item, question, value")
    code, question, value = body["item"], body["question"], body["value"]
    if not isinstance(code, str) or code not in seat.positions:
        raise BadInputError("unknown item")
    if question != "comment" and question not in questions:
        raise BadInputError(f"question must be one of: {', '.join(questions)}, comment")
    if not isinstance(value, str) or len(value) > COMMENT_LIMIT:
        raise BadInputError(f"value must be text of at most {COMMENT_LIMIT} characters")
    return code, question, value


def create_app(ws: Workspace, survey: Survey) -> Guard:
    """The ASGI app serving one survey's raters."""
    service = RaterService(ws, survey)
    template = template_of(ws, survey)  # checked once, before the first rater comes
    page_html, page_js = html(template), script(template)

    async def seat_of(request: Request) -> Seat | None:
        return await run_in_threadpool(service.seat, request.path_params["token"])

    async def page(request: Request) -> Response:
        if await seat_of(request) is None:
            return _forbidden()
        return Response(page_html, media_type="text/html; charset=utf-8")

    async def state(request: Request) -> Response:
        seat = await seat_of(request)
        if seat is None:
            return _forbidden()
        return JSONResponse(await run_in_threadpool(service.state, seat))

    def picture(mask: bool):
        async def endpoint(request: Request) -> Response:
            seat = await seat_of(request)
            if seat is None:
                return _forbidden()
            data = await run_in_threadpool(service.file, seat, request.path_params["code"], mask)
            return _forbidden() if data is None else Response(data, media_type="image/png")

        return endpoint

    async def post(request: Request, action) -> Response:
        seat = await seat_of(request)
        if seat is None or not _csrf_ok(request, seat):
            return _forbidden()
        try:
            body = json.loads(await request.body() or b"null")
            result = await run_in_threadpool(action, seat, body)
        except (ValueError, BadInputError) as e:  # json's errors are ValueErrors
            return JSONResponse({"error": str(e) if isinstance(e, BadInputError) else "the body is not JSON"}, 400)
        except WorkspaceError as e:  # e.g. already submitted
            return JSONResponse({"error": str(e)}, 409)
        return JSONResponse(result)

    async def answer(request: Request) -> Response:
        return await post(request, lambda seat, body: service.answer(seat, *_answer_fields(body, seat)))

    async def submit(request: Request) -> Response:
        return await post(request, lambda seat, body: service.submit(seat))

    async def forbidden(request: Request, _exc: Exception | None = None) -> Response:
        return _forbidden()

    async def damaged(request: Request, exc: Exception) -> Response:
        """A damaged workspace (e.g. a stored path outside it): the operator reads why, the rater nothing."""
        log.error("%s", exc)
        return Response(status_code=500)

    async def asset(request: Request) -> Response:
        name = request.path_params["name"]
        kinds = {"rater.js": (page_js, "text/javascript; charset=utf-8"), "rater.css": (CSS, "text/css; charset=utf-8")}
        if name not in kinds:
            return _forbidden()
        return Response(kinds[name][0], media_type=kinds[name][1])

    routes = [
        Route("/", forbidden),
        Route("/r/{token}", page),
        Route("/r/{token}/state", state),
        Route("/r/{token}/image/{code}", picture(mask=False)),
        Route("/r/{token}/mask/{code}", picture(mask=True)),
        Route("/r/{token}/answer", answer, methods=["POST"]),
        Route("/r/{token}/submit", submit, methods=["POST"]),
        Route("/assets/{name}", asset),
    ]
    # anything else (no token, unknown paths) gets the same empty 403
    return Guard(Starlette(routes=routes, exception_handlers={404: forbidden, DamagedWorkspaceError: damaged}))
