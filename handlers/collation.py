"""Vietnamese alphabetical order, the one sort key for every list of names shown or exported.

Code point order puts "Đ" after "Z", "Ă" after "B" and "Hoa Sữa" before "Hạ Đình" (the
tone's combining mark is compared before the next letter). A Vietnamese dictionary compares
the letters first, in the alphabet a ă â b c d đ e ê g h i k l m n o ô ơ p q r s t u ư v x y,
and only where the letters are equal the tones, in the order none, huyền, hỏi, ngã, sắc, nặng.
"""

from __future__ import annotations

import unicodedata

# A letter's own mark makes a letter of its own, ordered after the plain one: a < ă < â,
# o < ô < ơ, u < ư (and đ after d, below).
_LETTER_MARKS = {"\u0306": 1, "\u0302": 2, "\u031b": 3}  # breve, circumflex, horn
# Tones: huyền, hỏi, ngã, sắc, nặng (no mark is 0).
_TONES = {"\u0300": 1, "\u0309": 2, "\u0303": 3, "\u0301": 4, "\u0323": 5}

SortKey = tuple[list[tuple[str, int]], list[int], str]


def vietnamese_key(text: str) -> SortKey:
    """A key that orders names as a Vietnamese dictionary does: letters first, then tones.

    Case is ignored except as the last tie-break (the text itself), so the order is total.
    """
    letters: list[tuple[str, int]] = []
    tones: list[int] = []
    for char in unicodedata.normalize("NFC", text).casefold():
        if char == "đ":
            letters.append(("d", 1))
            tones.append(0)
            continue
        base, *marks = unicodedata.normalize("NFD", char)
        letters.append((base, sum(_LETTER_MARKS.get(m, 0) for m in marks)))
        tones.append(sum(_TONES.get(m, 0) for m in marks))
    return letters, tones, text
