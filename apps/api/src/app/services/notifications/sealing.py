"""Webhook secrets, encrypted at rest: they must be readable to sign with, so they are sealed, not hashed.

AES-256-GCM, bound to the subscription's id (a sealed secret copied onto another row does not open).
The key is derived (HKDF-SHA256) from `SELLERCOLLECTION_SECRET_KEY` when it is set. Unset, a random key
is made once and kept in the database (`notification_keys`): that protects a secret from whoever sees
the subscriptions table alone (a partial dump, a log), not from whoever has the whole database, which
is why the setting exists. Each sealed secret records its key's id, so setting the key later keeps the
secrets sealed before it readable, and a changed key says which secrets it cannot open.
"""

from __future__ import annotations

import hashlib
import logging
import os
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from app.config import Settings
from app.db.pool import Conn
from app.errors import AppError
from app.repositories import notifications as repo

logger = logging.getLogger(__name__)

DATABASE_KEY = "database"
_NONCE = 12


class SecretUnavailable(AppError):
    """The webhook's secret cannot be opened with the keys this server has."""


def _configured_key(settings: Settings) -> tuple[str, bytes] | None:
    if settings.secret_key is None:
        return None
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"sellercollection webhook secrets").derive(
        settings.secret_key.get_secret_value().encode()
    )
    return f"setting:{hashlib.sha256(key).hexdigest()[:16]}", key


async def _database_key(conn: Conn) -> bytes:
    return await repo.stored_key(conn, key_id=DATABASE_KEY, candidate=os.urandom(32))


async def seal(conn: Conn, settings: Settings, secret: str, *, subscription_id: UUID) -> tuple[bytes, str]:
    """The sealed secret and the id of the key that sealed it."""
    configured = _configured_key(settings)
    if configured is None:
        logger.info("webhook secret sealed with the key kept in the database (set SELLERCOLLECTION_SECRET_KEY)")
        key_id, key = DATABASE_KEY, await _database_key(conn)
    else:
        key_id, key = configured
    nonce = os.urandom(_NONCE)
    return nonce + AESGCM(key).encrypt(nonce, secret.encode(), subscription_id.bytes), key_id


async def unseal(conn: Conn, settings: Settings, sealed: bytes, *, key_id: str, subscription_id: UUID) -> str:
    """The secret; SecretUnavailable when it was sealed with a key this server does not have."""
    configured = _configured_key(settings)
    if key_id == DATABASE_KEY:
        key = await _database_key(conn)
    elif configured is not None and configured[0] == key_id:
        key = configured[1]
    else:
        raise SecretUnavailable(
            "The webhook's secret was sealed with another SELLERCOLLECTION_SECRET_KEY; "
            "restore that key, or delete the webhook and create it again"
        )
    try:
        return AESGCM(key).decrypt(sealed[:_NONCE], sealed[_NONCE:], subscription_id.bytes).decode()
    except InvalidTag as exc:
        raise SecretUnavailable("The webhook's secret does not open with its key (altered or moved)") from exc
