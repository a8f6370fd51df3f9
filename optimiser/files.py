"""Atomic file output: a reader (or a second run) never sees a half-written result file, nor
the files of two runs mixed."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import tempfile
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


MANIFEST = "manifest.json"
STAGE_PREFIX = ".persister-stage-"


class RunOutputs:
    """The files of one run as one set: written into hidden staging directories (one per
    destination, on its file system) and moved into place together by ``commit``, which also
    removes the files an earlier run listed in ``manifest.json`` and writes the new manifest;
    leaving the block with an error (or an interrupt) removes the staged files, so a failed
    run writes nothing and a re-run never leaves a mix of two runs."""

    def __init__(self, home: Path | None, run: dict) -> None:
        self.home, self.run = home, run  # home: the directory of the manifest (--out)
        self._stages: dict[Path, Path] = {}

    def __enter__(self) -> RunOutputs:
        return self

    def __exit__(self, kind, _error, _trace) -> None:
        for stage in self._stages.values():
            shutil.rmtree(stage, ignore_errors=True)

    def directory(self, final: Path) -> Path:
        """Where to write the files meant for directory ``final``."""
        key = Path(os.path.abspath(final))
        if key not in self._stages:
            anchor = next(p for p in (key, *key.parents) if p.exists())
            self._stages[key] = Path(tempfile.mkdtemp(prefix=STAGE_PREFIX, dir=anchor))
        return self._stages[key]

    def file(self, final: Path) -> Path:
        """Where to write the file meant for path ``final``."""
        return self.directory(Path(final).parent) / Path(final).name

    def commit(self) -> None:
        """Move every staged file into place, then remove the earlier run's other files."""
        written: list[Path] = []
        home = Path(os.path.abspath(self.home)) if self.home is not None else None
        earlier = _manifest_files(home) if home is not None else []
        for final, stage in self._stages.items():
            for file in sorted(p for p in stage.rglob("*") if not p.is_dir()):
                target = final / file.relative_to(stage)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(file, target)
                written.append(target)
            shutil.rmtree(stage)
        self._stages.clear()
        for stale in set(earlier) - set(written):
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()
        if home is not None:
            manifest = {**self.run, "files": [os.path.relpath(p, home) for p in written]}
            write_text_atomic(home / MANIFEST, json.dumps(manifest, indent=2) + "\n")


def _manifest_files(home: Path) -> list[Path]:
    """The files an earlier run wrote, as its manifest in ``home`` lists them (paths inside
    ``home`` only: a run never removes anything elsewhere)."""
    try:
        listed = json.loads((home / MANIFEST).read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    files = [Path(os.path.abspath(home / name)) for name in listed if isinstance(name, str)]
    return [f for f in files if f.is_relative_to(home) and f != home / MANIFEST]
