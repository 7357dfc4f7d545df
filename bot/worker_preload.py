"""What every worker of `yichuang serve --workers N` needs before it reads any setting, loaded once.

The pool's fork server imports this module, then forks each worker from itself: the workers start with the
app's modules imported and jieba's dictionary read (about 2.5 s of a start), sharing those pages copy-on-write
instead of each loading its own. Nothing here may start a thread, open a connection or read the settings:
the fork server runs before any of them are known, and a fork keeps only the thread that forked.

The fork server outlives SIGTERM. A service manager (systemd's default KillMode=control-group) and `timeout`
send it to every process of the service at once; a fork server that died of it left the pool unable to learn
how its workers ended ("workers stopped with an error: … exit code 255", and the service marked failed). It
ends when the pool does (multiprocessing closes its pipe). Its workers inherit the handler until
`sigterm_before_start` puts the default back, which tells whether one came in between.
"""

from __future__ import annotations

import os
import signal

import aiohttp.web  # noqa: F401

import bot.app  # noqa: F401
from core.text import base_dictionary

_sigterm_in: int | None = None  # the pid of the process of this fork server's family that got SIGTERM last


def _remember_sigterm(_signum: int, _frame: object) -> None:
    global _sigterm_in
    _sigterm_in = os.getpid()


def sigterm_before_start() -> bool:
    """In a worker, first thing: SIGTERM gets its default action back. True if one came since the fork (the
    pool is stopping), when the handler inherited from the fork server only noted it.
    """
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    return _sigterm_in == os.getpid()


signal.signal(signal.SIGTERM, _remember_sigterm)
base_dictionary()
