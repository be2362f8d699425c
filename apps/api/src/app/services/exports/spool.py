"""A bounded spool that one writer fills and one reader drains behind it, at their own speeds.

Bytes stay in memory up to a limit, then go to an unnamed temporary file. The reader follows the
writer (it may start before the writer is done) and reads the file with `os.pread`, so neither
disturbs the other's position. A slow reader therefore costs memory up to the limit and disk
beyond it, never the writer's time.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator
from typing import IO

READ_CHUNK = 256 * 1024


class Spool:
    def __init__(self, memory_limit: int) -> None:
        self._memory_limit = memory_limit
        self._chunks: list[bytes] = []
        self._in_memory = 0
        self._file: IO[bytes] | None = None
        self._file_size = 0
        self._changed = asyncio.Event()
        self._done = False
        self._error: BaseException | None = None

    def write(self, data: bytes) -> None:
        if not data:
            return
        if self._file is None and self._in_memory + len(data) <= self._memory_limit:
            self._chunks.append(data)
            self._in_memory += len(data)
        else:
            if self._file is None:
                self._file = tempfile.TemporaryFile(prefix="sc_spool_")  # noqa: SIM115 (closed by close())
            self._file.write(data)
            self._file.flush()
            self._file_size += len(data)
        self._changed.set()

    def finish(self, error: BaseException | None = None) -> None:
        """No more writes; a reader gets `error` (if any) once it has read everything before it."""
        self._done = True
        self._error = error
        self._changed.set()

    async def read(self) -> AsyncIterator[bytes]:
        index = 0
        offset = 0
        while True:
            if index < len(self._chunks):
                # Hand out what has accumulated in one piece, up to READ_CHUNK.
                batch = [self._chunks[index]]
                size = len(batch[0])
                index += 1
                while index < len(self._chunks) and size + len(self._chunks[index]) <= READ_CHUNK:
                    size += len(self._chunks[index])
                    batch.append(self._chunks[index])
                    index += 1
                yield b"".join(batch)
            elif self._file is not None and offset < self._file_size:
                data = os.pread(self._file.fileno(), min(READ_CHUNK, self._file_size - offset), offset)
                offset += len(data)
                yield data
            elif self._done:
                if self._error is not None:
                    raise self._error
                return
            else:
                self._changed.clear()
                await self._changed.wait()

    def close(self) -> None:
        self._chunks.clear()
        if self._file is not None:
            self._file.close()
