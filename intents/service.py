"""The NLU as a running service: trains (or loads the cached model) at start-up, follows KB reloads for
entities, and picks the backend from settings (built-in or Rasa).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import aiohttp

from core.clock import today_local
from core.settings import Settings
from intents.base import NLU
from intents.builtin import BuiltinNLU, IntentModel, load_or_train
from intents.commands import CommandMatcher
from intents.entities import EntityExtractor, Gazetteer
from intents.rasa import RasaNLU
from intents.trainer import TrainingChild
from intents.training import TRAINING_DIR, read_training_data
from policy_kb.kb import KnowledgeBase


class EntitiesFollowingKb:
    """An entity extractor rebuilt whenever the KB snapshot changes (so new items are recognised at once)."""

    def __init__(self, current_kb: Callable[[], KnowledgeBase]) -> None:
        self._current_kb = current_kb
        self._built_for: KnowledgeBase | None = None
        self._extractor: EntityExtractor | None = None

    def __call__(self) -> EntityExtractor:
        kb = self._current_kb()
        if kb is not self._built_for or self._extractor is None:
            self._extractor, self._built_for = EntityExtractor(Gazetteer.from_kb(kb), kb.sound_corrected), kb
        return self._extractor


async def build_nlu(settings: Settings, current_kb: Callable[[], KnowledgeBase],
                    http: aiohttp.ClientSession | None = None, training_dir: Path = TRAINING_DIR,
                    training_child: TrainingChild | None = None) -> NLU:
    """The configured NLU backend, ready to parse; `training_child` trains the model if none is cached."""
    kb = current_kb()
    examples = await asyncio.to_thread(read_training_data, training_dir)
    words = sorted({w for i in kb.items.values() for w in (i.name, *i.aliases)})
    model: IntentModel = await asyncio.to_thread(load_or_train, examples, kb.tokenizer, words,
                                                 settings.model_cache, training_child)
    builtin = BuiltinNLU(model, CommandMatcher.from_yaml(), EntitiesFollowingKb(current_kb),
                         settings.nlu_threshold, today_local)
    if settings.nlu == "rasa":
        assert http is not None, "the Rasa backend needs the app's HTTP client"
        return RasaNLU(str(settings.rasa_url), http, builtin, settings.rasa_timeout_seconds)
    return builtin

