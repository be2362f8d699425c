"""The one cursor decoder: a size limit and a shape check before any JSON is parsed."""

from __future__ import annotations

import uuid

import pytest

from app.errors import InvalidInput
from app.services.cursors import decode_cursor, encode_cursor
from tests.integration.test_cursors import BAD_CURSORS


@pytest.mark.parametrize("cursor", list(BAD_CURSORS.values()), ids=list(BAD_CURSORS))
def test_the_decoder_refuses_before_parsing(cursor: str) -> None:
    with pytest.raises(InvalidInput, match="cursor"):
        decode_cursor(cursor, str, str)


def test_the_decoder_reads_back_what_it_encodes() -> None:
    row_id = str(uuid.uuid4())
    assert decode_cursor(encode_cursor('a "b" [c]', row_id), str, str) == ['a "b" [c]', row_id]
    assert decode_cursor(encode_cursor(12345), int) == [12345]
    with pytest.raises(InvalidInput, match="cursor"):
        decode_cursor(encode_cursor(12345), str)  # the wrong shape for this endpoint
