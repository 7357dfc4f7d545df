"""Built-in NLU vs Rasa DIET, side by side on the held-out set (reported, never a timed test).

    make rasa &                                   # serve the DIET model trained on the same data
    .venv/bin/python bench/nlu_compare.py --rasa-url http://127.0.0.1:5005

Both are scored on bench/data/nlu_test.yml (written separately from the training data). Parse latency of the
built-in NLU is in-process; Rasa's is one /model/parse call over loopback HTTP, which is how the bot calls it.
"""

from __future__ import annotations

import argparse
import gc
import os
import time
from pathlib import Path
from urllib.parse import urlsplit

import psutil

from bot.cli_nlu import _builtin_parser, _rasa_parser, _seed_kb
from intents.evaluate import Evaluation, evaluate
from intents.training import read_nlu_file, read_training_data

TEST_SET = Path(__file__).parent / "data" / "nlu_test.yml"
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def row(name: str, result: Evaluation, memory: str, training: str) -> str:
    p50, p99 = result.latency()
    macro = result.report()["macro avg"]["f1-score"]  # type: ignore[index]
    return f"| {name} | {result.accuracy:.1%} | {macro:.3f} | {p50:.2f} | {p99:.2f} | {memory} | {training} |"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rasa-url")
    parser.add_argument("--rasa-train-seconds", type=float, help="DIET training time, from `make rasa-model`")
    args = parser.parse_args()
    if args.rasa_url and urlsplit(args.rasa_url).hostname not in LOOPBACK:
        parser.error("--rasa-url must be on this machine (127.0.0.1): the bench sends every test utterance")
    train, test = read_training_data(), read_nlu_file(TEST_SET)
    kb = _seed_kb()
    gc.collect()
    before = psutil.Process(os.getpid()).memory_info().rss
    started = time.perf_counter()
    parse = _builtin_parser(train, kb)
    trained = time.perf_counter() - started
    gc.collect()
    added = (psutil.Process(os.getpid()).memory_info().rss - before) / 2**20
    evaluate(parse, test[:50])  # warm up
    builtin = evaluate(parse, test)
    print(f"train {len(train)} examples, test {len(test)} utterances\n")
    print("| NLU | accuracy | macro-F1 | parse p50 ms | parse p99 ms | memory | training |")
    print("|---|---|---|---|---|---|---|")
    print(row("built-in (jieba + char n-grams, calibrated linear SVM)", builtin, f"+{added:.0f} MB in process",
              f"{trained:.1f} s"))
    if args.rasa_url:
        rasa = _rasa_parser(args.rasa_url)
        evaluate(rasa, test[:20])
        result = evaluate(rasa, test)
        rss = "?"
        for proc in psutil.process_iter(["cmdline"]):
            cmdline = " ".join(proc.info["cmdline"] or [])
            if "rasa" in cmdline and " run" in cmdline and "--enable-api" in cmdline:
                rss = f"{proc.memory_info().rss / 2**20:.0f} MB server RSS"
        training = f"{args.rasa_train_seconds / 60:.0f} min" if args.rasa_train_seconds else "?"
        print(row("Rasa 3.6.21 DIET (JiebaTokenizer, 100 epochs)", result, rss, training))
        b50, r50 = builtin.latency()[0], result.latency()[0]
        print(f"\nbuilt-in parse is {r50 / b50:.0f}× faster than Rasa's at the median")


if __name__ == "__main__":
    main()
