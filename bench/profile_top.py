"""The top costs of a pyinstrument session saved by `bench/load.py --profile` (or any `-r pyisession` file).

    .venv/bin/python bench/profile_top.py bench/profiles/before.pyisession [--top 25]

Prints, as shares of the busy time (the event loop waiting in select() is idle and left out): the
functions with the most inclusive time (each counted once per stack, so recursion does not inflate it),
the most self time, and busy time by package.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from pyinstrument.frame import Frame
from pyinstrument.session import Session

IDLE_FUNCTIONS = ("select", "epoll.poll")  # selectors.py: the event loop waiting for work


def _name(frame: Frame) -> str:
    path = frame.file_path or ""
    for marker in ("site-packages/", "/lib/python3.11/", "/load/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{frame.function} ({path}:{frame.line_no})"


def _package(frame: Frame) -> str:
    path = frame.file_path or ""
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1].split("/", 1)[0]
    if "/lib/python3.11/" in path:
        return "stdlib:" + path.split("/lib/python3.11/", 1)[1].split("/", 1)[0].removesuffix(".py")
    for top in ("bot", "channels", "core", "intents", "policy_kb", "handoff"):
        if f"/{top}/" in path:
            return top
    return "other"


def summarise(path: Path, top: int) -> None:
    """Print the three tables for one session file."""
    session = Session.load(str(path))
    root = session.root_frame()
    if root is None:
        raise SystemExit("empty session")
    inclusive: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    idle = 0.0

    def walk(frame: Frame, active: frozenset[str], owner: str) -> None:
        nonlocal idle
        name = _name(frame)
        if frame.function in IDLE_FUNCTIONS and "selectors" in (frame.file_path or ""):
            idle += frame.time
            return
        if name not in active:
            inclusive[name] += frame.time
        package = _package(frame)
        package = owner if package.startswith("stdlib") and owner != "other" else package
        own = frame.total_self_time
        self_time[name] += own
        packages[package] += own
        for child in frame.children:
            if not child.is_synthetic:  # "[self]" nodes: already in total_self_time
                walk(child, active | {name}, package)

    walk(root, frozenset(), "other")
    busy = sum(self_time.values())
    print(f"{path.name}: {session.duration:.1f} s recorded, {busy:.1f} s busy, {idle:.1f} s idle in select()\n")
    print("| inclusive % of busy | function |\n|---|---|")
    for name, seconds in inclusive.most_common(top):
        print(f"| {seconds / busy:.1%} | {name} |")
    print("\n| self % of busy | function |\n|---|---|")
    for name, seconds in self_time.most_common(top):
        print(f"| {seconds / busy:.1%} | {name} |")
    print("\n| self % of busy | package |\n|---|---|")
    for name, seconds in packages.most_common(15):
        print(f"| {seconds / busy:.1%} | {name} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("session", type=Path)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    summarise(args.session, args.top)


if __name__ == "__main__":
    main()
