"""The campaigns TOML file: what a correct file gives, and how every wrong file is refused.

An admin edits this file by hand, so a mistake must stop the bot at start with a message that
names the exact key ("campaigns[0].closes") and the problem, never a traceback and never a bot
that runs with half a campaign.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from bot.campaign_file import CampaignFileError, load_campaigns
from handlers.campaigns import CampaignSpec, builtin_campaign
from handlers.forms import form_for

REPO = Path(__file__).resolve().parent.parent
FIXTURE = REPO / "tests" / "fixtures" / "campaigns.toml"
TODAY = date(2024, 1, 10)

# The smallest valid table: only the required keys, as TOML literals.
BASE: dict[str, str] = {
    "slug": '"thanh-xuan-2024"',
    "title": '"Cuộc thi viết về gương người tốt, việc tốt"',
    "organisation": '"Phòng GDĐT quận Thanh Xuân"',
    "opens": "2023-09-20",
    "closes": "2024-04-03",
}


def table(**changes: str | None) -> str:
    """One [[campaigns]] table: BASE with keys changed (a TOML literal) or dropped (None)."""
    values = {**BASE, **changes}
    lines = [f"{key} = {value}" for key, value in values.items() if value is not None]
    return "[[campaigns]]\n" + "\n".join(lines) + "\n"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "campaigns.toml"
    path.write_text(text, encoding="utf-8")
    return path


def cli_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment for a `python -m bot` subprocess: none of the caller's GUONGSANG_*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUONGSANG_")}
    env.update(PYTHONPATH=str(REPO), PYTHONUTF8="1", GUONGSANG_DATA_DIR=str(data_dir), **extra)
    return env


# ---------------------------------------------------------------- correct files


def test_fixture_file_loads_every_value() -> None:
    (spec,) = load_campaigns(FIXTURE, TODAY)
    assert spec == CampaignSpec(
        slug="thanh-xuan-2024",
        title="Cuộc thi viết về gương người tốt, việc tốt quận Thanh Xuân năm 2024",
        organisation="Phòng GDĐT quận Thanh Xuân",
        opens=date(2023, 9, 20),
        closes=date(2024, 4, 3),
        form="story",
        max_words=2000,
        min_photos=1,
        max_photos=10,
        focus_areas=(
            "Đổi mới công tác lãnh đạo, chỉ đạo, điều hành",
            "Đẩy mạnh cải cách hành chính",
            "Xây dựng nếp sống thanh lịch, văn minh người Hà Nội",
            "An toàn thực phẩm",
            "An toàn trường học",
            "Chuyển đổi số trong lĩnh vực giáo dục",
        ),
        require_unit_confirmation=True,
        monthly_quota=1,
        monthly_deadline_day=15,
    )
    assert spec.is_open(TODAY)
    assert not spec.is_open(date(2024, 4, 4))


def test_omitted_keys_take_the_letter_001_defaults(tmp_path: Path) -> None:
    (spec,) = load_campaigns(write(tmp_path, table()), TODAY)
    assert spec.form == "story"
    assert spec.max_words == 2000
    assert spec.min_photos == 1
    assert spec.max_photos == 10
    assert spec.require_unit_confirmation is True
    assert spec.monthly_quota == 1
    assert spec.monthly_deadline_day == 15
    assert spec.focus_areas == ()


def test_values_are_trimmed_and_quoted_dates_accepted(tmp_path: Path) -> None:
    # People quote dates ("2024-04-03") and leave stray spaces; both are harmless.
    path = write(
        tmp_path,
        table(
            title='"  Cuộc thi viết  "',
            opens='"2023-09-20"',
            closes='"2024-04-03"',
            focus_areas='[" An toàn trường học "]',
            require_unit_confirmation="false",
            min_photos="0",
        ),
    )
    (spec,) = load_campaigns(path, TODAY)
    assert spec.title == "Cuộc thi viết"
    assert (spec.opens, spec.closes) == (date(2023, 9, 20), date(2024, 4, 3))
    assert spec.focus_areas == ("An toàn trường học",)
    assert spec.require_unit_confirmation is False
    assert spec.min_photos == 0


def test_several_campaigns_keep_their_order(tmp_path: Path) -> None:
    text = table() + table(slug='"ha-dong-2024"', opens="2024-01-01", closes="2024-12-31")
    specs = load_campaigns(write(tmp_path, text), TODAY)
    assert [s.slug for s in specs] == ["thanh-xuan-2024", "ha-dong-2024"]


def test_no_file_gives_the_builtin_campaign_for_this_school_year() -> None:
    # Installed with nothing configured on 23 November 2026: the 2026-2027 window of letter 001.
    (spec,) = load_campaigns(None, date(2026, 11, 23))
    assert spec.is_open(date(2026, 11, 23))
    assert spec.opens == date(2026, 9, 20)
    assert spec.closes == date(2027, 4, 3)
    assert "2026" in spec.slug and "2027" in spec.slug
    assert spec.max_words == 2000
    # The same six focus areas letter 001 lists, as copied into the fixture file.
    (from_letter,) = load_campaigns(FIXTURE, TODAY)
    assert spec.focus_areas == from_letter.focus_areas
    assert len(spec.focus_areas) == 6
    # The quick start's two-level ladder, so nominating up can be tried with nothing set up.
    assert spec.ladder == ("Phòng GDĐT quận Thanh Xuân", "Phòng Nội vụ quận Thanh Xuân")
    from bot.campaign_file import load_organisations
    from storage.nominations import OrganisationRow

    assert load_organisations(None) == [
        OrganisationRow("Phòng Nội vụ quận Thanh Xuân"),
        OrganisationRow("Phòng GDĐT quận Thanh Xuân", "Phòng Nội vụ quận Thanh Xuân"),
    ]


# ---------------------------------------------------------------- wrong files


def test_review_routes_take_chats_of_either_platform(tmp_path: Path) -> None:
    routes = '[campaigns.review]\nTHCS = "zalo:e4ea2cd5189df1c3a88c"\nMN = "telegram:-1001234"\n'
    (spec,) = load_campaigns(write(tmp_path, table() + routes), TODAY)
    assert spec.review.routes["THCS"] == "zalo:e4ea2cd5189df1c3a88c"
    assert spec.review.routes["MN"] == "telegram:-1001234"
    assert spec.review.routes["TH"] == "reviewers"
    for wrong in ("telegram:e4ea2cd5", "zalo:", "zalo:có dấu", "viber:123"):
        text = table() + f'[campaigns.review]\nTHCS = "{wrong}"\n'
        with pytest.raises(CampaignFileError, match=r"review\.THCS"):
            load_campaigns(write(tmp_path, text), TODAY)


WRONG_TABLES = [
    pytest.param(
        table(max_word="2000"), "campaigns[0].max_word", "không được hỗ trợ", id="unknown-key"
    ),
    pytest.param(table(slug=None), "campaigns[0].slug", "thiếu khóa bắt buộc", id="missing-slug"),
    pytest.param(table(slug='"Thanh Xuân 2024"'), "campaigns[0].slug", "chữ thường", id="bad-slug"),
    pytest.param(
        table(opens='"20/9/2023"'), "campaigns[0].opens", "không phải ngày", id="date-not-a-date"
    ),
    pytest.param(
        table(opens="20230920"), "campaigns[0].opens", "không phải ngày", id="date-is-a-number"
    ),
    pytest.param(
        table(closes="2023-09-01"),
        "campaigns[0].closes",
        "trước ngày mở",
        id="closes-before-opens",
    ),
    pytest.param(
        table(max_words="0"), "campaigns[0].max_words", "số nguyên từ 1", id="max-words-zero"
    ),
    pytest.param(
        table(max_words='"2000"'),
        "campaigns[0].max_words",
        "số nguyên",
        id="max-words-string",
    ),
    pytest.param(
        table(max_words="true"), "campaigns[0].max_words", "số nguyên", id="max-words-bool"
    ),
    pytest.param(
        table(min_photos="5", max_photos="3"),
        "campaigns[0].min_photos",
        "lớn hơn max_photos",
        id="min-photos-over-max",
    ),
    pytest.param(
        # Over the default maximum of 10 when max_photos is not given.
        table(min_photos="12"),
        "campaigns[0].min_photos",
        "lớn hơn max_photos",
        id="min-photos-over-default-max",
    ),
    pytest.param(
        table(form='"poem"'), "campaigns[0].form", "'poem' không hợp lệ", id="unknown-form"
    ),
    pytest.param(
        table(focus_areas='"An toàn trường học"'),
        "campaigns[0].focus_areas",
        "danh sách",
        id="focus-areas-not-a-list",
    ),
    pytest.param(
        table(require_unit_confirmation='"yes"'),
        "campaigns[0].require_unit_confirmation",
        "true hoặc false",
        id="confirmation-not-bool",
    ),
    pytest.param(table(title='"   "'), "campaigns[0].title", "chuỗi không rỗng", id="blank-title"),
    pytest.param(table() + table(), "campaigns[1].slug", "bị trùng", id="duplicate-slug"),
    pytest.param(
        # The index points at the wrong table, not always at the first one.
        table() + table(slug='"ha-dong-2024"', closes="2023-01-01"),
        "campaigns[1].closes",
        "trước ngày mở",
        id="second-table-wrong",
    ),
]


@pytest.mark.parametrize(("text", "key", "problem"), WRONG_TABLES)
def test_wrong_table_names_key_and_problem(
    tmp_path: Path, text: str, key: str, problem: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(CampaignFileError) as caught:
        load_campaigns(path, TODAY)
    message = str(caught.value)
    assert f"{key}:" in message, message
    assert problem in message, message
    assert str(path) in message, "the admin must see which file is wrong"


def test_toml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[[campaigns]]\nslug = "thanh-xuan-2024\ntitle = "x"\n')
    with pytest.raises(CampaignFileError) as caught:
        load_campaigns(path, TODAY)
    message = str(caught.value)
    assert "lỗi cú pháp TOML" in message and "line 2" in message, message
    assert str(path) in message


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty-file"),
        pytest.param('[campaign]\nslug = "thanh-xuan-2024"\n', id="single-table-typo"),
        pytest.param("campaigns = []\n", id="empty-list"),
    ],
)
def test_no_campaigns_table(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(CampaignFileError, match=r"\[\[campaigns\]\]"):
        load_campaigns(path, TODAY)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "khong-co.toml"
    with pytest.raises(CampaignFileError) as caught:
        load_campaigns(path, TODAY)
    assert "không tìm thấy" in str(caught.value) and str(path) in str(caught.value)


def test_campaigns_entry_that_is_not_a_table(tmp_path: Path) -> None:
    path = write(tmp_path, "campaigns = [1]\n")
    with pytest.raises(CampaignFileError, match=r"campaigns\[0\]"):
        load_campaigns(path, TODAY)


@pytest.mark.parametrize(
    "closes",
    [pytest.param("2024-04-03", id="with-a-date"), pytest.param("2024-04-03T17:00:00", id="both")],
)
def test_datetime_instead_of_date_is_refused(tmp_path: Path, closes: str) -> None:
    path = write(tmp_path, table(opens="2023-09-20T08:00:00", closes=closes))
    with pytest.raises(CampaignFileError, match=r"campaigns\[0\]\.opens:"):
        load_campaigns(path, TODAY)


@pytest.mark.parametrize("kind", ["directory", "windows-1258"])
def test_unreadable_file_is_a_campaign_file_error(tmp_path: Path, kind: str) -> None:
    if kind == "directory":
        path = tmp_path / "campaigns.toml"
        path.mkdir()
    else:
        path = tmp_path / "campaigns.toml"
        # "Phòng GDĐT" in the ANSI code page Vietnamese Windows uses: not valid UTF-8.
        path.write_bytes(table(organisation='"Phòng GDĐT"').encode("cp1258", errors="replace"))
    with pytest.raises(CampaignFileError) as caught:
        load_campaigns(path, TODAY)
    assert str(path) in str(caught.value)


def test_utf8_file_with_bom_loads(tmp_path: Path) -> None:
    path = tmp_path / "campaigns.toml"
    path.write_bytes(b"\xef\xbb\xbf" + FIXTURE.read_bytes())
    (spec,) = load_campaigns(path, TODAY)
    assert spec.slug == "thanh-xuan-2024"


# ---------------------------------------------------------------- the CLI at start


def test_cli_refuses_to_start_on_a_wrong_file(tmp_path: Path) -> None:
    config = write(tmp_path, table(closes="2023-09-01"))
    data = tmp_path / "data"
    done = subprocess.run(
        [sys.executable, "-m", "bot", "db", "upgrade"],
        env=cli_env(data, GUONGSANG_CONFIG=str(config)),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "campaigns[0].closes" in done.stderr and "trước ngày mở" in done.stderr
    assert "Traceback" not in done.stderr
    # Refused before the database is touched: nothing was created or migrated.
    assert not (data / "guongsang.db").exists()


def test_cli_config_error_is_plain_text(tmp_path: Path) -> None:
    # The terminal is not HTML: an escaped "&#39;poem&#39;" would hide the admin's own value.
    config = write(tmp_path, table(form='"poem"'))
    done = subprocess.run(
        [sys.executable, "-m", "bot", "db", "upgrade"],
        env=cli_env(tmp_path / "data", GUONGSANG_CONFIG=str(config)),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "campaigns[0].form: 'poem' không hợp lệ" in done.stderr, done.stderr


# ---------------------------------------------------------------- the nomination ladder

ORGANISATIONS = """
[[organisations]]
name = "Hội đồng thi cấp Thành phố"

[[organisations]]
name = "Phòng Nội vụ quận Thanh Xuân"
parent = "Hội đồng thi cấp Thành phố"

[[organisations]]
name = "Phòng GDĐT quận Thanh Xuân"
parent = "Phòng Nội vụ quận Thanh Xuân"
"""
LADDER = '["Phòng GDĐT quận Thanh Xuân", "Phòng Nội vụ quận Thanh Xuân"]'


def test_a_ladder_names_organisations_declared_with_their_parents(tmp_path: Path) -> None:
    from bot.campaign_file import load_organisations
    from storage.nominations import OrganisationRow

    path = write(tmp_path, ORGANISATIONS + table(ladder=LADDER))
    (spec,) = load_campaigns(path, TODAY)
    assert spec.ladder == ("Phòng GDĐT quận Thanh Xuân", "Phòng Nội vụ quận Thanh Xuân")
    assert load_organisations(path)[1] == OrganisationRow(
        "Phòng Nội vụ quận Thanh Xuân", "Hội đồng thi cấp Thành phố"
    )
    (plain,) = load_campaigns(write(tmp_path, table()), TODAY)
    assert plain.ladder == (), "no ladder: the story's life ends at the review, as before"
    # Names the file does not declare may be imported ones: the app's start checks them
    # against the database (tests/test_organisations_import.py).
    (imported,) = load_campaigns(write(tmp_path, table(ladder=LADDER)), TODAY)
    assert imported.ladder == ("Phòng GDĐT quận Thanh Xuân", "Phòng Nội vụ quận Thanh Xuân")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (ORGANISATIONS + table(ladder='["Phòng GDĐT quận Thanh Xuân"]'), "ít nhất hai cấp"),
        (ORGANISATIONS + table(ladder='"Phòng GDĐT"'), "ladder: phải là danh sách"),
        (
            ORGANISATIONS
            + table(ladder='["Phòng GDĐT quận Thanh Xuân", "Phòng GDĐT quận Thanh Xuân"]'),
            "xuất hiện hai lần",
        ),
        ('[[organisations]]\nname = "A"\nparent = "B"\n' + table(), "parent: 'B' chưa được"),
        (
            '[[organisations]]\nname = "A"\nparent = "B"\n[[organisations]]\nname = "B"\n'
            'parent = "A"\n' + table(),
            "vòng lại",
        ),
        ('[[organisations]]\nname = "A"\nlevel = 2\n' + table(), "level: khóa không được hỗ trợ"),
    ],
)
def test_a_wrong_ladder_or_organisation_is_refused(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(CampaignFileError, match=message):
        load_campaigns(write(tmp_path, text), TODAY)


def test_the_example_file_has_a_two_level_ladder_to_try() -> None:
    from bot.campaign_file import load_organisations

    path = REPO / "campaigns.example.toml"
    contest = next(c for c in load_campaigns(path, TODAY) if c.form == "story")
    assert contest.ladder == ("Phòng GDĐT quận Thanh Xuân", "Phòng Nội vụ quận Thanh Xuân")
    parents = {row.name: row.parent for row in load_organisations(path)}
    assert parents["Phòng GDĐT quận Thanh Xuân"] == "Phòng Nội vụ quận Thanh Xuân"


def test_each_campaign_has_its_own_form_built_once() -> None:
    """The form is kept per campaign spec: the same spec gives the same form, a spec with
    other limits its own."""
    spec = builtin_campaign(date(2026, 12, 1))
    other = dataclasses.replace(spec, max_words=500, max_photos=3)
    assert form_for(spec) is form_for(spec)
    story = {f.key: f for f in form_for(other).fields}
    assert story["story"].max_words == 500 and story["photos"].max_count == 3
    assert {f.key: f for f in form_for(spec).fields}["story"].max_words == spec.max_words
