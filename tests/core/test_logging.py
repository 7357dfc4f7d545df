"""Logs never carry a phone number or 身份证号 in clear."""

from __future__ import annotations

import json
import logging

import pytest

from core.logging import mask_personal_data, setup_logging


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("电话13912345678", "电话139****5678"),
        ("身份证110101199003071234", "身份证110101************"),
        ("身份证 11010119900307123X 电话 15000001111", "身份证 110101************ 电话 150****1111"),
        ("编号BBC20261122-0003", "编号BBC20261122-0003"),  # case numbers are not phone numbers
        ("订单 2139123456789012", "订单 2139123456789012"),  # a longer digit run is left alone
    ],
)
def test_masking(text: str, masked: str) -> None:
    assert mask_personal_data(text) == masked


@pytest.mark.parametrize("json_lines", [False, True])
def test_log_lines_are_masked(capfd: pytest.CaptureFixture[str], json_lines: bool) -> None:
    root = logging.getLogger()
    saved = list(root.handlers), root.level
    try:
        setup_logging("INFO", json_lines=json_lines)
        logging.getLogger("bot.test").info("user %s said %s", "web:1", "我电话13912345678，身份证110101199003071234")
        try:
            raise ValueError("bad 13912345678")
        except ValueError:
            logging.getLogger("bot.test").exception("failed")
    finally:
        root.handlers, root.level = saved[0], saved[1]
    err = capfd.readouterr().err
    assert "13912345678" not in err and "110101199003071234" not in err
    assert "139****5678" in err
    if json_lines:
        first = json.loads(err.splitlines()[0])
        assert first["logger"] == "bot.test" and first["level"] == "INFO"


def test_a_library_that_turns_its_own_logger_to_debug_stays_quiet_at_info(capfd: pytest.CaptureFixture[str]) -> None:
    """bm25s sets its logger to DEBUG when it is imported, after the server has set up logging at INFO."""
    root = logging.getLogger()
    saved = list(root.handlers), root.level
    library = logging.getLogger("some.library")
    try:
        setup_logging("INFO")
        library.setLevel(logging.DEBUG)
        library.debug("Building index from tokens")
        library.info("index ready")
    finally:
        root.handlers, root.level = saved[0], saved[1]
        library.setLevel(logging.NOTSET)
    err = capfd.readouterr().err
    assert "index ready" in err and "Building index" not in err
