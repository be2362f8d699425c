"""Pagination cursors: what `next_cursor` carries, and the one decoder every cursor a client sends goes through.

A cursor is a flat JSON array of strings and integers (a keyset position: the last row's sort
value and id, or a journal position), base64url without padding. It is opaque to clients, so
whatever they send back is checked in this order, each step refusing with the same 422:

1. its size (`MAX_CURSOR_CHARS`) and alphabet, before anything is decoded;
2. the decoded text's shape: a flat array of strings and integers, by a regular expression,
   before any JSON is parsed (nested arrays are how a made-up cursor reached the parser's
   recursion limit);
3. the number and types of its values, for the endpoint reading it.

The limit leaves room for any cursor the API issues for a name of up to 200 characters of up to
four UTF-8 bytes each (about 1.1 KB), far below what decoding could cost anything.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from app.errors import InvalidInput
from app.models import reject_control_characters

MAX_CURSOR_CHARS = 2048

BAD_CURSOR = "Invalid cursor: pass back next_cursor exactly as received"

_ALPHABET = re.compile(r"[A-Za-z0-9_-]+")
# One JSON string (no raw control characters, only JSON's escapes) or one integer of up to 19 digits.
_SCALAR = r'"(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"|-?(?:0|[1-9][0-9]{0,18})'
_FLAT_ARRAY = re.compile(rf"\[\s*(?:{_SCALAR})(?:\s*,\s*(?:{_SCALAR}))*\s*\]")

Scalar = str | int


def encode_cursor(*values: Scalar) -> str:
    raw = json.dumps(list(values), ensure_ascii=False, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, *types: type[Scalar]) -> list[Scalar]:
    """The values of a cursor, which must be exactly `types` in order; 422 for anything else."""
    if len(cursor) > MAX_CURSOR_CHARS or not _ALPHABET.fullmatch(cursor):
        raise InvalidInput(BAD_CURSOR)
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, binascii.Error) as exc:  # UnicodeDecodeError is a ValueError
        raise InvalidInput(BAD_CURSOR) from exc
    if not _FLAT_ARRAY.fullmatch(text):
        raise InvalidInput(BAD_CURSOR)
    values: list[Scalar] = json.loads(text)  # flat, so parsing cannot recurse
    if [type(value) for value in values] != list(types):
        raise InvalidInput(BAD_CURSOR)
    try:
        for value in values:
            str(value).encode()  # a lone surrogate (`\ud800`) is JSON, but no text the database takes
    except UnicodeEncodeError as exc:
        raise InvalidInput(BAD_CURSOR) from exc
    return values


def keyset_cursor(value: str | datetime, row_id: UUID) -> str:
    """The cursor after a row of a keyset-ordered list: its sort value and its id."""
    return encode_cursor(value.isoformat() if isinstance(value, datetime) else value, str(row_id))


def keyset_after(cursor: str, *, as_datetime: bool) -> tuple[Any, UUID]:
    """A keyset cursor's (sort value, id); the value a UTC datetime when `as_datetime`."""
    value, row_id = decode_cursor(cursor, str, str)
    assert isinstance(value, str) and isinstance(row_id, str)
    try:
        reject_control_characters(value)
        parsed_id = UUID(row_id)
        if not as_datetime:
            return value, parsed_id
        at = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput(BAD_CURSOR) from exc
    return (at if at.tzinfo else at.replace(tzinfo=UTC)), parsed_id


def position_cursor(position: int) -> str:
    return encode_cursor(position)


def position_after(cursor: str) -> int:
    """A position cursor's journal position (a non-negative 64-bit integer)."""
    (position,) = decode_cursor(cursor, int)
    assert isinstance(position, int)
    if not 0 <= position < 2**63:
        raise InvalidInput(BAD_CURSOR)
    return position
