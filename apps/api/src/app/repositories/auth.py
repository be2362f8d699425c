"""SQL for orgs, users, memberships, API tokens and browser sessions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from app.db.pool import Conn, fetch_one, fetch_scalar

# From an API token `t` to whom it belongs: every credential resolves to a caller this one way.
_CALLER_JOINS = """
    JOIN memberships m ON m.id = t.membership_id
    JOIN users u ON u.id = m.user_id
    JOIN orgs o ON o.id = m.org_id
"""

_CALLER_COLUMNS = """
    t.id AS token_id, m.id AS membership_id, m.org_id, o.name AS org_name, m.user_id, u.email, m.permission_keys
"""


@dataclass(frozen=True, slots=True)
class CallerRow:
    """Whom a credential belongs to (`token_id` None: a membership acting without a token)."""

    token_id: UUID | None
    membership_id: UUID
    org_id: UUID
    org_name: str
    user_id: UUID
    email: str
    permission_keys: list[str]
    session_id: UUID | None = None
    csrf_token: str | None = None


async def upsert_org(conn: Conn, *, name: str) -> UUID:
    row = await (
        await conn.execute(
            """
            INSERT INTO orgs (name) VALUES (%(name)s)
            ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name
            RETURNING id
            """,
            {"name": name},
        )
    ).fetchone()
    assert row is not None
    return UUID(str(row["id"]))


async def upsert_user(conn: Conn, *, email: str) -> UUID:
    row = await (
        await conn.execute(
            """
            INSERT INTO users (email) VALUES (%(email)s)
            ON CONFLICT (lower(email)) DO UPDATE SET email = users.email
            RETURNING id
            """,
            {"email": email},
        )
    ).fetchone()
    assert row is not None
    return UUID(str(row["id"]))


async def upsert_membership(conn: Conn, *, org_id: UUID, user_id: UUID, permission_keys: list[str]) -> UUID:
    """Create the membership, or add the given keys to an existing one (never removes keys)."""
    row = await (
        await conn.execute(
            """
            INSERT INTO memberships (org_id, user_id, permission_keys)
            VALUES (%(org_id)s, %(user_id)s, %(keys)s)
            ON CONFLICT (org_id, user_id) DO UPDATE SET permission_keys = ARRAY(
                SELECT DISTINCT k FROM unnest(memberships.permission_keys || EXCLUDED.permission_keys) AS k ORDER BY k
            )
            RETURNING id
            """,
            {"org_id": org_id, "user_id": user_id, "keys": permission_keys},
        )
    ).fetchone()
    assert row is not None
    return UUID(str(row["id"]))


async def insert_api_token(conn: Conn, *, membership_id: UUID, token_hash: bytes, prefix: str) -> UUID:
    row = await (
        await conn.execute(
            """
            INSERT INTO api_tokens (membership_id, token_hash, prefix)
            VALUES (%(membership_id)s, %(hash)s, %(prefix)s)
            RETURNING id
            """,
            {"membership_id": membership_id, "hash": token_hash, "prefix": prefix},
        )
    ).fetchone()
    assert row is not None
    return UUID(str(row["id"]))


async def revoke_api_tokens(conn: Conn, *, prefix: str) -> int:
    cur = await conn.execute(
        "UPDATE api_tokens SET revoked_at = now() WHERE prefix = %(prefix)s AND revoked_at IS NULL",
        {"prefix": prefix},
    )
    return cur.rowcount


async def caller_by_token_hash(conn: Conn, *, token_hash: bytes) -> CallerRow | None:
    return await fetch_one(
        conn,
        CallerRow,
        f"""
        SELECT {_CALLER_COLUMNS}
        FROM api_tokens t
        {_CALLER_JOINS}
        WHERE t.token_hash = %(hash)s AND t.revoked_at IS NULL
        """,
        {"hash": token_hash},
    )


async def caller_by_membership(conn: Conn, *, membership_id: UUID) -> CallerRow | None:
    return await fetch_one(
        conn,
        CallerRow,
        """
        SELECT NULL::uuid AS token_id, m.id AS membership_id, m.org_id, o.name AS org_name,
               m.user_id, u.email, m.permission_keys
        FROM memberships m
        JOIN users u ON u.id = m.user_id
        JOIN orgs o ON o.id = m.org_id
        WHERE m.id = %(id)s
        """,
        {"id": membership_id},
    )


async def touch_api_token(conn: Conn, *, token_id: UUID) -> None:
    """Record use, at most once a minute per token, so busy clients do not serialise on one row."""
    await conn.execute(
        """
        UPDATE api_tokens SET last_used_at = now()
        WHERE id = %(id)s AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')
        """,
        {"id": token_id},
    )


async def caller_by_session_hash(conn: Conn, *, session_hash: bytes) -> CallerRow | None:
    return await fetch_one(
        conn,
        CallerRow,
        f"""
        SELECT {_CALLER_COLUMNS}, s.id AS session_id, s.csrf_token
        FROM auth_sessions s
        JOIN api_tokens t ON t.id = s.api_token_id
        {_CALLER_JOINS}
        WHERE s.session_hash = %(hash)s AND s.expires_at > now() AND t.revoked_at IS NULL
        """,
        {"hash": session_hash},
    )


async def _insert_expiring(conn: Conn, table: str, lifetime: timedelta, **values: Any) -> datetime:
    """Store a credential that lasts `lifetime` by the database's clock; returns when it expires.

    The table's expired rows are purged here, on the only path that adds any, so it stays small.
    """
    await conn.execute(f"DELETE FROM {table} WHERE expires_at < now()")
    names, placeholders = ", ".join(values), ", ".join(f"%({name})s" for name in values)
    expires_at: datetime = await fetch_scalar(
        conn,
        f"INSERT INTO {table} ({names}, expires_at) VALUES ({placeholders}, now() + %(lifetime)s) RETURNING expires_at",
        {**values, "lifetime": lifetime},
    )
    return expires_at


async def insert_session(
    conn: Conn, *, session_hash: bytes, api_token_id: UUID, csrf_token: str, ttl_hours: int
) -> datetime:
    return await _insert_expiring(
        conn,
        "auth_sessions",
        timedelta(hours=ttl_hours),
        session_hash=session_hash,
        api_token_id=api_token_id,
        csrf_token=csrf_token,
    )


async def delete_session(conn: Conn, *, session_id: UUID) -> None:
    await conn.execute("DELETE FROM auth_sessions WHERE id = %(id)s", {"id": session_id})


async def insert_stream_token(
    conn: Conn, *, token_hash: bytes, run_id: UUID, api_token_id: UUID, session_id: UUID | None, ttl_seconds: int
) -> datetime:
    """A stream token; one issued through a browser session (`session_id`) ends with that session."""
    return await _insert_expiring(
        conn,
        "stream_tokens",
        timedelta(seconds=ttl_seconds),
        token_hash=token_hash,
        run_id=run_id,
        api_token_id=api_token_id,
        session_id=session_id,
    )


async def caller_by_stream_token(conn: Conn, *, token_hash: bytes, run_id: UUID) -> CallerRow | None:
    """The caller behind a live stream token for this run, with the session it was issued through (if any)."""
    return await fetch_one(
        conn,
        CallerRow,
        f"""
        SELECT {_CALLER_COLUMNS}, st.session_id
        FROM stream_tokens st
        JOIN api_tokens t ON t.id = st.api_token_id
        {_CALLER_JOINS}
        WHERE st.token_hash = %(hash)s AND st.run_id = %(run_id)s
          AND st.expires_at > now() AND t.revoked_at IS NULL
          AND (st.session_id IS NULL
               OR EXISTS (SELECT 1 FROM auth_sessions s WHERE s.id = st.session_id AND s.expires_at > now()))
        """,
        {"hash": token_hash, "run_id": run_id},
    )


async def credentials_alive(
    conn: Conn, credentials: Sequence[tuple[UUID | None, UUID | None, bytes | None]]
) -> list[bool]:
    """For each (token id, session id, stream token hash): whether it still holds, in one query.

    It holds when the token is not revoked, and the session and stream token (each when given) have
    not expired.
    """
    if not credentials:
        return []
    token_ids, session_ids, streams = (list(column) for column in zip(*credentials, strict=True))
    cur = await conn.execute(
        """
        SELECT (c.token_id IS NULL
                OR EXISTS (SELECT 1 FROM api_tokens t WHERE t.id = c.token_id AND t.revoked_at IS NULL))
           AND (c.session_id IS NULL
                OR EXISTS (SELECT 1 FROM auth_sessions s WHERE s.id = c.session_id AND s.expires_at > now()))
           AND (c.stream IS NULL
                OR EXISTS (SELECT 1 FROM stream_tokens st WHERE st.token_hash = c.stream AND st.expires_at > now()))
           AS alive
          FROM unnest(%(token_ids)s::uuid[], %(session_ids)s::uuid[], %(streams)s::bytea[])
               WITH ORDINALITY AS c(token_id, session_id, stream, position)
         ORDER BY c.position
        """,
        {"token_ids": token_ids, "session_ids": session_ids, "streams": streams},
    )
    return [bool(row["alive"]) for row in await cur.fetchall()]
