"""Note links (letter 004): the web page for a criterion's note is offered at the note prompt
on the console and Zalo, opens only for the person, card, sheet version and criterion it was
signed for, for 12 hours, and saves through the chat's own checks; anything else is refused
and changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import select

from bot.app import GuongSang
from bot.web.editor import hide_link
from bot.web.links import (
    NOTE_TTL,
    NoteGrant,
    csrf_token,
    editor_path,
    note_path,
    sign_note,
    verify_editor,
    verify_note,
)
from storage import people
from storage.models import Event as LogEvent
from tests.apps import Clock, serving
from tests.emulation_helpers import (
    BLOCK_UNITS,
    Console,
    emulation_settings,
    start_emulation_app,
    unit_head,
)
from tests.test_emulation import card_of, sent_to

SECRET = "a-long-random-secret-for-tests"
NOW = datetime(2024, 1, 10, 3, 0, tzinfo=UTC)


def note_token(person: int = 7, card: int = 3, sheet: int = 2, criterion: int = 0) -> str:
    return note_path(person, card, sheet, criterion, NOW, SECRET).removeprefix("/note/")


def test_a_fresh_note_link_names_its_person_card_sheet_and_criterion_for_twelve_hours() -> None:
    token = note_token()
    expires = int((NOW + NOTE_TTL).timestamp())
    assert verify_note(token, SECRET, NOW) == NoteGrant(7, 3, 2, 0, expires)
    assert verify_note(token, SECRET, NOW + timedelta(hours=11, minutes=59)) is not None
    assert verify_note(token, SECRET, NOW + timedelta(hours=12)) is None
    assert timedelta(hours=12) == NOTE_TTL


def test_a_forged_or_altered_note_link_is_refused() -> None:
    token = note_token()
    person, card, sheet, criterion, expires, mac = token.split(".")
    for bad in (
        f"8.{card}.{sheet}.{criterion}.{expires}.{mac}",  # another person
        f"{person}.4.{sheet}.{criterion}.{expires}.{mac}",  # another card
        f"{person}.{card}.3.{criterion}.{expires}.{mac}",  # another sheet version
        f"{person}.{card}.{sheet}.1.{expires}.{mac}",  # another criterion
        f"{person}.{card}.{sheet}.{criterion}.{int(expires) + 86400}.{mac}",  # later expiry
        f"0{person}.{card}.{sheet}.{criterion}.{expires}.{mac}",  # another spelling
        f"{person}.{card}.{sheet}.{criterion}.{expires}.{mac[:-1]}A",
        sign_note(7, 3, 2, 0, int(expires), "another-secret"),
        f"{person}.{card}.{sheet}.{criterion}.{expires}",
        token + "é",
        "x" * 500,
    ):
        assert verify_note(bad, SECRET, NOW) is None, bad


def test_story_and_note_links_do_not_open_each_other() -> None:
    story = editor_path(7, 3, NOW, SECRET).removeprefix("/editor/")
    assert verify_note(story, SECRET, NOW) is None
    # A note token's numbers re-read as a story token's do not pass either.
    assert verify_editor(note_token(), SECRET, NOW) is None
    assert hide_link(f"/note/{note_token()}/save") == "/note/…/save"


async def person_id(app: GuongSang, chat: str) -> int:
    async with app.db.transaction() as session:
        person = await people.by_identity(session, "console", chat)
        assert person is not None
        return person.id


def path_of(app: GuongSang, url: str) -> str:
    assert url.startswith(app.settings.public_url + "/note/"), url
    return url.removeprefix(app.settings.public_url)


async def post(
    web: httpx.AsyncClient, app: GuongSang, path: str, body: object, csrf: str | None = None
) -> httpx.Response:
    """A save from the page: with the link's own CSRF token unless `csrf` is given."""
    token = path.removeprefix("/note/")
    csrf = csrf_token(token, app.settings.secret_key) if csrf is None else csrf
    return await web.post(f"{path}/save", json=body, headers={"X-CSRF-Token": csrf})


async def test_note_page_saves_through_the_chat_checks_and_refuses_the_rest(
    tmp_path: Path, database_url: str, clock: Clock
) -> None:
    app = await start_emulation_app(emulation_settings(tmp_path, database_url), clock)
    try:
        head = await unit_head(app, "nc", BLOCK_UNITS["head"])
        kg = await unit_head(app, "kg", BLOCK_UNITS["kg"])
        await unit_head(app, "kd", BLOCK_UNITS["kd"])
        await head.send("/thidua")
        await head.choose("Ban hành bảng tiêu chí")
        await kg.send("/thidua")
        await kg.choose("Tự chấm điểm")
        await kg.send("17")
        asked = kg.last.replies[-1]
        # Offered at the note prompt on the console, as the story editor is.
        assert asked.link is not None and "Viết ghi chú dài trên trang web" in asked.link.label
        path = path_of(app, asked.link.url)
        grant = verify_note(path.removeprefix("/note/"), app.settings.secret_key, clock())
        assert grant is not None
        card = await card_of(app, BLOCK_UNITS["kg"])
        kg_id = await person_id(app, "kg")
        assert (grant.person_id, grant.card_id, grant.sheet_id, grant.criterion) == (
            kg_id, card.id, card.sheet_id, 0,
        )  # fmt: skip

        async with serving(app) as web:
            page = await web.get(path)
            assert page.status_code == 200
            assert (
                "Ghi chú tiêu chí 1.1" in page.text and "Chất lượng giáo dục toàn diện" in page.text
            )
            assert 'data-mode="chars"' in page.text and "/ 500 ký tự" in page.text
            assert page.headers["referrer-policy"] == "no-referrer"

            # A long note with line breaks: kept as the chat keeps it.
            typed = "Tỷ lệ học sinh khá, giỏi đạt 85%.\n\nCó 12 học sinh giỏi cấp quận.  "
            answer = await post(web, app, path, {"note": typed})
            assert answer.status_code == 200 and answer.json()["ok"], answer.text
            kept = "Tỷ lệ học sinh khá, giỏi đạt 85%. Có 12 học sinh giỏi cấp quận."
            assert answer.json()["values"] == {"note": kept}
            assert (await card_of(app, BLOCK_UNITS["kg"])).scores["1.1"]["note"] == kept
            # Over 500 characters: refused with the reason, the kept note stays.
            answer = await post(web, app, path, {"note": "chữ " * 130})
            assert not answer.json()["ok"]
            assert "519 ký tự, vượt giới hạn 500 ký tự" in answer.json()["problems"]["note"]
            assert (await card_of(app, BLOCK_UNITS["kg"])).scores["1.1"]["note"] == kept
            answer = await post(web, app, path, {"note": " \n "})
            assert "Ghi chú đang trống" in answer.json()["problems"]["note"]
            # No CSRF token, a wrong one, a body that is not the page's.
            assert (await post(web, app, path, {"note": "x"}, csrf="")).status_code == 403
            other = note_path(kg_id, card.id, card.sheet_id, 1, clock(), app.settings.secret_key)
            bad_csrf = csrf_token(other.removeprefix("/note/"), app.settings.secret_key)
            assert (await post(web, app, path, {"note": "x"}, csrf=bad_csrf)).status_code == 403
            assert (await post(web, app, path, ["x"])).status_code == 400

            # "Xong": the chat is told.
            csrf = csrf_token(path.removeprefix("/note/"), app.settings.secret_key)
            done = await web.post(f"{path}/done", headers={"X-CSRF-Token": csrf})
            assert done.status_code == 200 and "Đã lưu ghi chú (63 / 500 ký tự)" in done.text
            assert "Đã lưu ghi chú tiêu chí 1.1 viết trên trang web (63 / 500 ký tự)" in (
                await sent_to(app, "kg")
            )

            # Forged: another person's id in a link for this card (signed right) opens nothing;
            # so do a criterion not on the sheet, another sheet version and a made-up token.
            kd_id, head_id = await person_id(app, "kd"), await person_id(app, "nc")
            secret, now = app.settings.secret_key, clock()
            refused = [
                note_path(kd_id, card.id, card.sheet_id, 0, now, secret),
                note_path(head_id, card.id, card.sheet_id, 0, now, secret),
                note_path(kg_id, card.id, card.sheet_id, 10, now, secret),
                note_path(kg_id, card.id, (card.sheet_id or 0) + 1, 0, now, secret),
            ]
            for bad in refused:
                assert (await web.get(bad)).status_code == 410, bad
                assert (await post(web, app, bad, {"note": "Ghi chú giả mạo"})).status_code == 410
            forged = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
            assert (await web.get(forged)).status_code == 403
            assert (await post(web, app, forged, {"note": "Ghi chú giả mạo"})).status_code == 403
            # Twelve hours later the link is stale.
            moment = clock.moment
            clock.moment = moment + timedelta(hours=12)
            assert (await web.get(path)).status_code == 403
            assert (await post(web, app, path, {"note": "Quá hạn"})).status_code == 403
            clock.moment = moment

            # Once the sheet is sent, the link writes nothing.
            await Console(app, "kg").send("https://thcs-kimgiang.edu.vn/minh-chung")
            await kg.choose("Tiếp")
            for points in ("8", "8", "8", "6", "7", "9", "8", "8", "0"):
                await kg.send(points)
                await kg.choose("Tiếp")
            assert "Đã nộp phiếu" in await kg.choose("Nộp phiếu")
            assert (await web.get(path)).status_code == 410
            assert (await post(web, app, path, {"note": "Sửa sau khi nộp"})).status_code == 410
            assert (await card_of(app, BLOCK_UNITS["kg"])).scores["1.1"]["note"] == kept

        async with app.db.transaction() as session:
            notes = [
                (e.channel, e.actor_id, e.data["note"])
                for e in await session.scalars(
                    select(LogEvent).where(LogEvent.action == "note_set").order_by(LogEvent.id)
                )
            ]
        assert notes == [("web", kg_id, kept)]
    finally:
        await app.close()
