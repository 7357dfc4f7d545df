"""The garbage collector, told about the objects that live as long as the server.

By the time a worker is ready it holds a few hundred thousand objects that stay till it stops: the knowledge base
and its search index, jieba's dictionary, the NLU model, the reply texts. CPython's full collection walks all of
them every time; under load that was ~10 collections a minute of up to 150 ms each (the whole worker stopped:
the p99 of every request in flight), and the young collections ran ~60 times a second (bench/RESULTS.md, issue 9).
"""

from __future__ import annotations

import gc
from typing import Any

# Young objects collected after this many allocations rather than CPython's 700: a turn allocates thousands (a
# parse, the flows' search readings, the SQL and Redis round trips), so the default collected several times a turn.
YOUNG_THRESHOLD = 100_000


async def freeze_startup_heap(_app: Any = None) -> None:
    """Last step of start-up: collect once, then move every object alive to the permanent generation, which the
    collector never walks. They are still freed by reference counting when dropped (a KB reload drops the old
    snapshot); only a reference cycle among them would stay, and the start-up objects hold none that are dropped.
    """
    gc.collect()
    gc.freeze()
    _young, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
