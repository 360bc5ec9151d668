"""User-given names that become file or folder names (models, surveys...): one check for all.

A name is one path component of a safe character set, so it can never climb out of its
folder (``../x``), name a hidden file, or differ between file systems.
"""

from __future__ import annotations

import re

from backend.errors import BadInputError

MAX_NAME_LENGTH = 64
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")


def check_name(name: str, what: str = "name") -> str:
    """``name`` unchanged if it is a safe single folder name, else a ``BadInputError`` that
    says what is allowed. ``what`` names the thing in the message (e.g. "model name")."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or len(name) > MAX_NAME_LENGTH:
        raise BadInputError(
            f"{what} {name!r} cannot be used as a folder name: use 1-{MAX_NAME_LENGTH} letters, digits, "
            "'.', '_' or '-', starting with a letter, digit or '_' (no '/', spaces or leading dot), "
            "e.g. full-tiny"
        )
    return name
