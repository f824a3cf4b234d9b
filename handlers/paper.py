"""Print setup shared by the exported sheets: one page wide, header rows on every page, and
row heights that grow with wrapped text.

Excel grows a wrapped row when it opens a file only if the row has no height of its own, and
LibreOffice does not do even that for rows openpyxl wrote: text then runs over the next row.
Both honour an explicit height, so each row gets one, estimated from its text and its
columns' widths.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from openpyxl.worksheet.worksheet import Worksheet

# How many characters of 12 pt Times New Roman fit in one Excel width unit (the width of
# a "0" in the default font), on the safe side: a row a little too tall reads well, a row too
# short hides a line.
CHARS_PER_WIDTH_UNIT = 1.05
# One line of 12 pt text with its leading, in points, and the cell's top and bottom padding.
LINE_POINTS = 15.75
PADDING_POINTS = 3.0


def lines_needed(text: str, width: float) -> int:
    """How many lines `text` takes when wrapped in a column `width` Excel units wide."""
    per_line = max(1, int(width * CHARS_PER_WIDTH_UNIT) - 1)
    total = 0
    for paragraph in str(text).split("\n"):
        # Words wrap whole, so a line holds a little less than `per_line` on average.
        total += max(1, math.ceil(len(paragraph) * 1.08 / per_line))
    return total


def row_height(values: Sequence[object], widths: Sequence[float], font_points: float = 12) -> float:
    """The height in points a row needs to show every cell's wrapped text."""
    lines = max(
        (
            lines_needed("" if v is None else str(v), w)
            for v, w in zip(values, widths, strict=False)
        ),
        default=1,
    )
    return round(lines * LINE_POINTS * font_points / 12 + PADDING_POINTS, 2)


def one_page_wide(sheet: Worksheet, *, landscape: bool, header_rows: str) -> None:
    """Print on A4 as wide as one page (as many pages tall as needed), centred, with
    `header_rows` (e.g. "5:5") repeated at the top of every page."""
    sheet.page_setup.orientation = "landscape" if landscape else "portrait"
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0  # as many pages down as the rows need
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.print_options.horizontalCentered = True
    # Narrow margins (inches), as offices print their lists: room for the widest column.
    sheet.page_margins.left = sheet.page_margins.right = 0.5
    sheet.page_margins.top = sheet.page_margins.bottom = 0.6
    sheet.print_title_rows = header_rows
