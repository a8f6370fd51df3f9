"""Atomic file output: a reader (or a second run) never sees a half-written result file."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; renamed onto ``path`` when the block ends
    without an error, removed otherwise (a rename within one directory is atomic)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Created like open() would (mode 0666 less the umask), not mkstemp's private 0600.
    temporary = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


def write_text_atomic(path: Path, text: str) -> None:
    with atomic_output(path) as temporary:
        temporary.write_text(text)
