"""What every worker of `yichuang serve --workers N` needs before it reads any setting, loaded once.

The pool's fork server imports this module, then forks each worker from itself: the workers start with the
app's modules imported and jieba's dictionary read (about 2.5 s of a start), sharing those pages copy-on-write
instead of each loading its own. Nothing here may start a thread, open a connection or read the settings:
the fork server runs before any of them are known, and a fork keeps only the thread that forked.
"""

from __future__ import annotations

import aiohttp.web  # noqa: F401

import bot.app  # noqa: F401
from core.text import base_dictionary

base_dictionary()
