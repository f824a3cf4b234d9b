"""Vietnamese phone numbers inside free text: find them, and hide them before anything is published.

A story, an exemplar's name or address, or an honour's summary may carry a phone number typed in
by mistake ("liên hệ cô Lan 0987 654 321"). What goes public (broadcast posts, web pages, the
feed, the page's address, the summary list) shows it as "•••• ••• •••" instead; the reviewer sees
the text as written, with a warning.

Numbers are read as people write them: mobiles (0987 654 321, 0987.654.321, 0987-654-321,
098 765 4321, 09 87 65 43 21), landlines (024 3856 1234, (024) 3856 1234, 0203 3812 345), the
international forms (+84 987 654 321, +84 (0) 987 654 321, 0084 987 654 321, 84987654321) and
the 11-digit mobiles of before 2018 (0169 123 4567), in any script's digits (fullwidth ones
included). What is not a phone stays: years ("2023-2024"), dates ("05.12.2026"), decision
numbers ("1625/QĐ-UBND"), codes ("GS-2024-0001"), amounts ("1.500.000 đồng"), counts.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Mapping

MASK = "•"
# A number's digit groups, joined by one separator each (a space, a dot or a dash, with
# brackets around a group allowed): "(024) 3856-1234", "+84 (0) 987.654.321".
_SEP = r"(?:\)?[ \u00a0.\-‐‑–]\(?|\)|\()"
_RUN = re.compile(rf"\(?\+?\(?[0-9]+(?:{_SEP}[0-9]+)*")
_GROUP = re.compile(r"[0-9]+")
# The national number after the leading 0 (or after 84): mobile 3/5/7/8/9 + 8 digits, landline
# 2 + 9 digits (area code and subscriber number), or a pre-2018 mobile 1[2-9] + 8 digits.
_NATIONAL = re.compile(r"[35789][0-9]{8}|2[0-9]{9}|1[2-9][0-9]{8}")
# A phone has 10 digits (0 + 9) to 14 (0084 + 10).
_MAX_DIGITS = 14
_MIN_DIGITS = 10


def _ascii_digits(text: str) -> str:
    """`text` with every decimal digit of any script as its ASCII digit (same length)."""
    if text.isascii():
        return text
    return "".join(
        str(unicodedata.decimal(ch)) if ch.isdecimal() and not ch.isascii() else ch for ch in text
    )


def _is_phone(groups: list[str], plus: bool, separators: list[str]) -> bool:
    """Whether these digit groups, read in order, are one Vietnamese phone number."""
    digits = "".join(groups)
    first = groups[0]
    # "+0987 654 321": a + written before the national form is just a mark.
    plus = plus and not digits.startswith("0")
    if plus or digits.startswith("0084"):
        national = digits if plus else digits[2:]
        if not national.startswith("84"):
            return False
        national = national[2:]
        # "+84 (0) 987 654 321": the trunk 0 written inside the international form.
        if national.startswith("0"):
            national = national[1:]
        return bool(_NATIONAL.fullmatch(national))
    if first.startswith("84") and not first.startswith("840"):
        # Without "+", 84… could be an amount ("84.500.000.000 đồng"): only unbroken, or
        # grouped by spaces as a number is said aloud.
        if len(groups) > 1 and any(sep.strip(" \u00a0()") for sep in separators):
            return False
        return bool(_NATIONAL.fullmatch(digits[2:]))
    if not first.startswith("0") or first.startswith("00"):
        return False
    # The first group of a phone is its prefix ("0987", "098", "024"); a two-digit first group
    # is a day or a month ("05.12.2026 30"), unless the whole number is said in pairs.
    if len(groups) > 1 and len(first) < 3 and any(len(g) != 2 for g in groups):
        return False
    return bool(_NATIONAL.fullmatch(digits[1:]))


def _runs(text: str) -> Iterator[tuple[int, int]]:
    """The spans of the phone numbers in `text`, left to right."""
    digits = _ascii_digits(text)
    for run in _RUN.finditer(digits):
        start, run_text = run.start(), run.group()
        # A run may hold a phone among other numbers ("2023-2024 0987 654 321"): each group
        # is tried as a phone's start, and the longest phone from there is taken.
        groups = list(_GROUP.finditer(run_text))
        plus_at = run_text.find("+")
        i = 0
        while i < len(groups):
            found = _longest_phone_from(run_text, groups, i, plus_at)
            if found is None:
                i += 1
                continue
            j, begin = found
            yield start + begin, start + groups[j - 1].end()
            i = j


def _longest_phone_from(
    run: str, groups: list[re.Match[str]], i: int, plus_at: int
) -> tuple[int, int] | None:
    """(end group index, start offset) of the longest phone starting at group `i`, if any."""
    # "2024-0987…" or "12.0987…": joined to the number before by a dash or dot, this is a
    # continuation of that number (a code, an amount), not the start of a phone.
    glued = i > 0 and run[groups[i - 1].end() : groups[i].start()] in ("-", ".")
    plus = i == 0 and plus_at != -1 and plus_at < groups[0].start()
    first = groups[i].group()
    if glued or not (plus or (len(first) > 1 and first[0] in "08")):
        # Every phone starts with +, 0x or 84: most numbers in a story are ruled out here.
        return None
    best: tuple[int, int] | None = None
    parts: list[str] = []
    separators: list[str] = []
    count = 0
    for j in range(i + 1, len(groups) + 1):
        if j > i + 1:
            separators.append(run[groups[j - 2].end() : groups[j - 1].start()])
        parts.append(groups[j - 1].group())
        count += len(parts[-1])
        if count > _MAX_DIGITS:
            break
        if count >= _MIN_DIGITS and _is_phone(parts, plus, separators):
            best = j, (plus_at if plus else groups[i].start())
    if best is None:
        return None
    j, begin = best
    # A bracket opened just before the number belongs to it: "(024) 3856 1234".
    if begin > 0 and run[begin - 1] == "(":
        begin -= 1
    return j, begin


def phone_spans(text: str) -> list[tuple[int, int]]:
    """Where phone numbers are in `text`, as (start, end) character offsets."""
    return list(_runs(text))


def has_phone(text: str) -> bool:
    """Whether `text` holds a Vietnamese phone number."""
    return next(_runs(text), None) is not None


def mask_phones(text: str) -> str:
    """`text` with every phone number's digits replaced by "•", its spacing kept."""
    spans = phone_spans(text)
    if not spans:
        return text
    out: list[str] = []
    last = 0
    for start, end in spans:
        out.append(text[last:start])
        out.append("".join(MASK if ch.isdecimal() or ch == "+" else ch for ch in text[start:end]))
        last = end
    out.append(text[last:])
    return "".join(out)


# The story's fields that go public once it is honoured (the author's own phone and name, kept
# under "_author", never do).
PUBLIC_FIELDS = ("exemplar_name", "exemplar_address", "focus_area", "title", "story")


def story_has_phone(values: Mapping[str, object], *more: str) -> bool:
    """Whether a story's public fields (or `more` text, such as an honour's summary) hold a
    phone number that publishing will hide."""
    texts = [str(values.get(key) or "") for key in PUBLIC_FIELDS]
    return any(has_phone(text) for text in (*texts, *more))
