"""Numbers read from button data and typed answers: ids, versions, pages, list positions.

`str.isdigit` accepts "١" (Arabic-Indic one), "²" and thousands of digits; `int` then takes the
first for 1, raises on the second, and refuses the third. Only a short run of ASCII digits is a
number here; anything else is malformed, to be answered as such, never raised.
"""

from __future__ import annotations

import re

# Ids are database integers: 32-bit on PostgreSQL. Nine digits always fit, ten may not.
MAX_ID = 2**31 - 1
_ASCII_NUMBER = re.compile(r"[0-9]{1,10}")


def parse_id(text: str) -> int | None:
    """The non-negative number `text` spells in ASCII digits, if it fits a database integer."""
    if _ASCII_NUMBER.fullmatch(text) is None:
        return None
    value = int(text)
    return value if value <= MAX_ID else None
