"""`yichuang nlu ...`: export a Rasa project, evaluate the built-in NLU or a Rasa server."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

if TYPE_CHECKING:
    from collections.abc import Sequence

    from core.settings import Settings
    from intents.base import Parse
    from intents.training import Example
    from policy_kb.kb import KnowledgeBase

console = Console(stderr=True, highlight=False)


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register `nlu` and its sub-commands."""
    nlu = commands.add_parser("nlu", help="NLU: export a Rasa project, evaluate")
    sub = nlu.add_subparsers(dest="nlu_command", required=True, metavar="ACTION")
    export = sub.add_parser("export-rasa", help="write a Rasa 3.x project (config, data/nlu.yml, domain)")
    export.add_argument("dir", type=Path)
    ev = sub.add_parser("eval", help="evaluate: k-fold on the training data, or --train/--test files")
    ev.add_argument("--data", type=Path, help="training data folder or file (default: intents/data/nlu)")
    ev.add_argument("--folds", type=int, default=5)
    ev.add_argument("--train", type=Path, help="train on this Rasa-format file (with --test)")
    ev.add_argument("--test", type=Path, help="test on this Rasa-format file")
    ev.add_argument("--backend", choices=("builtin", "rasa"), default="builtin")
    ev.add_argument("--rasa-url", default="http://127.0.0.1:5005", help="a running Rasa server (backend rasa)")
    ev.add_argument("--out", type=Path, default=Path("data/nlu_eval"), help="where the report files go")


def _seed_kb() -> KnowledgeBase:
    from policy_kb.kb import KnowledgeBase
    from policy_kb.loader import load_vocabulary, load_yaml_dir

    return KnowledgeBase.build(load_yaml_dir(), load_vocabulary())


def _builtin_parser(examples: Sequence[Example], kb: KnowledgeBase):  # type: ignore[no-untyped-def]
    from core.clock import today_local
    from intents.builtin import BuiltinNLU, train
    from intents.commands import CommandMatcher
    from intents.entities import EntityExtractor, Gazetteer

    extractor = EntityExtractor(Gazetteer.from_kb(kb), kb.sound_corrected)  # the same entities as the running bot
    nlu = BuiltinNLU(train(examples, kb.tokenizer), CommandMatcher.from_yaml(), lambda: extractor, 0.0, today_local)
    return nlu.parse_sync


def _rasa_parser(url: str):  # type: ignore[no-untyped-def]
    import json
    import urllib.request

    from intents.base import Parse

    def parse(text: str) -> Parse:
        request = urllib.request.Request(url.rstrip("/") + "/model/parse", data=json.dumps({"text": text}).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as resp:
            data = json.load(resp)
        return Parse(text, data["intent"]["name"], float(data["intent"]["confidence"]))

    return parse


async def run(settings: Settings, args: argparse.Namespace) -> None:
    """Carry out one `nlu` action."""
    from intents.training import TRAINING_DIR, read_training_data

    if args.nlu_command == "export-rasa":
        from bot.cli_kb import _resources
        from intents.export import export_rasa_project

        async with _resources(settings) as res:
            await res.service.start()
            counts = export_rasa_project(args.dir, read_training_data(), res.service.current)
        console.print(f"已写出 Rasa 项目到 {args.dir}：{counts['intents']} 个意图，{counts['examples']} 条样例，"
                      f"{counts['lookup_items']} 个事项词，{counts['synonyms']} 组同义词。")
        return
    await asyncio.to_thread(_evaluate, args, read_training_data, TRAINING_DIR)


def _evaluate(args: argparse.Namespace, read, default_dir: Path) -> None:  # type: ignore[no-untyped-def]
    from intents.evaluate import cross_validate, evaluate

    kb = _seed_kb()
    if args.test:
        train_examples = read(args.train or args.data or default_dir)
        test_examples = read(args.test)
        parser = _rasa_parser(args.rasa_url) if args.backend == "rasa" else _builtin_parser(train_examples, kb)
        result = evaluate(parser, test_examples)
        label = f"train {len(train_examples)} / test {len(test_examples)}"
    else:
        if args.backend == "rasa":
            console.print("k 折交叉验证只支持 builtin；评估 Rasa 请用 --test 指定测试集。")
            raise SystemExit(2)
        examples = read(args.data or default_dir)
        result = cross_validate(examples, args.folds, lambda part: _builtin_parser(part, kb))
        label = f"{args.folds}-fold on {len(examples)}"
    result.write(args.out)
    report = result.report()
    macro = report["macro avg"]["f1-score"]  # type: ignore[index]
    p50, p99 = result.latency()
    console.print(f"{args.backend} ({label}): accuracy {result.accuracy:.1%}, macro-F1 {macro:.3f}, "
                  f"parse p50 {p50:.2f} ms, p99 {p99:.2f} ms → {args.out}/intent_report.json, errors.json")
