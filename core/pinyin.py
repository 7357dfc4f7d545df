"""Sound-alike (同音) folding: citizens type with pinyin input methods, so their typos are mostly other
characters with the same sound (社保咔 for 社保卡, 低包 for 低保, 居主证 for 居住证). Folding both sides
to toneless syllables lets a name match its homophone typo.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from pypinyin import Style, lazy_pinyin

# Each distinct syllable becomes one private-use character, so a folded text keeps one character per
# Chinese character and string matchers (rapidfuzz) work on it unchanged.
_FIRST_CODE = 0xE000


class PinyinFolder:
    """Maps each Chinese character to a code for its toneless syllable (the character's default reading);
    every other character is kept. Learns characters as it meets them.
    """

    def __init__(self) -> None:
        self._syllables: dict[str, str] = {}
        self._table: dict[int, str] = {}
        self._lock = threading.Lock()  # a KB may be built in a worker thread while the loop searches

    def fold(self, text: str) -> str:
        """`text` with every Chinese character replaced by its syllable's code."""
        unknown = {c for c in text if ord(c) not in self._table and "\u4e00" <= c <= "\u9fff"}
        if unknown:
            with self._lock:
                for char in unknown:
                    syllable = lazy_pinyin(char, style=Style.NORMAL)[0]
                    code = self._syllables.setdefault(syllable, chr(_FIRST_CODE + len(self._syllables)))
                    self._table[ord(char)] = code
        return text.translate(self._table)


class SoundCorrector:
    """Puts known words back where a question has a same-sounding typo of them ("社保咔" → "社保卡").
    Only words of two characters or more are corrected: one-character homophones are everywhere.
    """

    def __init__(self, words: Iterable[str], folder: PinyinFolder) -> None:
        self._folder = folder
        # Words by the folded sound of their first two characters, longest first.
        self._by_start: dict[str, list[tuple[str, str]]] = {}
        for word in sorted({w for w in words if len(w) >= 2}, key=len, reverse=True):
            sound = folder.fold(word)
            self._by_start.setdefault(sound[:2], []).append((sound, word))

    def correct(self, text: str) -> str:
        """`text` with each same-sounding stretch replaced by the known word, scanning left to right."""
        sound = self._folder.fold(text)
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
