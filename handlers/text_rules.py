"""Rules for what people type: word counts, phone numbers, names, accent-free matching."""

from __future__ import annotations

import re
import unicodedata

# Storage keys its search columns with the same folding people's typing is matched by.
from storage.search_keys import fold

_WHITESPACE = re.compile(r"\s+")
_PHONE_NOISE = re.compile(r"[\s.\-()]")
# Vietnamese mobile prefixes since the 2018 renumbering: 03x, 05x, 07x, 08x, 09x.
_MOBILE = re.compile(r"0[35789][0-9]{8}")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def normalise(text: str) -> str:
    """NFC-normalise, so decomposed input (NFD, from macOS and some keyboards) counts alike."""
    return unicodedata.normalize("NFC", text)


def count_words(text: str) -> int:
    """Words as Word counts them: whitespace-separated runs holding at least one letter or digit.

    Every Unicode whitespace separates (non-breaking space included), so "gia đình" is 2.
    """
    return sum(1 for run in _WHITESPACE.split(normalise(text)) if any(ch.isalnum() for ch in run))


def normalise_phone(raw: str) -> str | None:
    """A Vietnamese mobile number as 0xxxxxxxxx, or None when `raw` is not one.

    Accepts 0xxxxxxxxx, +84xxxxxxxxx, 84xxxxxxxxx and 0084…, with spaces, dots, dashes or brackets.
    """
    digits = _PHONE_NOISE.sub("", raw.strip())
    if digits.startswith("+84"):
        digits = "0" + _without_trunk_zero(digits[3:])
    elif digits.startswith("0084"):
        digits = "0" + _without_trunk_zero(digits[4:])
    elif digits.startswith("84") and len(digits) == 11:
        digits = "0" + digits[2:]
    return digits if _MOBILE.fullmatch(digits) else None


def _without_trunk_zero(national: str) -> str:
    # "+84 (0) 912 345 678": the national 0 written inside the international form.
    return national[1:] if national.startswith("0") else national


def clean_line(text: str) -> str:
    """One line of text as people mean it: NFC, control characters gone, spaces collapsed."""
    return " ".join(_CONTROL.sub(" ", normalise(text)).split())


def bare_words(text: str) -> str:
    """The words alone, folded: "xac nhan" for "✅ Xác nhận" (accents, case, emoji and
    punctuation do not count), for matching what people type against labels."""
    return " ".join("".join(ch if ch.isalnum() else " " for ch in fold(text)).split())


def has_letter(text: str) -> bool:
    """Whether `text` holds at least one letter."""
    return any(ch.isalpha() for ch in text)
