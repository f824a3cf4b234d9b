"""The Zalo channel's own duties: splitting long text, the webhook's checks, photos that
arrive as URLs, polling through failures, and broadcasts to Zalo subscribers."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select

from bot.app import GuongSang
from bot.channels.zalo.channel import ZaloChannel
from bot.channels.zalo.client import ZaloClient
from bot.channels.zalo.render import split_text
from bot.settings import Settings
from bot.web.media import file_url, sign, sign_file, verify, verify_file
from handlers import broadcast as broadcasting
from handlers import files
from storage.models import AudienceMember, Identity, ProcessedUpdate
from tests.drivers import jpeg
from tests.factories import honour_and_send, story
from tests.fakes.zalo_server import FakeZalo, fixture
from tests.zalo_drivers import ZaloChat, register_on_zalo, text_of
from tests.zalo_fixtures import WEBHOOK_SECRET

PHONE = re.compile(r"(?<![\w])(?:\+?84|0)\d{9}(?!\d)")
LIMIT = 300_000


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """A small upload limit, so "too large" needs no huge test file."""
    return settings.model_copy(update={"max_upload_bytes": LIMIT})


def test_long_text_is_cut_at_paragraphs_then_sentences_then_words() -> None:
    paragraphs = ["Đoạn một ngắn.", "Câu thứ nhất khá dài. " * 100, "từ " * 1000]
    text = "\n\n".join(p.strip() for p in paragraphs)
    assert len(text) > 5000
    pieces = split_text(text)
    assert all(0 < len(piece) <= 2000 for piece in pieces)
    # Whole and in order: nothing lost, nothing repeated, no word cut in two.
    assert " ".join(pieces).split() == text.split()
    assert pieces[0] == "Đoạn một ngắn.", "a paragraph break is the first choice"
    assert pieces[1].endswith("dài.") and pieces[2].startswith("Câu"), "then a sentence end"
    assert all(p.split()[-1] == "từ" for p in pieces[-2:]), "then a space"
    assert split_text("x" * 4500) == ["x" * 2000, "x" * 2000, "x" * 500], "only a lone giant word"


async def test_webhook_checks_the_secret_and_the_body(
    zalo_app: GuongSang, zalo: FakeZalo, zalo_web: httpx.AsyncClient
) -> None:
    update = fixture("update-text.json")
    update["message"]["text"] = "/start"
    chat_id = update["message"]["chat"]["id"]
    body = json.dumps(update)

    async def post(content: str | bytes, secret: str | None = WEBHOOK_SECRET) -> httpx.Response:
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers["X-Bot-Api-Secret-Token"] = secret
        return await zalo_web.post("/webhook/zalo", content=content, headers=headers)

    assert (await post(body, secret=None)).status_code == 403
    assert (await post(body, secret=WEBHOOK_SECRET[:-1] + "x")).status_code == 403
    assert (await post(body, secret="")).status_code == 403
    assert (await post("{not json")).status_code == 400
    assert (await post(json.dumps({"event_name": "message.text.received"}))).status_code == 400
    assert (await post(json.dumps([1, 2, 3]))).status_code == 400
    assert (await post("[" * 100_000)).status_code == 400
    assert (await post(b"{" + b" " * (10 * 1024 * 1024) + b"}")).status_code == 413
    assert zalo.sent(chat_id) == [], "nothing refused was processed"
    async with zalo_app.db.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(ProcessedUpdate)) == 0

    answer = await post(body)
    assert answer.status_code == 200 and answer.json() == {"ok": True}
    answered = len(zalo.sent(chat_id))
    assert answered >= 1 and "Gương Sáng" in (zalo.sent(chat_id)[0].text or "")
    again = await post(body)
    assert again.status_code == 200, "a repeated update is acknowledged"
    await zalo.until_settled()
    assert len(zalo.sent(chat_id)) == answered, "and ignored"


async def test_half_an_emoji_in_a_name_is_marked_and_the_answer_still_goes(
    zalo_app: GuongSang, zalo: FakeZalo, zalo_web: httpx.AsyncClient
) -> None:
    update = fixture("update-text.json")
    update["message"]["text"] = "/start"
    # A client that cut the name in the middle of an emoji: JSON carries the half as an escape.
    update["message"]["from"]["display_name"] = "Hoa \ud83c"
    chat_id = update["message"]["chat"]["id"]
    headers = {"Content-Type": "application/json", "X-Bot-Api-Secret-Token": WEBHOOK_SECRET}
    answer = await zalo_web.post("/webhook/zalo", content=json.dumps(update), headers=headers)
    assert answer.status_code == 200
    # The name is kept (cards and /history show it until a full name is given); UTF-8 cannot
    # carry half a character, so a kept half would have made every answer holding it fail.
    welcome = zalo.sent(chat_id)[0].text or ""
    assert "Gương Sáng" in welcome
    async with zalo_app.db.transaction() as session:
        names = (await session.scalars(select(Identity.display_name))).all()
    assert names == ["Hoa \ufffd"]
    # Typed text carrying half an emoji is marked the same way, and answered.
    update["message"]["message_id"] = "half-emoji-typed"
    update["message"]["text"] = "Nguyễn Thị Hoa \ud83c"
    answer = await zalo_web.post("/webhook/zalo", content=json.dumps(update), headers=headers)
    assert answer.status_code == 200
    asked = zalo.sent(chat_id)[-1].text or ""
    assert "Nguyễn Thị Hoa \ufffd" in asked or "đơn vị" in asked, asked


async def to_photos_step(chat: ZaloChat) -> None:
    await register_on_zalo(chat)
    await chat.send("/new")
    await chat.send("Nguyễn Thị Lan")
    await chat.send("Trường Tiểu học Kim Giang, quận Thanh Xuân, Hà Nội")
    await chat.choose("An toàn trường học")
    await chat.send("Cô giáo của những buổi chiều thứ Bảy")
    await chat.send("Cô Lan mở lớp học miễn phí vào chiều thứ Bảy cho học sinh khó khăn.")
    text = await chat.choose("Xong phần bài viết")
    assert "ảnh" in text.lower()


async def test_photo_urls_that_are_no_image_too_large_or_too_slow(
    zalo: FakeZalo, zalo_channel: ZaloChannel, zalo_web: httpx.AsyncClient
) -> None:
    zalo_channel.fetch_photo.timeout = 1.0
    chat = ZaloChat(zalo.user("c1c2c3d4e5f601234567", "Hoa"))
    await to_photos_step(chat)

    text = await chat.photo(zalo.host_file(b"<html>not a photo</html>", "image/jpeg"))
    # It came as a photo, not as a file: it is spoken of as one.
    assert "không mở được ảnh này" in text and "Tệp" not in text, text
    assert "0 / 10" in text and "Xong phần ảnh" not in text, "nothing to be done with 0 photos"
    big = jpeg(7, (64, 48)) + b"\0" * LIMIT
    text = await chat.photo(zalo.host_file(big))
    assert "Tệp quá lớn" in text, text
    text = await chat.photo(zalo.host_file(jpeg(8), delay=3.0))
    assert "không tải được ảnh" in text, text
    text = await chat.photo(f"{zalo.api_root}/cdn/missing.jpg")
    assert "không tải được ảnh" in text, text

    text = await chat.photo(zalo.host_file(jpeg(9)))
    assert "Xong phần ảnh (1)" in text, "the good photo is kept; the bad ones cost nothing"
    assert zalo.calls_to("sendChatAction"), "typing… is shown while a photo is fetched"


async def test_polling_rides_out_api_failures(zalo: FakeZalo, zalo_channel: ZaloChannel) -> None:
    zalo.fail_next("getUpdates", error_code=500)
    zalo.drop_next("getUpdates")
    zalo.fail_next("getUpdates", error_code=502, http_status=502, description="Bad Gateway")
    start = len(zalo.calls)

    def polls(calls: list) -> list:
        return [c for c in calls[start:] if c.method == "getUpdates"]

    # A message sent while the API is failing waits for it, and is answered once it recovers.
    await zalo.wait_for(lambda calls: len(polls(calls)) >= 2, timeout=10)
    person = ZaloChat(zalo.user("d1d2c3d4e5f601234567", "Hoa"))
    assert "Gương Sáng" in await person.send("/start")
    seen = polls(zalo.calls)
    assert len(seen) >= 4
    gaps = [b.at - a.at for a, b in itertools.pairwise(seen)][:3]
    assert gaps[1] > gaps[0] >= 0.9, f"backs off after each failure: {gaps}"

    # The empty poll's 408 comes with HTTP 200 or 408, and updates alone or in a list.
    zalo.empty_poll_http_status = 200
    zalo.updates_as_list = True
    await asyncio.sleep(1.2)
    await person.user.send_text("Nguyễn Thị Hoa")
    await person.user.send_text("thcs le quy don")
    replies = text_of(await person.replies(min_count=2))
    assert replies.index("đơn vị") < replies.index("Trường THCS Lê Quý Đôn"), replies


async def test_polling_removes_a_webhook_left_set(
    zalo_app: GuongSang, zalo: FakeZalo, caplog: pytest.LogCaptureFixture
) -> None:
    # `webhook set` was run for `serve`; now the bot is started with `run`, which polls.
    zalo.webhook_url, zalo.webhook_secret = "https://guongsang.example.vn/webhook/zalo", "s" * 16
    channel = ZaloChannel(zalo_app, ZaloClient(zalo.token, zalo.api_root, poll_timeout=1))
    await channel.start()
    channel.start_polling()
    zalo.settled = zalo_app.settled  # answers are read until the app settles
    try:
        person = ZaloChat(zalo.user("f1d2c3d4e5f601234567", "Hoa"))
        assert "Gương Sáng" in await person.send("/start")
    finally:
        await channel.stop()
    assert zalo.webhook_url is None
    assert "removing the webhook at https://guongsang.example.vn/webhook/zalo" in caplog.text


async def test_broadcast_reaches_zalo_subscribers_within_limits(
    zalo_app: GuongSang, zalo: FakeZalo, zalo_web: httpx.AsyncClient
) -> None:
    app = zalo_app
    readers = [ZaloChat(zalo.user(f"e{n}e2c3d4e5f601234567", "Bạn đọc")) for n in range(3)]
    for reader in readers:
        assert "Đã đăng ký nhận tin" in await reader.send("/subscribe")
    readers[2].user.block()
    sub = await story(app, code="GS-2024-0007", photos=1, author_phone="0987654321")
    await honour_and_send(app, sub.code or "", summary="Mở lớp học miễn phí cho học sinh khó khăn.")
    for reader in readers[:2]:
        post = (await reader.replies())[0]
        assert post.kind == "photo" and post.photo_bytes, "Zalo fetched the photo by its URL"
        assert "Nguyễn Thị Lan" in (post.text or "") and "1625/QĐ-UBND" in (post.text or "")
        assert not PHONE.search(post.text or "")
    async with app.db.transaction() as session:
        blocked = await session.scalar(
            select(AudienceMember).where(AudienceMember.chat_id == readers[2].user.id)
        )
        assert blocked is not None and not blocked.active


async def test_zalo_refusing_with_429_slows_a_broadcast_without_doubling_it(
    zalo_app: GuongSang, zalo: FakeZalo, zalo_web: httpx.AsyncClient
) -> None:
    app = zalo_app
    # Zalo's quotas are undocumented: here it allows 6 a second, below our 10.
    zalo.max_per_second = 6
    readers = [f"{n:020x}" for n in range(1, 31)]
    async with app.db.transaction() as session:
        for chat_id in readers:
            await broadcasting.set_subscription(session, app.services, "zalo", chat_id, None, True)
    sub = await story(app, code="GS-2024-0008", photos=1)
    await honour_and_send(app, sub.code or "", summary="Cứu người đuối nước.")
    await zalo.wait_for(lambda _: all(zalo.sent(r) for r in readers), timeout=40)
    await zalo.until_settled(timeout=40)
    assert [len(zalo.sent(r)) for r in readers] == [1] * 30, "each reader once"
    refused = [c for c in zalo.calls_to("sendPhoto") if c.http_status == 429]
    assert refused, "the fake did refuse some sends"


def test_file_tokens_refuse_forgery_expiry_and_other_purposes() -> None:
    now = datetime(2024, 1, 10, 3, 0, tzinfo=UTC)
    later = int(now.timestamp()) + 3600
    name = "ab" + "0" * 62 + ".jpg"
    token = sign_file(name, later, "secret")
    assert verify_file(token, "secret", now) == f"ab/{name}"
    assert verify_file(token, "other secret", now) is None
    assert verify_file(token, "secret", now + timedelta(hours=2)) is None, "expired"
    sha, ext, expires, signature = token.split(".")
    assert verify_file(f"{sha}.png.{expires}.{signature}", "secret", now) is None
    assert verify_file(f"{sha.upper()}.{ext}.{expires}.{signature}", "secret", now) is None
    assert verify_file(f"{sha}.{ext}.{later + 1}.{signature}", "secret", now) is None
    traversal = sign_file("../../etc/passwd.jpg", later, "secret")
    assert verify_file(traversal, "secret", now) is None
    html = sign_file("ab" + "0" * 62 + ".html", later, "secret")
    assert verify_file(html, "secret", now) is None, "only image files are served"
    # A public page's photo token is not a file token, nor the other way round.
    assert verify_file(sign(42, later, "secret"), "secret", now) is None
    assert verify(token, "secret", now) is None


async def test_media_file_route_serves_only_genuine_tokens(
    zalo_app: GuongSang, zalo_web: httpx.AsyncClient
) -> None:
    stored = files.store(zalo_app.services.media_dir, jpeg(3), "jpg", "image/jpeg")
    now = zalo_app.services.now()
    url = file_url(zalo_app.settings, stored.path.name, now)
    good = await zalo_web.get(url)
    assert good.status_code == 200 and good.content == jpeg(3)
    assert good.headers["content-type"] == "image/jpeg"
    forged = url[:-3] + ("AAA" if not url.endswith("AAA") else "BBB")
    assert (await zalo_web.get(forged)).status_code == 403
    missing = file_url(zalo_app.settings, "cd" + "1" * 62 + ".jpg", now)
    assert (await zalo_web.get(missing)).status_code == 404
