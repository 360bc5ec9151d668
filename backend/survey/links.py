"""Personal web links of raters: unguessable tokens, stored only as a hash.

A link is ``BASE/r/TOKEN``. The token (256 bits from :mod:`secrets`) is shown once, when it
is issued; the database keeps its SHA-256 (a plain hash is enough for a random token of
this size: no dictionary to try), so a copied workspace or backup lets no one rate in a
rater's name. A lost link is replaced by issuing a new one, which revokes the old.
Each link also has a random ``secret`` that keys the rater's opaque item codes and CSRF
token, so those reveal nothing even to someone who knows the token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from backend.config.network import DEFAULT_BASE_URL
from backend.errors import BadInputError
from backend.survey.model import Rater, Survey, get_rater
from backend.workspace.store import Workspace, now

HINT_CHARS = 4  # of the token, shown in listings so links can be told apart


@dataclass(frozen=True)
class RaterLink:
    """A verified link: the rater it belongs to and the key of their codes."""

    rater: Rater
    secret: bytes

    def code(self, item_id: int) -> str:
        """The opaque per-rater code of an item (not its id, not sequential, not shared)."""
        return hmac.new(self.secret, f"item:{item_id}".encode(), hashlib.sha256).hexdigest()[:24]

    @property
    def csrf_token(self) -> str:
        return hmac.new(self.secret, b"csrf", hashlib.sha256).hexdigest()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def link_url(token: str, base_url: str = DEFAULT_BASE_URL) -> str:
    return f"{base_url.rstrip('/')}/r/{token}"


def issue_link(ws: Workspace, rater: Rater) -> str:
    """A new personal link token for ``rater`` (any earlier link stops working)."""
    if rater.simulated:
        raise BadInputError(f"{rater.display_name} is a simulated rater and gets no link")
    token = secrets.token_urlsafe(32)
    with ws.transaction() as c:
        c.execute(
            "INSERT INTO rater_links (rater_id, token_sha256, secret, hint, created_at) VALUES (?,?,?,?,?)"
            " ON CONFLICT(rater_id) DO UPDATE SET token_sha256 = excluded.token_sha256,"
            " secret = excluded.secret, hint = excluded.hint, created_at = excluded.created_at",
            (rater.id, token_hash(token), secrets.token_hex(32), token[:HINT_CHARS], now()),
        )
    return token


def verify_token(ws: Workspace, survey: Survey, token: str) -> RaterLink | None:
    """The link of ``token`` when it belongs to a rater of ``survey``, else None."""
    if not token or len(token) > 128:
        return None
    rows = ws.query(
        "SELECT r.name, l.secret FROM rater_links l JOIN raters r ON r.id = l.rater_id"
        " WHERE l.token_sha256 = ? AND r.survey_id = ?",
        (token_hash(token), survey.id),
    )
    return RaterLink(get_rater(ws, survey, rows[0]["name"]), bytes.fromhex(rows[0]["secret"])) if rows else None
