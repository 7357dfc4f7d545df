"""Sound-alike (同音) folding: citizens type with pinyin input methods, so their typos are mostly other
characters with the same sound (社保咔 for 社保卡, 低包 for 低保, 居主证 for 居住证). Folding both sides
to toneless syllables lets a name match its homophone typo.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import unicodedata
from collections.abc import Iterable
from pathlib import Path

# Each distinct syllable becomes one private-use character, so a folded text keeps one character per
# Chinese character and string matchers (rapidfuzz) work on it unchanged.
_FIRST_CODE = 0xE000


@functools.cache
def _syllable_table() -> dict[int, str]:
    """Character → its syllable's code, from pypinyin's character dictionary (each character's first, most
    common reading, without tones). Read from the data file alone: importing pypinyin would also load its
    phrase dictionary, about 50 MB a process that this does not need.
    """
    spec = importlib.util.find_spec("pypinyin")  # finds the package without running its __init__
    assert spec is not None and spec.submodule_search_locations, "pypinyin is a dependency"
    path = Path(next(iter(spec.submodule_search_locations))) / "pinyin_dict.json"
    readings: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
    codes: dict[str, str] = {}
    table: dict[int, str] = {}
    for codepoint, reading in readings.items():
        first = reading.split(",", 1)[0]
        toneless = "".join(c for c in unicodedata.normalize("NFD", first) if not unicodedata.combining(c))
        table[int(codepoint)] = codes.setdefault(toneless, chr(_FIRST_CODE + len(codes)))
    return table


def fold_sounds(text: str) -> str:
    """`text` with every Chinese character replaced by the code of its toneless syllable; other characters
    are kept.
    """
    return text.translate(_syllable_table())


class SoundCorrector:
    """Puts known words back where a question has a same-sounding typo of them ("社保咔" → "社保卡").
    Only words of two characters or more are corrected: one-character homophones are everywhere.
    """

    def __init__(self, words: Iterable[str]) -> None:
        # Words by the folded sound of their first two characters, longest first.
        self._by_start: dict[str, list[tuple[str, str]]] = {}
        for word in sorted({w for w in words if len(w) >= 2}, key=len, reverse=True):
            sound = fold_sounds(word)
            self._by_start.setdefault(sound[:2], []).append((sound, word))

    def correct(self, text: str) -> str:
        """`text` with each same-sounding stretch replaced by the known word, scanning left to right."""
        sound = fold_sounds(text)
        out, position = [], 0
        while position < len(text):
            for word_sound, word in self._by_start.get(sound[position:position + 2], ()):
                if sound.startswith(word_sound, position):
                    out.append(word)
                    position += len(word)
                    break
            else:
                out.append(text[position])
                position += 1
        return "".join(out)
