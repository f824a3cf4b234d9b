"""Reads the campaigns TOML file into validated CampaignSpec objects."""

from __future__ import annotations

import re
import tomllib
from datetime import date, datetime
from pathlib import Path
from typing import Any

from bot.channels.chat_ids import is_target
from handlers.campaigns import (
    FORM_KINDS,
    LEVELS,
    REVIEWERS,
    CampaignSpec,
    LevelRule,
    ReviewSpec,
    builtin_campaign,
    builtin_organisations,
)
from storage.nominations import OrganisationRow

_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{1,79}")
_REQUIRED = ("slug", "title", "organisation", "opens", "closes")
_INTS = {
    "max_words": (1, 100_000),
    "min_photos": (0, 50),
    "max_photos": (1, 50),
    "monthly_quota": (0, 1000),
    "monthly_deadline_day": (1, 28),
    "exemplar_deadline_day": (2, 28),
}
_KNOWN = {
    *_REQUIRED, *_INTS, "form", "focus_areas", "require_unit_confirmation", "review",
    "reminder_days", "ladder", "monthly_exemplar", "exemplar_reminder_days",
}  # fmt: skip


class CampaignFileError(ValueError):
    """The campaigns file is wrong; the message names the key and the problem."""


def load_campaigns(path: Path | None, today: date) -> list[CampaignSpec]:
    """Campaigns from `path`, or the built-in one when there is no file."""
    if path is None:
        return [builtin_campaign(today)]
    raw = _read(path)
    # Checked here too, so a wrong [[organisations]] table fails with the campaigns.
    _organisations(raw, path)
    tables = raw.get("campaigns")
    if not isinstance(tables, list) or not tables:
        raise CampaignFileError(f"{path}: cần ít nhất một bảng [[campaigns]]")
    for i, table in enumerate(tables):
        if not isinstance(table, dict):
            raise CampaignFileError(f"{path}: campaigns[{i}]: phải là một bảng [[campaigns]]")
    specs = [_parse(table, f"{path}: campaigns[{i}]") for i, table in enumerate(tables)]
    seen: set[str] = set()
    for i, spec in enumerate(specs):
        if spec.slug in seen:
            raise CampaignFileError(f"{path}: campaigns[{i}].slug: '{spec.slug}' bị trùng")
        seen.add(spec.slug)
    return specs


def load_organisations(path: Path | None) -> list[OrganisationRow]:
    """The `[[organisations]]` tables of the campaigns file: name and parent (the level above
    on the nomination ladder). Without a file, the built-in campaign's two-level ladder."""
    if path is None:
        return [OrganisationRow(name, parent) for name, parent in builtin_organisations()]
    return _organisations(_read(path), path)


def _organisations(raw: dict[str, Any], path: Path) -> list[OrganisationRow]:
    tables = raw.get("organisations", [])
    if not isinstance(tables, list):
        raise CampaignFileError(f"{path}: organisations: phải là các bảng [[organisations]]")
    rows: list[OrganisationRow] = []
    for i, table in enumerate(tables):
        where = f"{path}: organisations[{i}]"
        if not isinstance(table, dict):
            raise CampaignFileError(f"{where}: phải là một bảng [[organisations]]")
        for key in table:
            if key not in ("name", "parent"):
                raise CampaignFileError(f"{where}.{key}: khóa không được hỗ trợ")
        if "name" not in table:
            raise CampaignFileError(f"{where}.name: thiếu khóa bắt buộc")
        name = _text(table, "name", where)
        parent = _text(table, "parent", where) if "parent" in table else None
        if any(row.name == name for row in rows):
            raise CampaignFileError(f"{where}.name: '{name}' bị trùng")
        rows.append(OrganisationRow(name, parent))
    names = {row.name for row in rows}
    parents = {row.name: row.parent for row in rows}
    for i, row in enumerate(rows):
        if row.parent is not None and row.parent not in names:
            raise CampaignFileError(
                f"{path}: organisations[{i}].parent: '{row.parent}' chưa được khai báo "
                "trong một bảng [[organisations]]"
            )
        seen, up = {row.name}, row.parent
        while up is not None:
            if up in seen:
                raise CampaignFileError(
                    f"{path}: organisations[{i}].parent: cấp trên vòng lại chính nó"
                )
            seen.add(up)
            up = parents.get(up)
    return rows


def _read(path: Path) -> dict[str, Any]:
    try:
        # utf-8-sig: Notepad's "UTF-8 with BOM" is common on Vietnamese Windows machines.
        raw = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError as exc:
        raise CampaignFileError(f"{path}: không tìm thấy tệp cấu hình đợt thi đua") from exc
    except UnicodeDecodeError as exc:
        raise CampaignFileError(f"{path}: tệp phải được lưu dạng UTF-8") from exc
    except OSError as exc:
        raise CampaignFileError(f"{path}: không đọc được tệp ({exc.strerror})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise CampaignFileError(f"{path}: lỗi cú pháp TOML: {exc}") from exc
    return raw


def _parse(table: dict[str, Any], where: str) -> CampaignSpec:
    for key in table:
        if key not in _KNOWN:
            raise CampaignFileError(f"{where}.{key}: khóa không được hỗ trợ")
    for key in _REQUIRED:
        if key not in table:
            raise CampaignFileError(f"{where}.{key}: thiếu khóa bắt buộc")
    slug = _text(table, "slug", where)
    if not _SLUG.fullmatch(slug):
        raise CampaignFileError(
            f"{where}.slug: '{slug}' chỉ được gồm chữ thường không dấu, số và dấu gạch ngang"
        )
    opens, closes = _date(table, "opens", where), _date(table, "closes", where)
    if closes < opens:
        raise CampaignFileError(f"{where}.closes: ngày kết thúc {closes} trước ngày mở {opens}")
    ints = {key: _int(table, key, where, *bounds) for key, bounds in _INTS.items() if key in table}
    if ints.get("min_photos", 1) > ints.get("max_photos", 10):
        raise CampaignFileError(f"{where}.min_photos: lớn hơn max_photos")
    form = table.get("form", "story")
    if form not in FORM_KINDS:
        raise CampaignFileError(
            f"{where}.form: '{form}' không hợp lệ (chọn một trong: {', '.join(FORM_KINDS)})"
        )
    areas = table.get("focus_areas", [])
    if not isinstance(areas, list) or not all(isinstance(a, str) and a.strip() for a in areas):
        raise CampaignFileError(f"{where}.focus_areas: phải là danh sách chuỗi không rỗng")
    exemplar = table.get("monthly_exemplar", False)
    if not isinstance(exemplar, bool):
        raise CampaignFileError(f"{where}.monthly_exemplar: phải là true hoặc false")
    exemplar_days = _reminder_days(
        table.get("exemplar_reminder_days", [20, 24]), where, "exemplar_reminder_days"
    )
    if any(day >= ints.get("exemplar_deadline_day", 25) for day in exemplar_days):
        # A reminder on or after the deadline would ask for what can no longer be done.
        raise CampaignFileError(f"{where}.exemplar_reminder_days: phải trước exemplar_deadline_day")
    confirm = table.get("require_unit_confirmation", True)
    if not isinstance(confirm, bool):
        raise CampaignFileError(f"{where}.require_unit_confirmation: phải là true hoặc false")
    rules = _ladder(table.get("ladder", []), f"{where}.ladder", slug)
    return CampaignSpec(
        slug=slug,
        title=_text(table, "title", where),
        organisation=_text(table, "organisation", where),
        opens=opens,
        closes=closes,
        form=form,
        focus_areas=tuple(a.strip() for a in areas),
        require_unit_confirmation=confirm,
        review=_review(table.get("review", {}), f"{where}.review"),
        reminder_days=_reminder_days(table.get("reminder_days", [10, 14]), where),
        ladder=tuple(rule.organisation for rule in rules),
        ladder_rules=rules,
        monthly_exemplar=exemplar,
        exemplar_reminder_days=exemplar_days,
        **ints,
    )


_LEVEL_KEYS = ("organisation", "opens", "closes", "quota")


def _ladder(value: Any, where: str, slug: str) -> tuple[LevelRule, ...]:
    """The ladder's levels, lowest first: each a plain organisation name or a table
    `{organisation = "...", opens = ..., closes = ..., quota = N}` (issue 20)."""
    if not isinstance(value, list):
        raise CampaignFileError(f"{where}: phải là danh sách tên tổ chức, từ cấp dưới lên")
    rules = tuple(
        _level(entry, f"{where}[{n}] (đợt '{slug}', cấp {n + 1})", n)
        for n, entry in enumerate(value)
    )
    if len(rules) == 1:
        raise CampaignFileError(f"{where}: cần ít nhất hai cấp (cấp chấm đầu và một cấp trên)")
    names = [rule.organisation for rule in rules]
    if len(set(names)) != len(names):
        raise CampaignFileError(f"{where}: một tổ chức xuất hiện hai lần")
    return rules


def _level(entry: Any, where: str, n: int) -> LevelRule:
    if isinstance(entry, str):
        entry = {"organisation": entry}
    if not isinstance(entry, dict):
        raise CampaignFileError(
            f"{where}: phải là tên tổ chức hoặc bảng "
            '{organisation = "...", opens = ..., closes = ..., quota = ...}'
        )
    if "organisation" not in entry:
        raise CampaignFileError(f"{where}.organisation: thiếu khóa bắt buộc")
    name = _text(entry, "organisation", where)
    # A name the file does not declare may have been imported (`guongsang organisations
    # import`): that needs the database, so `check_ladders` looks at app start, before any
    # press, and a typo still stops the bot there rather than on the first story sent up.
    where = f"{where[:-1]} — {name})"
    for key in entry:
        if key not in _LEVEL_KEYS:
            raise CampaignFileError(
                f"{where}.{key}: khóa không được hỗ trợ (chỉ có {', '.join(_LEVEL_KEYS)})"
            )
    if n == 0 and any(key in entry for key in ("opens", "closes", "quota")):
        # The first level is the campaign's own review: its window and quota are the
        # campaign's opens, closes and monthly_quota; a second set would contradict them.
        raise CampaignFileError(
            f"{where}: cấp đầu là vòng chấm của đợt thi, không có opens, closes, quota riêng "
            "(dùng opens, closes, monthly_quota của đợt)"
        )
    opens = _date(entry, "opens", where) if "opens" in entry else None
    closes = _date(entry, "closes", where) if "closes" in entry else None
    if opens and closes and closes < opens:
        raise CampaignFileError(f"{where}.closes: ngày kết thúc {closes} trước ngày mở {opens}")
    quota = _int(entry, "quota", where, 1, 1000) if "quota" in entry else None
    return LevelRule(name, opens, closes, quota)


def check_ladders(path: Path | None, campaigns: list[CampaignSpec], known: set[str]) -> None:
    """Refuse a ladder level naming an organisation that is neither declared in the file
    nor imported (`known`: every name in the database, the file's already synced)."""
    for i, spec in enumerate(campaigns):
        for n, name in enumerate(spec.ladder):
            if name not in known:
                raise CampaignFileError(
                    f"{path}: campaigns[{i}].ladder[{n}] (đợt '{spec.slug}', cấp {n + 1}): "
                    f"'{name}' chưa được khai báo trong một bảng [[organisations]] "
                    "và cũng chưa được nhập («guongsang organisations import»)"
                )


def _reminder_days(value: Any, where: str, key: str = "reminder_days") -> tuple[int, ...]:
    if not isinstance(value, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= 28 for d in value
    ):
        raise CampaignFileError(f"{where}.{key}: phải là danh sách ngày từ 1 đến 28")
    return tuple(sorted(set(value)))


def _review(table: Any, where: str) -> ReviewSpec:
    if not isinstance(table, dict):
        raise CampaignFileError(f"{where}: phải là một bảng [campaigns.review]")
    routes = dict.fromkeys(LEVELS, REVIEWERS)
    for key, value in table.items():
        if key in LEVELS:
            if not isinstance(value, str) or not (value == REVIEWERS or is_target(value)):
                raise CampaignFileError(
                    f"{where}.{key}: '{value}' phải là \"reviewers\", "
                    '"telegram:<mã nhóm>" hoặc "zalo:<mã chat>"'
                )
            routes[key] = value
        elif key not in ("resubmit_to", "remind_after_days"):
            raise CampaignFileError(f"{where}.{key}: khóa không được hỗ trợ")
    resubmit_to = table.get("resubmit_to", "review")
    if resubmit_to not in ("review", "unit"):
        raise CampaignFileError(f'{where}.resubmit_to: chọn "review" hoặc "unit"')
    days = table.get("remind_after_days", 3)
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 60:
        raise CampaignFileError(f"{where}.remind_after_days: phải là số nguyên từ 1 đến 60")
    return ReviewSpec(routes=routes, resubmit_to=resubmit_to, remind_after_days=days)


def _text(table: dict[str, Any], key: str, where: str) -> str:
    value = table[key]
    if not isinstance(value, str) or not value.strip():
        raise CampaignFileError(f"{where}.{key}: phải là chuỗi không rỗng")
    return value.strip()


def _date(table: dict[str, Any], key: str, where: str) -> date:
    value = table[key]
    # TOML has a native date type; a quoted "2024-04-03" is accepted too.
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise CampaignFileError(f"{where}.{key}: '{value}' không phải ngày dạng YYYY-MM-DD")


def _int(table: dict[str, Any], key: str, where: str, low: int, high: int) -> int:
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise CampaignFileError(f"{where}.{key}: phải là số nguyên từ {low} đến {high}")
    return value
