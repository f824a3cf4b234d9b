"""A block's criteria and scale as data: read from TOML, checked row by row, stored as JSON.

TOML rather than XLSX: it is the format of the campaigns file the office already keeps, a
plain text a block head can diff between versions and comment line by line, and it has no
merged cells, formulas or hidden rows whose meaning a reader would have to guess.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import asdict, dataclass
from typing import Any

# Kinds of criteria: points earned, bonus points on top, or points deducted.
SCORE, BONUS, DEDUCTION = "score", "bonus", "deduction"
KINDS = (SCORE, BONUS, DEDUCTION)
# Letter 001 contest figures a criterion may be proposed from.
CONTEST_FIGURES = (
    "entries", "approved", "honoured", "months_met", "nominated_up", "exemplar_months",
)  # fmt: skip
_ID = re.compile(r"[0-9A-Za-z][0-9A-Za-z.\-_]{0,19}")
_CRITERION_KEYS = {
    "id",
    "name",
    "max",
    "evidence",
    "kind",
    "from_contest",
    "campaign",
    "points_each",
}


@dataclass(frozen=True)
class Criterion:
    """One line of the scale: what is scored, out of how many points, and with what proof."""

    id: str
    section: str
    name: str
    max: float
    evidence: bool = False
    kind: str = SCORE
    from_contest: str | None = None
    campaign: str | None = None
    points_each: float = 1.0


@dataclass(frozen=True)
class Sheet:
    """A criteria sheet: its title and its criteria in order, section by section."""

    title: str
    criteria: tuple[Criterion, ...]

    @property
    def max_total(self) -> float:
        """The most a unit can score: every criterion and bonus at its maximum."""
        return sum(c.max for c in self.criteria if c.kind != DEDUCTION)

    def get(self, criterion_id: str) -> Criterion | None:
        """The criterion with this id."""
        return next((c for c in self.criteria if c.id == criterion_id), None)

    def to_data(self) -> dict[str, Any]:
        """The sheet as JSON for the database."""
        return {"title": self.title, "criteria": [asdict(c) for c in self.criteria]}

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Sheet:
        """A sheet stored with `to_data`."""
        return cls(data["title"], tuple(Criterion(**c) for c in data["criteria"]))


@dataclass
class SheetResult:
    """A parsed sheet, or the problems that stop it, each naming where it is."""

    sheet: Sheet | None
    errors: list[str]


def parse_sheet(text: str, campaigns: tuple[str, ...] = ()) -> SheetResult:
    """Read and check a criteria sheet; every problem is listed, not just the first."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return SheetResult(None, [f"lỗi cú pháp TOML: {exc}"])
    errors: list[str] = []
    title = raw.get("title")
    if not isinstance(title, str) or not title.strip():
        errors.append("title: thiếu tên bảng tiêu chí")
    sections = raw.get("sections")
    if not isinstance(sections, list) or not sections:
        errors.append("cần ít nhất một phần [[sections]]")
        return SheetResult(None, errors)
    criteria: list[Criterion] = []
    seen: set[str] = set()
    for s_no, section in enumerate(sections, start=1):
        where = f"Phần {s_no}"
        if not isinstance(section, dict):
            errors.append(f"{where}: phải là một bảng [[sections]]")
            continue
        name = section.get("name")
        if not isinstance(name, str) or not name.strip():
            errors.append(f"{where}: thiếu tên phần (name)")
            name = where
        rows = section.get("criteria")
        if not isinstance(rows, list) or not rows:
            errors.append(f"{where} ({name}): cần ít nhất một tiêu chí [[sections.criteria]]")
            continue
        for c_no, row in enumerate(rows, start=1):
            found = _criterion(row, f"{where}, tiêu chí {c_no}", name.strip(), campaigns, errors)
            if found is None:
                continue
            if found.id in seen:
                errors.append(f"{where}, tiêu chí {c_no}: mã «{found.id}» bị trùng")
                continue
            seen.add(found.id)
            criteria.append(found)
    if errors:
        return SheetResult(None, errors)
    return SheetResult(Sheet(str(title).strip(), tuple(criteria)), [])


def _criterion(
    row: Any, where: str, section: str, campaigns: tuple[str, ...], errors: list[str]
) -> Criterion | None:
    if not isinstance(row, dict):
        errors.append(f"{where}: phải là một bảng [[sections.criteria]]")
        return None
    before = len(errors)
    cid = row.get("id")
    if isinstance(cid, str) and _ID.fullmatch(cid.strip()):
        where = f"{where} («{cid.strip()}»)"
    else:
        errors.append(f'{where}: mã tiêu chí (id) phải là chuỗi ngắn như "1.2"')
    for key in row:
        if key not in _CRITERION_KEYS:
            errors.append(f"{where}: khóa «{key}» không được hỗ trợ")
    name = row.get("name")
    if not isinstance(name, str) or not name.strip():
        errors.append(f"{where}: thiếu nội dung tiêu chí (name)")
    top = row.get("max")
    if isinstance(top, bool) or not isinstance(top, int | float) or not 0 < top <= 1000:
        errors.append(f"{where}: điểm tối đa (max) phải là số lớn hơn 0 và không quá 1000")
    evidence = row.get("evidence", False)
    if not isinstance(evidence, bool):
        errors.append(f"{where}: evidence phải là true hoặc false")
    kind = row.get("kind", SCORE)
    if kind not in KINDS:
        errors.append(f"{where}: kind «{kind}» không hợp lệ (chọn score, bonus hoặc deduction)")
    figure = row.get("from_contest")
    campaign = row.get("campaign")
    each = row.get("points_each", 1)
    if figure is not None:
        if figure not in CONTEST_FIGURES:
            errors.append(
                f"{where}: from_contest «{figure}» không hợp lệ (chọn {', '.join(CONTEST_FIGURES)})"
            )
        if not isinstance(campaign, str) or (campaigns and campaign not in campaigns):
            errors.append(f"{where}: campaign phải là mã một cuộc thi trong tệp cấu hình")
        if isinstance(each, bool) or not isinstance(each, int | float) or each <= 0:
            errors.append(f"{where}: points_each phải là số lớn hơn 0")
    if len(errors) > before:
        return None
    return Criterion(
        id=str(cid).strip(),
        section=section,
        name=str(name).strip(),
        max=float(top),
        evidence=bool(evidence),
        kind=str(kind),
        from_contest=figure,
        campaign=campaign if figure else None,
        points_each=float(each),
    )


def parse_points(raw: str) -> float | None:
    """A score as typed: "8", "8.5" or "8,5" (the Vietnamese decimal comma); None if not one."""
    text = raw.strip().replace(",", ".")
    if not re.fullmatch(r"\d{1,4}(\.\d{1,2})?", text):
        return None
    return float(text)


def show_points(value: float) -> str:
    """A score written the Vietnamese way: 8, 8,5, 7,25."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return text.replace(".", ",")
