"""Listeners told after a change is committed (messages to citizens, the staff console, WeChat)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Listeners(Generic[T]):
    """A list of listeners. One that fails is logged and skipped: it neither stops the others nor undoes
    the change it was told about.
    """

    def __init__(self, log: logging.Logger) -> None:
        self._items: list[T] = []
        self._log = log

    def add(self, listener: T) -> None:
        """Register a listener."""
        self._items.append(listener)

    async def tell(self, call: Callable[[T], Awaitable[object]], what: str) -> None:
        """Run `call(listener)` for each listener; `what` names the change in the log of a failure."""
        for listener in self._items:
            try:
                await call(listener)
            except Exception:
                self._log.exception("%s failed on %s", type(listener).__name__, what)
