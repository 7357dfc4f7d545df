"""The search index kept between starts: read instead of built when nothing it depends on changed, built again
when anything did, and never the reason a start fails."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.app import create_app
from core.settings import Settings
from policy_kb.content import KbContent
from policy_kb.kb import KnowledgeBase
from policy_kb.loader import Vocabulary, load_vocabulary, load_yaml_dir
from policy_kb.search import BM25
from tests.conftest import new_visitor
from tests.servers import run_at_once

QUESTIONS = ("二手房过户要带啥", "租房能取公积金吗", "办护照", "社保咔补办", "小孩刚出生 居民医保在哪交",
             "高新技术企业有什么优惠")


def answers(kb: KnowledgeBase) -> list[list[tuple[str, str, float]]]:
    """What each question finds, with scores."""
    return [[(h.kind, h.key, h.score) for h in kb.index.search(q, limit=5)] for q in QUESTIONS]


def cached_files(directory: Path) -> list[str]:
    """The cached indexes in `directory`."""
    return sorted(p.name for p in directory.glob("kb-index-*.pkl"))


def forbid_building(monkeypatch: pytest.MonkeyPatch) -> None:
    """From now on an index that is built, not read, fails the test."""
    def built(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("the index was built again instead of read")

    monkeypatch.setattr(BM25, "index", built)


def test_a_restart_reads_the_index_and_answers_as_one_built_afresh(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    content, vocabulary = load_yaml_dir(), load_vocabulary()
    built = answers(KnowledgeBase.build(content, vocabulary))
    assert all(built[:5]), "every question but the last finds something"
    first = KnowledgeBase.build(content, vocabulary, tmp_path)
    assert len(cached_files(tmp_path)) == 1
    forbid_building(monkeypatch)
    restarted = KnowledgeBase.build(load_yaml_dir(), load_vocabulary(), tmp_path)
    assert answers(restarted) == answers(first) == built


def _with_item(content: KbContent, code: str, name: str) -> KbContent:
    item = content.items[0].model_copy(update={"code": code, "name": name, "aliases": []})
    return KbContent(items=[*content.items, item], bundles=content.bundles, policies=content.policies,
                     material_aliases=content.material_aliases, origins=content.origins)


def test_new_records_or_synonyms_get_an_index_of_their_own(tmp_path: Path) -> None:
    content, vocabulary = load_yaml_dir(), load_vocabulary()
    KnowledgeBase.build(content, vocabulary, tmp_path)
    before = cached_files(tmp_path)

    grown = KnowledgeBase.build(_with_item(content, "T-UAV-01", "无人驾驶航空器实名登记"), vocabulary, tmp_path)
    assert grown.index.search("无人驾驶航空器实名登记")[0].key == "T-UAV-01"  # not the old index read back
    after_item = cached_files(tmp_path)
    assert len(after_item) == 1 and after_item != before  # the old one is removed, not kept forever

    synonyms = Vocabulary(synonym_groups=(*vocabulary.synonym_groups, ("小飞机", "无人驾驶航空器")),
                          broader_terms=vocabulary.broader_terms, fillers=vocabulary.fillers,
                          bundle_cues=vocabulary.bundle_cues)
    content = _with_item(content, "T-UAV-01", "无人驾驶航空器实名登记")
    renamed = KnowledgeBase.build(content, synonyms, tmp_path)
    assert renamed.index.search("小飞机实名登记")[0].key == "T-UAV-01"
    assert cached_files(tmp_path) not in (before, after_item)


def test_an_unreadable_cached_index_is_built_again(tmp_path: Path) -> None:
    content, vocabulary = load_yaml_dir(), load_vocabulary()
    first = answers(KnowledgeBase.build(content, vocabulary, tmp_path))
    (cached,) = tmp_path.glob("kb-index-*.pkl")
    cached.write_bytes(b"half a file")  # a disk that filled up, an older format
    assert answers(KnowledgeBase.build(content, vocabulary, tmp_path)) == first
    assert cached.stat().st_size > 1000  # and written whole again


def test_a_cache_that_cannot_be_written_only_costs_time(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    not_a_directory = tmp_path / "models"
    not_a_directory.write_text("a file where the cache directory should be")
    with caplog.at_level(logging.WARNING, logger="policy_kb.search"):
        kb = KnowledgeBase.build(load_yaml_dir(), load_vocabulary(), not_a_directory)
    assert answers(kb) == answers(KnowledgeBase.build(load_yaml_dir(), load_vocabulary()))
    assert "search index not cached" in caplog.text


async def test_the_server_keeps_its_index_in_the_model_cache_and_reads_it_on_restart(
        aiohttp_client: Any, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings.model_copy(update={"models_dir": tmp_path / "models"})
    first: TestClient = await aiohttp_client(create_app(settings))
    reply = (await (await new_visitor(first)).say("办护照"))["replies"][0]["text"]
    assert len(cached_files(settings.model_cache)) == 1
    await first.close()

    forbid_building(monkeypatch)
    restarted: TestClient = await aiohttp_client(create_app(settings))
    assert (await (await new_visitor(restarted)).say("办护照"))["replies"][0]["text"] == reply


def test_workers_starting_together_on_an_empty_cache_build_the_index_once(tmp_path: Path) -> None:
    script = (
        "from pathlib import Path\n"
        "from policy_kb.kb import KnowledgeBase\n"
        "from policy_kb.loader import load_vocabulary, load_yaml_dir\n"
        "content = load_yaml_dir()\n"
        # A catalogue's worth of records, so that the two builds would overlap by far without the lock.
        "content.items += [i.model_copy(update={'code': f'{i.code}-{n}', 'name': f'{i.name}（{n}号窗）'})\n"
        "                  for n in range(40) for i in list(content.items)]\n"
        f"kb = KnowledgeBase.build(content, load_vocabulary(), Path({str(tmp_path)!r}))\n"
        "assert kb.best('办护照') is not None\n"
    )
    logs = run_at_once(script)
    assert logs.count("search index built") == 1, logs  # the other waited for it and read its file
    assert len(cached_files(tmp_path)) == 1
