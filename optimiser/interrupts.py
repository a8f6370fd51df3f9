"""Ctrl-C and SIGTERM end a command the same way wherever they arrive: one line on stderr,
exit code 130, nothing more printed (``optimiser.entry``).

Python raises KeyboardInterrupt for SIGINT only between bytecodes; inside CasADi (an integrator,
an IPOPT solve) the signal is noticed by CasADi's own check and turned into a failed call or a
failed solve, which would otherwise read as a numerical failure or a failed trial, after CasADi's
warnings. The handler therefore records the signal, says so at once and sends everything printed
after it (CasADi's warnings, a spinner, a half report) to the null device; ``raise_if_received``
after such a call, and ``received`` where errors are reported, tell an interrupt from a failure.
SIGTERM gets the same handler, so ``kill`` ends a run as cleanly as Ctrl-C.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager

EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for Ctrl-C
_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_received: list[int] = []
_state = {"announce": True, "announced": False, "deferred": False, "ending": None}


def install(announce: bool = True) -> None:
    """Route SIGINT and SIGTERM to KeyboardInterrupt, recording them (main thread only);
    ``announce=False`` in worker processes, whose parent says it once."""
    _state["announce"] = announce
    for number in _SIGNALS:
        signal.signal(number, _handler)


def _handler(signum: int, _frame) -> None:
    """The first signal interrupts; later ones (a second Ctrl-C, the parent's SIGTERM to a
    worker that had the terminal's SIGINT) must not break the clean-up it started."""
    first = not _received
    _received.append(signum)
    announce()
    if first and not _state["deferred"]:
        raise KeyboardInterrupt


def announce() -> None:
    """The one line, once; then stdout and stderr go to the null device."""
    if _state["announced"]:
        return
    _state["announced"] = True
    if _state["ending"] is not None:
        os.write(2, f"{_state['ending']}\n".encode())
    elif _state["announce"]:
        name = signal.Signals(_received[0]).name if _received else "SIGINT"
        os.write(2, f"error: interrupted ({name}); nothing was written; run the same command "
                    "again (a study resumes and retries the interrupted trial)\n".encode())
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.dup2(null, 2)
    os.close(null)


def received() -> bool:
    """True once this process was sent SIGINT or SIGTERM."""
    return bool(_received)


def raise_if_received() -> None:
    """Raise KeyboardInterrupt if a signal arrived, e.g. while CasADi swallowed it."""
    if _received:
        raise KeyboardInterrupt


@contextmanager
def deferred() -> Iterator[None]:
    """Hold back the interrupt (not its line) inside, except in ``interruptible`` parts; it is
    raised at the end of the block. For a study: an interrupt inside a database call can leave
    a connection in a transaction that holds SQLite's lock, which the trial's clean-up (failing
    and queueing it again) would then wait for, and a trial half recorded."""
    before = _state["deferred"]
    _state["deferred"] = True
    try:
        yield
    finally:
        _state["deferred"] = before
    raise_if_received()


@contextmanager
def interruptible() -> Iterator[None]:
    """Inside ``deferred``: where the interrupt may come at once (a computation, a wait; no
    record open), raising the one held back on entry."""
    before = _state["deferred"]
    _state["deferred"] = False
    try:
        raise_if_received()
        yield
    finally:
        _state["deferred"] = before


@contextmanager
def ending(line: str) -> Iterator[None]:
    """Inside, a signal is how the command ends (a server's Ctrl-C), not an interruption: its
    one line is ``line``, and the caller catches the KeyboardInterrupt and exits normally."""
    before = _state["ending"]
    _state["ending"] = line
    try:
        yield
    finally:
        _state["ending"] = before
