"""Query parameters of the list endpoints: page sizes (each endpoint caps its own) and offsets."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

Limit100 = Annotated[int, Query(ge=1, le=100)]
Limit200 = Annotated[int, Query(ge=1, le=200)]
Limit500 = Annotated[int, Query(ge=1, le=500)]
Limit1000 = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]
