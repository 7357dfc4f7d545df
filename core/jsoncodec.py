"""JSON for the API, Redis and the database, through orjson (a C extension).

Every turn encodes its answer, the chat session and the turn log's replies, and decodes the request and the
session: with the standard library that was 4–5% of a turn's CPU (issue 9); orjson does the same in a tenth
of the time. Chinese is written as it is (UTF-8), never \\u-escaped. Files written for people (indented
reports, exports) keep the standard library's `json`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

# Dict keys that are not strings (a count per day, an id) become strings, as the standard library does.
_OPTIONS = orjson.OPT_NON_STR_KEYS

DecodeError = orjson.JSONDecodeError  # a subclass of json.JSONDecodeError and of ValueError


def dumps(obj: Any) -> str:
    """`obj` as compact JSON text."""
    return orjson.dumps(obj, option=_OPTIONS).decode()


def dump_bytes(obj: Any, default: Callable[[Any], Any] | None = None) -> bytes:
    """`obj` as compact JSON in UTF-8, for an HTTP body or a Redis value; `default` turns a value orjson does
    not know into one it does (otherwise such a value is a TypeError).
    """
    return orjson.dumps(obj, default=default, option=_OPTIONS)


def loads(data: str | bytes) -> Any:
    """Parse JSON text or UTF-8 bytes. Raises DecodeError for anything else, including invalid UTF-8 and lone
    surrogates (\\ud800), which no database column or reply could hold.
    """
    return orjson.loads(data)
