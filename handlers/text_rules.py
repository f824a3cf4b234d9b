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


# A story is bounded by characters as well as words, or one "word" without spaces could carry
# anything. Vietnamese averages about 4.5 characters a word, its space and punctuation included
# (the sample story: 1,656 for 370), so 2,000 words come to about 9,000; 6 a word leaves a third
# more for names, numbers, dates and line breaks.
CHARS_PER_WORD = 6
# The longest run without a space a story may hold: no Vietnamese word comes near it, while an
# e-mail address, a date range or a line of dashes fits. A link may be longer.
MAX_RUN = 100
MAX_LINK = 300
_LINK = re.compile(r"https?://|www\.", re.IGNORECASE)
_BLANK_LINES = re.compile(r"\n[^\S\n]*(?:\n[^\S\n]*){2,}")
# Where a sentence (or a heading's colon) ends: the previous part stopped there on purpose.
_SENTENCE_END = re.compile(r"[.!?…:;][\"'”’»)\]]*$")
# A new part starting like this is a list item, a new paragraph in its own right.
_LIST_ITEM = re.compile(r"[0-9]+[.)]|[a-zđ][.)]\s|[-–•*+]\s")


def char_limit(max_words: int) -> int:
    """The characters (spaces and line breaks included) a story of `max_words` words may use."""
    return max_words * CHARS_PER_WORD


def overlong_run(text: str) -> str | None:
    """The first run without whitespace longer than a word or a link can be, or None."""
    for run in _WHITESPACE.split(text):
        if len(run) > (MAX_LINK if _LINK.search(run) else MAX_RUN):
            return run
    return None


def collapse_blank_lines(text: str) -> str:
    """More than one empty line in a row made one: Word's empty paragraphs carry nothing."""
    return _BLANK_LINES.sub("\n\n", text)


def same_text_key(text: str) -> str:
    """What two texts share when they are "the same part": NFC, whitespace made single spaces."""
    return " ".join(normalise(text).split())


def continues_sentence(before: str, part: str) -> bool:
    """Whether `part` carries on a sentence `before` broke off (a long text cut into messages).

    True when `before` does not end a sentence (. ! ? … : ; with any closing quote or
    bracket) and `part` starts in lower case, with a digit that does not number a list item,
    or with punctuation that only follows something (, ) » ”). A part starting with a capital
    is taken for a new paragraph: a heading or a name may break a sentence, but rarely does.
    """
    tail, head = before.rstrip(), part.lstrip()
    if not tail or not head or _SENTENCE_END.search(tail) or _LIST_ITEM.match(head):
        return False
    first = head[0]
    return first.islower() or first.isdigit() or first in ",;)»”’…"


def excerpt(text: str, words: int, chars: int) -> str:
    """The opening of `text`: at most `words` words and `chars` characters, cut at a space
    where one is near, with " …" when something was left out."""
    runs = text.split()
    opening = " ".join(runs[:words])
    shortened = len(runs) > words
    if len(opening) > chars:
        space = opening.rfind(" ", 0, chars)
        opening = opening[: space if space > chars // 2 else chars]
        shortened = True
    return opening + (" …" if shortened else "")


def without_title_line(text: str, title: str) -> tuple[str, bool]:
    """`text` without its first line when that line is the title (accents, case and
    punctuation aside), as a story file often begins; and whether it was left out."""
    first, _, rest = text.partition("\n")
    if title and bare_words(first) and bare_words(first) == bare_words(title):
        return rest.strip(), True
    return text, False
