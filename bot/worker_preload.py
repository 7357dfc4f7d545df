"""What every worker of `yichuang serve --workers N` needs before it reads any setting, loaded once.

The pool's fork server imports this module, then forks each worker from itself: the workers start with the
app's modules imported and jieba's dictionary read (about 2.5 s of a start), sharing those pages copy-on-write
instead of each loading its own. Nothing here may start a thread, open a connection or read the settings:
the fork server runs before any of them are known, and a fork keeps only the thread that forked.

The fork server blocks SIGTERM. A service manager (systemd's default KillMode=control-group) and `timeout`
send it to every process of the service at once; a fork server that died of it left the pool unable to learn
how its workers ended ("workers stopped with an error: … exit code 255", and the service marked failed). It
ends when the pool does (multiprocessing closes its pipe). A worker is forked with SIGTERM blocked too, so the
kernel holds a stop signal sent while it is being born until `bot.cli` takes SIGTERM over and unblocks it.
A Python handler here instead lost about half of the signals sent right after a fork: CPython drops a signal
that lands before the child has finished its after-fork work, and the pool, stopped while it replaced a dead
worker, waited forever for a worker that never heard it.
"""

from __future__ import annotations

import signal

import aiohttp.web  # noqa: F401

import bot.app  # noqa: F401
from core.text import base_dictionary

if hasattr(signal, "pthread_sigmask"):  # pragma: no branch - every system with a fork server has it
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
base_dictionary()
