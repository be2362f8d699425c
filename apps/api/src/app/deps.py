"""Accessors for what the lifespan put on `app.state`, as FastAPI dependencies."""

from __future__ import annotations

from typing import cast

from starlette.requests import HTTPConnection

from app.config import Settings
from app.db import Database, Pool


def get_settings(conn: HTTPConnection) -> Settings:
    return cast(Settings, conn.app.state.settings)


def get_database(conn: HTTPConnection) -> Database:
    return cast(Database, conn.app.state.database)


def get_pool(conn: HTTPConnection) -> Pool:
    return get_database(conn).pool
