"""The garbage collector, told about the objects that live as long as the server.

By the time a worker is ready it holds a few hundred thousand objects that stay till it stops: the knowledge base
and its search index, jieba's dictionary, the NLU model, the reply texts. CPython's full collection walks all of
them every time; under load that was ~10 full collections a minute of up to 150 ms each, the whole worker stopped
(the p99 of every request in flight), and ~6% of its CPU (bench/RESULTS.md, issue 9).

The collection thresholds are CPython's own. Collecting young objects less often (after 100,000 allocations
instead of 700) made a worker ~20% faster, but in the 10-minute soak its memory grew 11% instead of 3%: the
garbage of requests in flight lived for minutes in the older generations.
"""

from __future__ import annotations

import gc
from typing import Any


async def freeze_startup_heap(_app: Any = None) -> None:
    """Last step of start-up: collect once, then move every object alive to the permanent generation, which the
    collector never walks. They are still freed by reference counting when dropped (a KB reload drops the old
    snapshot); only a reference cycle among them would stay, and the start-up objects hold none that are dropped.
    """
    gc.collect()
    gc.freeze()
