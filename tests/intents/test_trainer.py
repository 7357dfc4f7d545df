"""Training in a child process: forked early on a first start, one training per model cache at a time."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from bot.app import create_app
from core import pickle_cache
from core.errors import ConfigError
from core.settings import Settings
from intents.builtin import load_or_train, train
from intents.trainer import LOCK_KIND, TrainingChild
from intents.training import read_nlu_file, read_training_data
from policy_kb.kb import KnowledgeBase
from policy_kb.loader import load_vocabulary, load_yaml_dir
from tests.conftest import new_visitor
from tests.intents.test_builtin import TEST_SET
from tests.servers import run_at_once

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="training runs in a forked child on Linux only")


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.build(load_yaml_dir(), load_vocabulary())


def children() -> list[psutil.Process]:
    """This test process's live children (a zombie counts: it was never reaped)."""
    return psutil.Process().children(recursive=True)


def test_the_early_child_trains_the_same_model_as_training_here(tmp_path: Path, kb: KnowledgeBase) -> None:
    before = children()
    child = TrainingChild.early(tmp_path)
    assert child is not None  # an empty cache: a first start
    examples = read_training_data()
    model = load_or_train(examples, kb.tokenizer, ["甲"], tmp_path, child)
    assert len(list(tmp_path.glob("nlu-*.pkl"))) == 1
    here = train(examples, kb.tokenizer)
    texts = [e.text for e in read_nlu_file(TEST_SET)[:60]] + ["二手房过户要带啥", "BBC20261123-0001 办得怎么样了"]
    assert model.labels == here.labels
    assert np.abs(np.array([model.proba(t) for t in texts]) - np.array([here.proba(t) for t in texts])).max() < 1e-9
    assert children() == before  # the child ended and was reaped


def test_no_early_child_when_a_model_is_cached_or_another_process_trains(tmp_path: Path, kb: KnowledgeBase) -> None:
    with pickle_cache.making(tmp_path, LOCK_KIND):  # another worker of the pool is training into this cache
        assert TrainingChild.early(tmp_path) is None
    child = TrainingChild.early(tmp_path)
    assert child is not None
    child.close()  # never used: ended at once, lock released
    load_or_train(read_training_data(), kb.tokenizer, ["甲"], tmp_path)
    assert TrainingChild.early(tmp_path) is None  # a restart loads the model; nothing to fork


def test_an_unused_early_child_is_ended_and_its_lock_released(tmp_path: Path) -> None:
    before = children()
    child = TrainingChild.early(tmp_path)
    assert child is not None and len(children()) == len(before) + 1
    child.close()
    child.close()  # twice is harmless (the app's shutdown after a failed start, then its own cleanup)
    assert children() == before
    again = TrainingChild.early(tmp_path)
    assert again is not None
    again.close()


def test_workers_starting_together_on_an_empty_cache_train_once(tmp_path: Path) -> None:
    script = (
        "from pathlib import Path\n"
        "from intents.builtin import load_or_train\n"
        "from intents.training import read_training_data\n"
        "from core.text import Tokenizer\n"
        f"model = load_or_train(read_training_data(), Tokenizer(), ['甲'], Path({str(tmp_path)!r}))\n"
        "assert model.rank('二手房过户要带啥')[0][0] == 'ask_materials'\n"
    )
    logs = run_at_once(script)
    assert logs.count("NLU model trained") == 1, logs  # the other waited for it and read its model
    assert logs.count("NLU model loaded") == 1, logs
    assert len(list(tmp_path.glob("nlu-*.pkl"))) == 1


async def test_a_first_start_of_the_server_trains_in_the_early_child(
        aiohttp_client: Any, settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = settings.model_copy(update={"models_dir": tmp_path / "models"})
    with caplog.at_level(logging.DEBUG, logger="intents"):
        client: TestClient = await aiohttp_client(create_app(settings))
    assert "NLU training child forked early" in caplog.text
    assert "NLU model trained" in caplog.text
    reply = await (await new_visitor(client)).say("办护照要带什么材料")
    assert "材料" in reply["replies"][0]["text"], reply
    await client.close()
    assert [p for p in children() if p.status() == psutil.STATUS_ZOMBIE] == []


async def test_a_start_that_fails_after_the_early_fork_leaves_no_child(settings: Settings, tmp_path: Path) -> None:
    before = children()
    unreachable = "postgresql+asyncpg://nobody@127.0.0.1:1/none"
    settings = settings.model_copy(update={"models_dir": tmp_path / "models", "database_url": unreachable})
    runner = web.AppRunner(create_app(settings))  # as `yichuang serve` runs it (bot.cli._run)
    try:
        with pytest.raises(ConfigError, match="cannot reach the database"):
            await runner.setup()
    finally:
        await runner.cleanup()
    assert children() == before
    child = TrainingChild.early(tmp_path / "models")
    assert child is not None  # the lock was released too
    child.close()


async def test_a_model_cache_that_cannot_be_written_costs_only_time(
        aiohttp_client: Any, settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    not_a_directory = tmp_path / "models"
    not_a_directory.write_text("a file where the cache directory should be")
    assert TrainingChild.early(not_a_directory) is None
    settings = settings.model_copy(update={"models_dir": not_a_directory})
    with caplog.at_level(logging.INFO, logger="intents"):
        client: TestClient = await aiohttp_client(create_app(settings))
    assert "NLU model not cached" in caplog.text and "failed" not in caplog.text, caplog.text
    assert caplog.text.count("NLU model trained") == 1
    reply = await (await new_visitor(client)).say("办护照要带什么材料")
    assert "材料" in reply["replies"][0]["text"], reply
