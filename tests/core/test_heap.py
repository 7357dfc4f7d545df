"""The objects a worker holds from start-up are kept out of the collector's walks (core/heap.py)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from core.heap import freeze_startup_heap


@pytest.fixture
def restored_collector() -> Iterator[None]:
    """The test process's collector as it was: nothing stays frozen."""
    try:
        yield
    finally:
        gc.unfreeze()


async def test_objects_alive_at_start_up_are_not_walked_by_later_collections(restored_collector: None) -> None:
    loaded = [{"name": f"事项{i}", "materials": [str(i)]} for i in range(2_000)]  # like the KB's records
    await freeze_startup_heap()
    walked = {id(obj) for obj in gc.get_objects()}
    assert gc.get_freeze_count() >= len(loaded)
    assert not any(id(record) in walked for record in loaded)
    made_later = [{"name": "新的", "materials": ["身份证"]}]
    assert id(made_later[0]) in {id(obj) for obj in gc.get_objects()}  # what a turn makes is still collected


async def test_a_record_dropped_after_start_up_is_still_freed(restored_collector: None) -> None:
    class Snapshot:
        """Stands for a KB snapshot that a reload replaces."""

    freed: list[bool] = []
    old = Snapshot()
    weakref.finalize(old, freed.append, True)
    await freeze_startup_heap()
    del old
    assert freed == [True]
