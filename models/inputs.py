"""Reading an input file (a parameter set, an ensemble, a schedule, a run file, a data file)
safely: the path is checked before a byte is read, so a FIFO (which would block), a device, a
loop of symbolic links or a file too large to be an input gives one clear error instead of a
hang, an exhausted memory or a traceback. Every reader of the project goes through here."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from models.errors import InputError

MAX_INPUT_BYTES = 16 * 2**20  # 16 MiB: the largest input (a data file) is a few hundred kB


def read_input(path: str | Path, what: str, kind: str, error: type[InputError],
               max_bytes: int = MAX_INPUT_BYTES) -> bytes:
    """The bytes of the file at ``path``, ``what`` it is (``"schedule file"``) and the
    ``kind`` of file to give instead (``"JSON file"``); any problem raises ``error``."""
    path = Path(path)
    shown = f"{what} {str(path)!r}"
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise error(f"{shown} does not exist; check the path") from None
    except OSError as failure:
        reason = ("a loop of symbolic links" if failure.errno == errno.ELOOP
                  else failure.strerror or str(failure))
        raise error(f"{shown} cannot be read ({reason}); give a readable {kind}") from None
    if stat.S_ISDIR(info.st_mode):
        raise error(f"{shown} is a directory; give a {kind}")
    if not stat.S_ISREG(info.st_mode):
        raise error(f"{shown} is not a regular file (a FIFO, socket or device); give a {kind}")
    if info.st_size > max_bytes:
        raise error(f"{shown} holds {info.st_size / 2**20:.1f} MiB, more than inputs may "
                    f"({max_bytes / 2**20:g} MiB); give a {kind} of that size at most")
    try:
        with open(path, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except PermissionError:
        raise error(f"{shown} cannot be read (permission denied); check its permissions") \
            from None
    except OSError as failure:
        raise error(f"{shown} cannot be read ({failure.strerror or failure}); give a readable "
                    f"{kind}") from None
    if len(data) > max_bytes:  # it grew while being read
        raise error(f"{shown} holds more than {max_bytes / 2**20:g} MiB; give a {kind} of that "
                    "size at most")
    return data


def read_text(path: str | Path, what: str, kind: str, error: type[InputError],
              max_bytes: int = MAX_INPUT_BYTES) -> str:
    """``read_input`` decoded as UTF-8."""
    data = read_input(path, what, kind, error, max_bytes)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as failure:
        raise error(f"{what} {str(path)!r} is not UTF-8 text (byte {failure.start}); give a "
                    f"{kind}") from None
