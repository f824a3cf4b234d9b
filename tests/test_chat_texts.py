"""Chat texts rendered on their own: line breaks where a block tag could trim them, and
every recorded action and channel in words a person reads."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace

from templates import chat_texts

WHEN = datetime(2026, 11, 30, 22, 55)


def test_a_decision_with_a_note_puts_the_note_on_its_own_line() -> None:
    text = chat_texts().render(
        "review.outcome", action="returned", who="Bình", when=WHEN, note="Thiếu ảnh",
        on_behalf=False,
    )  # fmt: skip
    assert text == "<b>Trả lại tác giả</b> — Bình, 22:55 30/11/2026\nLý do/nhận xét: Thiếu ảnh"


def test_the_note_shown_when_fixing_a_story_is_on_its_own_line() -> None:
    text = chat_texts().render("form.editing_returned", code="GS-1", title="T", note="Ảnh mờ")
    assert text.splitlines() == [
        "Sửa bài GS-1 «T».",
        "Nhận xét khi trả bài: «Ảnh mờ»",
        "Sửa xong, chọn «📨 Gửi bài» để gửi lại.",
    ]


def test_history_names_every_action_and_channel_in_vietnamese() -> None:
    actions = [
        "created", "submitted", "resubmitted", "unit_confirmed", "returned", "approved",
        "changes_requested", "rejected", "discarded", "honoured", "broadcast_started",
        "ladder_nominated", "ladder_selected", "ladder_returned", "ladder_not_selected",
    ]  # fmt: skip
    rows = [
        (SimpleNamespace(action=action, channel=channel, reason=None), "Hoa", WHEN)
        for action, channel in zip(
            actions, ["telegram", "zalo", "console", "cli"] * 3, strict=False
        )
    ]
    sub = SimpleNamespace(code="GS-1", status="honoured")
    text = chat_texts().render("queue.history", sub=sub, rows=rows)
    for word in [*actions, "telegram", "zalo", "console", "cli"]:
        assert f" {word}" not in text, word


def test_the_author_hears_who_confirmed_in_the_units_own_words() -> None:
    sub = SimpleNamespace(values={"title": "Cô Lan"}, code="GS-1")

    def told(level: str, on_behalf: bool = False) -> str:
        unit = SimpleNamespace(level=level)
        return chat_texts().render(
            "review.to_author", action="unit_confirmed", sub=sub, note=None, who="Bình",
            unit=unit, on_behalf=on_behalf,
        )  # fmt: skip

    assert "đã được Hiệu trưởng xác nhận" in told("TH")
    assert "đã được Chủ tịch công đoàn xác nhận" in told("other")
    assert "đã được quản trị viên xác nhận thay đơn vị" in told("TH", on_behalf=True)


def test_a_file_sent_at_the_wrong_step_says_where_it_goes() -> None:
    def said(got: str, expected: str) -> str:
        return chat_texts().render("common.wrong_kind", got=got, expected=expected, file_kind="")

    assert "gửi ở bước nội dung bài viết" in said("document", "short_text")
    assert "gửi ở bước nội dung bài viết" not in said("sticker", "short_text")


def test_a_decision_is_acknowledged_without_a_capital_mid_sentence() -> None:
    for action in ("unit_confirmed", "returned", "approved", "changes_requested", "rejected"):
        text = chat_texts().render("review.done", action=action, code="GS-2024-0001")
        head, _, rest = text.partition(": ")
        assert head == "Đã ghi nhận" and rest[0].islower(), text
        assert "GS-2024-0001" in text


def test_a_card_names_the_authors_level_in_words() -> None:
    unit = SimpleNamespace(name="Trường Tiểu học Kim Giang", level="TH")
    sub = SimpleNamespace(code="GS-1", version=1, word_count=120, values={"title": "Cô Lan"})
    text = chat_texts().render(
        "review.card", sub=sub, stage="u", campaign=SimpleNamespace(title="Cuộc thi"),
        author="Hoa", unit=unit, opening="…", photos=1, changes=None, outcome="",
        no_unit_head=False, reminder=None, rows=[], is_story=True,
    )  # fmt: skip
    assert "Trường Tiểu học Kim Giang (Tiểu học)" in text and "(TH)" not in text, text


def test_the_pending_list_says_how_to_open_a_story_on_each_channel() -> None:
    from handlers.types import Capabilities

    def page(caps: Capabilities) -> str:
        return chat_texts().render(
            "queue.page", rows=[], page=1, pages=1, total=0, caps=caps,
        )  # fmt: skip

    assert "Bấm vào bài" in page(Capabilities())
    assert "Bấm" not in page(Capabilities(buttons=False)), "no buttons on Zalo"
    assert "số thứ tự" in page(Capabilities(buttons=False))


def test_a_long_title_on_a_pending_button_is_cut_between_words() -> None:
    title = "Người thầy thầm lặng bên chiếc tủ sách dưới gốc bàng của trường làng"
    sub = SimpleNamespace(code="GS-2024-0001", values={"title": title})
    label = chat_texts().render("buttons.open_item", sub=sub)
    assert label == "GS-2024-0001 · Người thầy thầm lặng bên chiếc tủ sách…", label
    short = SimpleNamespace(code="GS-2024-0002", values={"title": "Cô Lan"})
    assert chat_texts().render("buttons.open_item", sub=short) == "GS-2024-0002 · Cô Lan"


def test_where_there_are_no_buttons_no_text_speaks_of_one() -> None:
    from handlers.types import Capabilities

    numbered = Capabilities(buttons=False, menu=False, documents=False, contact=False)
    for name, values in [
        ("common.stale_button", {}),
        ("common.button_not_here", {}),
        ("common.use_buttons", {}),
        ("form.preview_use_buttons", {}),
        ("review.bad_button", {}),
        ("review.old_version", {"code": "GS-1", "version": 2}),
    ]:
        with_buttons = chat_texts().render(name, caps=Capabilities(), **values)
        without = chat_texts().render(name, caps=numbered, **values)
        assert "nút" in with_buttons.lower(), name
        assert "nút" not in without.lower() and "bấm" not in without.lower(), (name, without)


def test_levels_are_named_code_by_code() -> None:
    texts = chat_texts()
    assert texts.render("labels.levels", value="MN,TH") == "Mầm non, Tiểu học"
    assert texts.render("labels.levels", value="TH,THCS") == "Tiểu học, THCS"
    assert texts.render("labels.levels", value="THCS,other") == "THCS, công đoàn, đơn vị khác"
    assert texts.render("labels.levels", value="MN,TH,THCS,other") == "mọi cấp"
    assert texts.render("labels.levels", value="") == "mọi cấp"


def test_texts_kept_from_plain_values_are_the_texts_rendered_each_time() -> None:
    """A macro's text is kept for plain values (and frozen dataclasses such as a channel's
    capabilities); the kept text must be what rendering gives, value by value, escaping
    included, and values that could change are rendered every time."""
    from markupsafe import Markup

    from handlers.types import Capabilities
    from templates import Texts

    texts = Texts("chat")
    zalo = Capabilities(buttons=False, menu=False)
    for _ in range(2):
        assert texts.render("common.use_buttons", caps=zalo) == (
            "Bạn hãy trả lời bằng số thứ tự của một lựa chọn bên dưới."
        )
        assert texts.render("common.use_buttons", caps=Capabilities()).startswith("Bạn hãy chọn")
        assert texts.render("common.too_long", length=2001, limit=2000).startswith(
            "Nội dung dài 2.001 ký tự"
        )
        # The same letters as plain text and as markup: escaped once, left alone once.
        plain = texts.render("common.welcome_back", person=SimpleNamespace(full_name="A&B"))
        assert "A&amp;B" in plain
    # Equal as strings, different as texts: a str is escaped, a Markup is not.
    for _ in range(2):
        escaped = texts.render("common.too_short", limit="<b>")
        trusted = texts.render("common.too_short", limit=Markup("<b>"))
        assert "&lt;b&gt;" in escaped and "<b>" in trusted
    # A person (a changing object) is never kept: the text follows the value.
    person = SimpleNamespace(full_name="Hoa")
    assert "Hoa" in texts.render("common.welcome_back", person=person)
    person.full_name = "Lan"
    assert "Lan" in texts.render("common.welcome_back", person=person)
