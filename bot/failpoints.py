"""Failpoints: named places where a test can make the process die as if it were killed.

The crash tests start `hotline run` with `HOTLINE_FAILPOINTS="name=N,..."`; the N-th time
the process reaches `hit(name)` it sends itself SIGKILL: no clean-up, no flush, no commit,
exactly what a power cut or the OOM killer does. Unset (always, in production), `hit` is a
dictionary lookup on an empty dict.

Points (see docs/reliability.md):
- `event.received`: an update is in the inbox, not handled yet.
- `event.before_commit`: handled, its effects and outbox rows not yet committed.
- `event.after_commit`: committed, the outbox not yet woken.
- `outbox.before_send`: a row is claimed, the channel not yet called.
- `outbox.after_send`: the channel accepted the message, the outcome not yet recorded.
- `outbox.between_calls`: a row of several calls (an album with documents) made a call and
  committed its progress; the next call not yet made.
- `update.<id>`: the update with this id is about to be handled (a poison update: armed
  with `=1` at every start, it kills each process that takes it in hand).
"""

from __future__ import annotations

import logging
import os
import signal

log = logging.getLogger(__name__)

ENV = "HOTLINE_FAILPOINTS"
_armed: dict[str, int] = {}
_counts: dict[str, int] = {}


def configure(spec: str | None = None) -> None:
    """Arm the failpoints named in `spec` (default: the HOTLINE_FAILPOINTS variable)."""
    spec = os.environ.get(ENV, "") if spec is None else spec
    _armed.clear()
    _counts.clear()
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, nth = item.partition("=")
        _armed[name.strip()] = int(nth or 1)
    if _armed:
        log.warning("failpoints armed: %s", ", ".join(f"{k}={v}" for k, v in _armed.items()))


def hit(name: str) -> None:
    """Die here if this failpoint is armed and this is its N-th hit."""
    if not _armed or name not in _armed:
        return
    _counts[name] = _counts.get(name, 0) + 1
    if _counts[name] == _armed[name]:
        log.warning("failpoint %s reached: killing the process", name)
        os.kill(os.getpid(), signal.SIGKILL)
