"""Search quality and speed of the knowledge base (reported, never a timed test).

    .venv/bin/python bench/kb_search.py [--catalogue ../shared/data/gdzwfw/items.jsonl] [--scale 20000]

Quality: the labelled questions of bench/data/kb_questions.yml (written as citizens ask, independently of
the KB's aliases). top-1 counts a confident first hit that is the expected record (or an accepted
alternative); a question with no answer in the KB counts when nothing is confident. top-3: the expected
record is among the first three hits.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from core.yamlfile import load_yaml
from policy_kb.content import KbContent
from policy_kb.importers.catalogue import read_catalogue
from policy_kb.kb import KnowledgeBase
from policy_kb.loader import load_vocabulary, load_yaml_dir
from policy_kb.schema import ServiceItem

QUESTIONS = Path(__file__).parent / "data" / "kb_questions.yml"


@dataclass
class Score:
    """Accuracy counters."""

    total: int = 0
    top1: int = 0
    top3: int = 0
    misses: list[tuple[str, str, str]] | None = None


def evaluate(kb: KnowledgeBase, questions: list[dict[str, object]], *, catalogue: bool = False) -> Score:
    """top-1 and top-3 over the labelled questions (`catalogue`: the Guangdong catalogue is loaded, so a
    question with no record in the built-in KB may have its answer there: `with_catalogue`).
    """
    score = Score(misses=[])
    for q in questions:
        text, expect = str(q["q"]), str(q["expect"])
        if catalogue and "with_catalogue" in q:
            expect = str(q["with_catalogue"])
        accepted = {expect, *map(str, q.get("also", []) or [])}  # type: ignore[call-overload]
        hits = kb.search(text, limit=3)
        keys = [f"{h.kind}:{h.key}" for h in hits]
        confident = hits[0] if hits and hits[0].confident else None
        score.total += 1
        if expect == "none":
            ok1 = ok3 = confident is None
        else:
            ok1 = confident is not None and f"{confident.kind}:{confident.key}" in accepted
            ok3 = bool(accepted & set(keys))
        score.top1 += ok1
        score.top3 += ok3
        if not ok1:
            got = f"{keys[0]} ({hits[0].score:.2f})" if hits else "-"
            score.misses.append((text, expect, got))  # type: ignore[union-attr]
    return score


def latency_ms(kb: KnowledgeBase, texts: list[str], rounds: int = 3) -> tuple[float, float]:
    """p50 and p99 of one search, in milliseconds."""
    samples = []
    for _ in range(rounds):
        for text in texts:
            start = time.perf_counter()
            kb.search(text, limit=3)
            samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1]


def synthetic(content: KbContent, count: int) -> KbContent:
    """`count` items: copies of the given ones with distinct codes and a numbered name suffix."""
    items = []
    base = content.items
    for n in range(count):
        source = base[n % len(base)]
        items.append(ServiceItem.model_validate({**source.model_dump(), "code": f"SYN-{n:06d}",
                                                 "name": f"{source.name}（{n // len(base)}区）"}))
    return KbContent(items=items)


def rss_mb() -> float:
    gc.collect()
    return psutil.Process(os.getpid()).memory_info().rss / 2**20


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--catalogue", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data"
                        / "gdzwfw" / "items.jsonl")
    parser.add_argument("--scale", type=int, default=20000)
    parser.add_argument("--show-misses", action="store_true")
    args = parser.parse_args()

    questions = load_yaml(QUESTIONS)["questions"]
    vocabulary = load_vocabulary()
    seed = load_yaml_dir()
    print(f"{len(questions)} questions; seed: {len(seed.items)} items, {len(seed.bundles)} bundles, "
          f"{len(seed.policies)} policies")
    texts = [str(q["q"]) for q in questions]

    kb = KnowledgeBase.build(seed, vocabulary)
    rows = [("built-in KB", kb, False)]
    if args.catalogue.exists():
        catalogue, _ = read_catalogue(args.catalogue)
        both = KbContent(items=[*seed.items, *catalogue.items], bundles=seed.bundles, policies=seed.policies,
                         material_aliases=seed.material_aliases,
                         origins={**seed.origins, **catalogue.origins})
        rows.append((f"built-in + {len(catalogue.items)} Guangdong items", KnowledgeBase.build(both, vocabulary), True))
    print("\n| KB | top-1 | top-3 | p50 ms | p99 ms |\n|---|---|---|---|---|")
    for name, index, with_catalogue in rows:
        s = evaluate(index, questions, catalogue=with_catalogue)
        p50, p99 = latency_ms(index, texts)
        print(f"| {name} | {s.top1 / s.total:.1%} | {s.top3 / s.total:.1%} | {p50:.2f} | {p99:.2f} |")
        if args.show_misses:
            for miss in s.misses or []:
                print("   miss:", *miss)

    if args.scale <= 0:
        return
    before = rss_mb()
    big_content = synthetic(seed, args.scale)
    big_content.policies = seed.policies
    start = time.perf_counter()
    big = KnowledgeBase.build(big_content, vocabulary)
    build_s = time.perf_counter() - start
    added = rss_mb() - before
    p50, p99 = latency_ms(big, texts, rounds=1)
    print(f"\nscale: {args.scale} items built in {build_s:.1f} s; search p50 {p50:.2f} ms, p99 {p99:.2f} ms; "
          f"memory added {added:.0f} MB ({added / args.scale * 10000:.0f} MB per 10k items)")


if __name__ == "__main__":
    main()
