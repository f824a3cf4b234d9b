"""Proves the fake Telegram server speaks the protocol python-telegram-bot v22 uses.

Every test drives the fake through the real ``telegram.Bot`` over HTTP, so a passing suite means
PTB's request encoding (form-urlencoded / multipart) and response parsing both round-trip.
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import io
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from PIL import Image
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.error import BadRequest, EndPointNotFound, Forbidden, InvalidToken, RetryAfter
from telegram.ext import ApplicationBuilder, CallbackQueryHandler, CommandHandler, ContextTypes

from tests.fakes.telegram_server import FakeTelegram, UploadedFile


def _png(width: int = 64, height: int = 48) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buf, format="PNG")
    return buf.getvalue()


def _keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("✅ Duyệt", callback_data="approve:7"),
                InlineKeyboardButton("❌ Từ chối", callback_data="reject:7"),
            ],
            [InlineKeyboardButton("Xem web", url="https://example.org/story/7")],
        ]
    )


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


def _make_bot(fake: FakeTelegram, token: str | None = None) -> Bot:
    return Bot(
        token or fake.token,
        base_url=f"{fake.api_root}/bot",
        base_file_url=f"{fake.api_root}/file/bot",
    )


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    async with _make_bot(fake) as b:
        yield b


async def test_get_me_through_real_bot(fake: FakeTelegram) -> None:
    async with _make_bot(fake) as bot:
        me = await bot.get_me()
        assert me.id == fake.bot_id == 123456
        assert me.is_bot
        assert me.username == "guongsang_test_bot"
        # Bot.initialize() already called getMe once, and it caches bot.username from it.
        assert bot.username == "guongsang_test_bot"
    methods = [c.method for c in fake.calls]
    assert methods.count("getMe") == 2
    assert all(c.status == 200 and c.http_method == "POST" for c in fake.calls)


async def test_send_message_with_inline_keyboard_is_stored(fake: FakeTelegram, bot: Bot) -> None:
    lan = fake.user(1001)
    message = await bot.send_message(
        chat_id=lan.chat_id, text="Câu chuyện #7", reply_markup=_keyboard()
    )

    # PTB parsed our answer back into a Message with the keyboard echoed.
    assert message.chat.id == 1001 and message.chat.type == "private"
    assert message.from_user is not None and message.from_user.id == fake.bot_id
    assert message.reply_markup == _keyboard()

    [stored] = fake.sent(1001)
    assert stored.message_id == message.message_id
    assert stored.text == "Câu chuyện #7"
    assert stored.reply_markup is not None
    assert stored.reply_markup["inline_keyboard"][0][0] == {
        "text": "✅ Duyệt",
        "callback_data": "approve:7",
    }
    assert stored.buttons() == ["✅ Duyệt", "❌ Từ chối", "Xem web"]

    call = fake.calls_to("sendMessage")[0]
    assert call.content_type == "application/x-www-form-urlencoded"
    # Non-string values arrive JSON-encoded and are decoded; strings are left alone.
    assert call.params["chat_id"] == 1001
    assert isinstance(call.params["reply_markup"], dict)


async def test_numeric_looking_text_stays_a_string(fake: FakeTelegram, bot: Bot) -> None:
    # PTB sends text="42" and chat_id=42 identically on the wire; only the name tells them apart.
    message = await bot.send_message(chat_id=42, text="42")
    assert message.text == "42"
    assert fake.sent(42)[0].text == "42"


async def test_user_text_arrives_through_get_updates_and_offset_confirms(
    fake: FakeTelegram, bot: Bot
) -> None:
    lan = fake.user(2002, first_name="Lan", username="lan_vn")
    sent = await lan.send_text("Xin chào")
    command = await lan.send_command("/start ref_abc")

    updates = await bot.get_updates(timeout=0)
    assert [u.update_id for u in updates] == [sent["update_id"], command["update_id"]]
    first = updates[0]
    assert first.message is not None and first.effective_user is not None
    assert first.message.text == "Xin chào"
    assert first.effective_user.id == 2002 and first.effective_user.username == "lan_vn"
    assert first.effective_chat is not None and first.effective_chat.type == "private"
    assert updates[1].message is not None
    assert updates[1].message.text == "/start ref_abc"
    assert updates[1].message.parse_entities(["bot_command"]) == {
        updates[1].message.entities[0]: "/start"
    }

    # Without a higher offset the updates are still pending...
    assert len(await bot.get_updates(timeout=0)) == 2
    # ...and a higher offset confirms (forgets) them.
    assert await bot.get_updates(offset=updates[-1].update_id + 1, timeout=0) == ()
    assert fake.pending_updates == []


async def test_press_inline_button_sends_callback_query(fake: FakeTelegram, bot: Bot) -> None:
    mod = fake.user(3003, first_name="Minh")
    await bot.send_message(chat_id=mod.chat_id, text="Duyệt bài?", reply_markup=_keyboard())
    message = await mod.next_message()

    with pytest.raises(AssertionError, match=r"Duyệt.*Từ chối.*Xem web"):
        await mod.press(message, "Không có nút này")

    pressed = await mod.press(message, "Từ chối")  # substring of "❌ Từ chối"
    [update] = await bot.get_updates(timeout=0)
    assert update.update_id == pressed["update_id"]
    query = update.callback_query
    assert query is not None
    assert query.data == "reject:7"
    assert query.from_user.id == 3003
    assert query.message is not None and query.message.message_id == message.message_id
    assert query.message.chat.id == 3003

    assert await query.answer("Đã từ chối") is True
    assert fake.callback_answers[query.id]["text"] == "Đã từ chối"
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await bot.answer_callback_query("999")

    forged = await mod.press_data(message.message_id, "approve:999")
    [update] = await bot.get_updates(offset=update.update_id + 1, timeout=0)
    assert update.update_id == forged["update_id"]
    assert update.callback_query is not None and update.callback_query.data == "approve:999"


async def test_long_poll_returns_as_soon_as_an_update_is_queued(
    fake: FakeTelegram, bot: Bot
) -> None:
    lan = fake.user(4004)
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await fake.wait_for_call("getUpdates")
    assert not poll.done()

    loop = asyncio.get_running_loop()
    started = loop.time()
    await lan.send_text("đến rồi")
    updates = await asyncio.wait_for(poll, 2)
    assert loop.time() - started < 1
    assert updates[0].message is not None and updates[0].message.text == "đến rồi"


async def test_long_poll_times_out_empty_and_limit_is_honoured(
    fake: FakeTelegram, bot: Bot
) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await bot.get_updates(timeout=1) == ()
    assert loop.time() - started >= 0.9

    lan = fake.user(4005)
    for i in range(3):
        await lan.send_text(f"tin {i}")
    assert len(await bot.get_updates(limit=2, timeout=0)) == 2


async def test_send_photo_bytes_is_multipart_and_recorded(fake: FakeTelegram, bot: Bot) -> None:
    png = _png(64, 48)
    message = await bot.send_photo(
        chat_id=5005, photo=png, caption="Ảnh đẹp", reply_markup=_keyboard()
    )

    call = fake.calls_to("sendPhoto")[0]
    assert call.content_type == "multipart/form-data"
    upload = call.params["photo"]
    assert isinstance(upload, UploadedFile) and upload.data == png
    assert call.params["chat_id"] == 5005 and call.params["caption"] == "Ảnh đẹp"

    assert message.caption == "Ảnh đẹp"
    assert message.photo[-1].width == 64 and message.photo[-1].height == 48
    [stored] = fake.sent(5005)
    assert stored.kind == "photo" and stored.caption == "Ảnh đẹp"
    assert stored.file_data == png
    assert stored.file_id == message.photo[-1].file_id

    # The bot can re-send by file_id; the fake resolves it to the same bytes.
    again = await bot.send_photo(chat_id=5005, photo=message.photo[-1].file_id)
    assert fake.sent(5005)[1].file_data == png
    assert again.photo[-1].file_id == message.photo[-1].file_id
    with pytest.raises(BadRequest, match=r"(?i)wrong file identifier"):
        await bot.send_photo(chat_id=5005, photo="no-such-file-id")


async def test_send_media_group_uses_attach_parts(fake: FakeTelegram, bot: Bot) -> None:
    a, b = _png(10, 10), _png(20, 20)
    messages = await bot.send_media_group(
        chat_id=5006, media=[InputMediaPhoto(a, caption="một"), InputMediaPhoto(b)]
    )
    assert len(messages) == 2
    assert messages[0].media_group_id == messages[1].media_group_id is not None
    call = fake.calls_to("sendMediaGroup")[0]
    assert call.content_type == "multipart/form-data"
    assert call.params["media"][0]["media"].startswith("attach://")
    assert [m.file_data for m in fake.sent(5006)] == [a, b]
    assert fake.sent(5006)[0].caption == "một"


async def test_user_photo_downloads_exact_bytes(fake: FakeTelegram, bot: Bot) -> None:
    lan = fake.user(6006)
    png = _png(120, 80)
    sent = await lan.send_photo(png, caption="Bác Ba nhặt được ví")
    assert lan.last_file_id == sent["message"]["photo"][-1]["file_id"]
    await lan.send_document(
        b"%PDF-1.4 fake", file_name="giay-khen.pdf", mime_type="application/pdf"
    )

    photo_update, doc_update = await bot.get_updates(timeout=0)
    assert photo_update.message is not None and doc_update.message is not None
    assert photo_update.message.caption == "Bác Ba nhặt được ví"
    largest = photo_update.message.photo[-1]
    assert (largest.width, largest.height) == (120, 80)
    assert len({p.file_id for p in photo_update.message.photo}) == len(photo_update.message.photo)

    tg_file = await bot.get_file(largest.file_id)
    assert tg_file.file_size == len(png)
    assert tg_file.file_path is not None
    assert tg_file.file_path.startswith(f"{fake.api_root}/file/bot{fake.token}/photos/")
    assert bytes(await tg_file.download_as_bytearray()) == png

    document = doc_update.message.document
    assert document is not None and document.file_name == "giay-khen.pdf"
    doc_file = await document.get_file()
    assert bytes(await doc_file.download_as_bytearray()) == b"%PDF-1.4 fake"

    with pytest.raises(BadRequest, match=r"(?i)invalid file_id"):
        await bot.get_file("nope")


async def test_edit_message_text_updates_stored_message(fake: FakeTelegram, bot: Bot) -> None:
    message = await bot.send_message(chat_id=7007, text="Đang chờ duyệt", reply_markup=_keyboard())
    edited = await bot.edit_message_text(
        chat_id=7007, message_id=message.message_id, text="<b>Đã duyệt</b>", parse_mode="HTML"
    )
    # Telegram answers with the rendered text, not the markup we sent.
    assert edited.text == "Đã duyệt"
    assert edited.edit_date is not None

    [stored] = fake.sent(7007)
    assert stored.text == "<b>Đã duyệt</b>" and stored.plain_text == "Đã duyệt"
    # Omitting reply_markup in an edit removes the inline keyboard, as on real Telegram.
    assert stored.reply_markup is None
    assert len(stored.edits) == 1 and stored.edits[0].old_text == "Đang chờ duyệt"
    assert stored.edits[0].old_reply_markup is not None

    new_markup = InlineKeyboardMarkup([[InlineKeyboardButton("Hoàn tác", callback_data="undo")]])
    await bot.edit_message_reply_markup(
        chat_id=7007, message_id=message.message_id, reply_markup=new_markup
    )
    assert stored.buttons() == ["Hoàn tác"] and len(stored.edits) == 2

    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_reply_markup(
            chat_id=7007, message_id=message.message_id, reply_markup=new_markup
        )
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await bot.edit_message_text(chat_id=7007, message_id=999, text="x")


async def test_html_errors_are_rejected_like_telegram(fake: FakeTelegram, bot: Bot) -> None:
    with pytest.raises(BadRequest, match=r"(?i)can.t parse entities"):
        await bot.send_message(chat_id=1, text="Điểm <5 là kém", parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)can.t parse entities"):
        await bot.send_message(chat_id=1, text="<b>chưa đóng", parse_mode="HTML")
    ok = await bot.send_message(chat_id=1, text="Điểm &lt;5 <i>là</i> kém", parse_mode="HTML")
    assert ok.text == "Điểm <5 là kém"
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(chat_id=1, text="a" * 4097)
    with pytest.raises(BadRequest, match=r"(?i)button_data_invalid"):
        await bot.send_message(
            chat_id=1,
            text="x",
            reply_markup=InlineKeyboardMarkup(
                [[InlineKeyboardButton("x", callback_data="d" * 65)]]
            ),
        )
    assert [c.status for c in fake.calls_to("sendMessage")] == [400, 400, 200, 400, 400]


# PTB 22.2+ warns (even inside RetryAfter.__init__) that retry_after will become a timedelta.
@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_fail_next_429_raises_retry_after(fake: FakeTelegram, bot: Bot) -> None:
    fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 3", retry_after=3)
    with pytest.raises(RetryAfter) as excinfo:
        await bot.send_message(chat_id=8008, text="tin 1")
    retry_after = excinfo.value.retry_after
    seconds = retry_after.total_seconds() if isinstance(retry_after, dtm.timedelta) else retry_after
    assert seconds == 3
    assert fake.sent(8008) == []

    # Only the next call failed; the retry goes through.
    await bot.send_message(chat_id=8008, text="tin 1")
    assert [m.text for m in fake.sent(8008)] == ["tin 1"]
    assert [(method, chat) for _, method, chat in fake.arrivals if method != "getMe"] == [
        ("sendMessage", 8008),
        ("sendMessage", 8008),
    ]
    assert fake.arrivals[0][0] <= fake.arrivals[1][0]

    fake.fail_next("sendMessage", 403, count=2)
    for _ in range(2):
        with pytest.raises(Forbidden, match="blocked"):
            await bot.send_message(chat_id=8008, text="tin 2")
    await bot.send_message(chat_id=8008, text="tin 2")


async def test_blocked_user_gets_forbidden(fake: FakeTelegram, bot: Bot) -> None:
    lan = fake.user(8009)
    lan.block()
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(chat_id=lan.chat_id, text="xin chào")
    lan.unblock()
    await bot.send_message(chat_id=lan.chat_id, text="xin chào")
    assert lan.last_message() is not None


async def test_wrong_token_is_rejected(fake: FakeTelegram) -> None:
    wrong = _make_bot(fake, token="654321:WRONG-token")
    with pytest.raises(InvalidToken):
        await wrong.get_me()
    with pytest.raises(InvalidToken, match="rejected by the server"):
        await wrong.initialize()
    await wrong.shutdown()
    assert {c.status for c in fake.calls} == {401}


async def test_unknown_method_is_404(fake: FakeTelegram, bot: Bot) -> None:
    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("sendHologram", api_kwargs={"chat_id": 1})
    call = fake.calls[-1]
    assert call.method == "sendHologram" and call.status == 404


async def test_commands_webhook_and_misc_methods(fake: FakeTelegram, bot: Bot) -> None:
    assert await bot.set_my_commands([("start", "Bắt đầu"), ("gui", "Gửi câu chuyện")])
    commands = await bot.get_my_commands()
    assert [(c.command, c.description) for c in commands] == [
        ("start", "Bắt đầu"),
        ("gui", "Gửi câu chuyện"),
    ]
    assert await bot.delete_my_commands()
    assert await bot.get_my_commands() == ()

    assert await bot.send_chat_action(chat_id=1, action="typing")
    assert await bot.set_webhook("https://example.org/hook")
    assert (await bot.get_webhook_info()).url == "https://example.org/hook"
    # While a webhook is set Telegram refuses getUpdates; PTB's run_polling deletes it first.
    with pytest.raises(Exception, match="webhook is active"):
        await bot.get_updates(timeout=0)
    await fake.user(1).send_text("cũ")
    assert await bot.delete_webhook(drop_pending_updates=True)
    assert await bot.get_updates(timeout=0) == ()
    assert await bot.log_out() and await bot.close()


async def test_waiting_helpers_and_reply_keyboard(fake: FakeTelegram, bot: Bot) -> None:
    lan = fake.user(9009)

    async def answer_later() -> None:
        await asyncio.sleep(0.05)
        keyboard = ReplyKeyboardMarkup(
            [[KeyboardButton("📝 Gửi câu chuyện"), "📖 Đọc"], [KeyboardButton("Chia sẻ SĐT")]]
        )
        await bot.send_message(chat_id=9009, text="Chọn:", reply_markup=keyboard)
        await asyncio.sleep(0.05)
        await bot.send_message(chat_id=9009, text="Thêm một tin")

    task = asyncio.create_task(answer_later())
    first = await lan.next_message(timeout=2)
    assert first.text == "Chọn:"
    # A reply keyboard is kept in the stored message but not echoed in PTB's Message.
    assert lan.reply_keyboard() == ["📝 Gửi câu chuyện", "📖 Đọc", "Chia sẻ SĐT"]
    rest = await lan.messages_until_idle(idle=0.2, timeout=2)
    assert [m.text for m in rest] == ["Thêm một tin"]
    await task
    assert lan.last_message() is rest[-1]

    await bot.send_message(chat_id=9009, text="Ẩn bàn phím", reply_markup=ReplyKeyboardRemove())
    assert (await lan.next_message()).text == "Ẩn bàn phím"
    assert lan.reply_keyboard() is None

    call = await fake.wait_for_call("sendMessage", lambda p: p["text"] == "Chọn:")
    assert call.params["chat_id"] == 9009
    assert await fake.wait_for(lambda calls: len(calls) >= 3) is True
    with pytest.raises(TimeoutError, match="No new message"):
        await lan.next_message(timeout=0.1)


async def test_other_user_message_kinds_parse_in_ptb(fake: FakeTelegram, bot: Bot) -> None:
    lan = fake.user(1111, username="lan")
    await lan.send_sticker()
    await lan.send_voice()
    await lan.send_location(21.0285, 105.8542)
    await lan.send_contact("+84901234567")
    await lan.send_contact("+84907654321", first_name="Hùng", omit_user_id=True)
    await lan.send_photo(_png(), media_group_id="album1")

    sticker, voice, location, contact, other, album = (
        u.message for u in await bot.get_updates(timeout=0)
    )
    assert sticker is not None and sticker.sticker is not None
    assert voice is not None and voice.voice is not None and voice.voice.mime_type == "audio/ogg"
    assert location is not None and location.location is not None
    assert location.location.latitude == pytest.approx(21.0285)
    assert contact is not None and contact.contact is not None
    assert contact.contact.user_id == 1111
    assert other is not None and other.contact is not None and other.contact.user_id is None
    assert album is not None and album.media_group_id == "album1"
    # Bot and user messages share one message_id sequence per private chat.
    assert [m.message_id for m in (sticker, voice, location, contact, other, album)] == list(
        range(1, 7)
    )


async def test_stop_releases_an_open_long_poll(fake: FakeTelegram, bot: Bot) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=30))
    await fake.wait_for_call("getUpdates")
    loop = asyncio.get_running_loop()
    started = loop.time()
    await fake.stop()
    assert await asyncio.wait_for(poll, 3) == ()
    assert loop.time() - started < 3


async def test_ptb_application_polls_and_answers(fake: FakeTelegram) -> None:
    """The full PTB Application/Updater loop works against the fake, offsets included."""

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text(
            f"Chào {update.effective_user.first_name if update.effective_user else ''}!",
            reply_markup=_keyboard(),
        )

    async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        await query.answer()
        await query.edit_message_text(f"Bạn chọn {query.data}")

    app = (
        ApplicationBuilder()
        .token(fake.token)
        .base_url(f"{fake.api_root}/bot")
        .base_file_url(f"{fake.api_root}/file/bot")
        .build()
    )
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(on_button))
    lan = fake.user(1212, first_name="Lan")
    async with app:
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=1)
        await app.start()
        try:
            await lan.send_command("/start")
            greeting = await lan.next_message()
            assert greeting.text == "Chào Lan!"
            await lan.press(greeting, "Duyệt")
            await fake.wait_for(lambda _: greeting.edits)
            assert greeting.text == "Bạn chọn approve:7"
            assert greeting.reply_markup is None
            assert len(fake.callback_answers) == 1
        finally:
            await app.updater.stop()
            await app.stop()
    # Both updates were confirmed by PTB's subsequent getUpdates offsets.
    assert fake.pending_updates == []
    assert fake.calls_to("deleteWebhook"), "run/start_polling deletes the webhook first"


async def test_get_query_and_json_bodies_are_accepted(fake: FakeTelegram) -> None:
    # PTB always POSTs forms, but other clients (and curl while debugging) use GET or JSON.
    url = f"{fake.api_root}/bot{fake.token}/sendMessage"
    markup = {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}
    async with aiohttp.ClientSession() as session:
        async with session.get(url, params={"chat_id": "77", "text": "qua GET"}) as resp:
            body = await resp.json()
            assert resp.status == 200 and body["result"]["text"] == "qua GET"
        payload = {"chat_id": 77, "text": "qua JSON", "reply_markup": json.dumps(markup)}
        async with session.post(url, json=payload) as resp:
            assert resp.status == 200
        async with session.post(f"{fake.api_root}/bot{fake.token}/noSuchMethod") as resp:
            assert resp.status == 404
            assert await resp.json() == {
                "ok": False,
                "error_code": 404,
                "description": "Not Found: method not found",
            }
    assert [m.text for m in fake.sent(77)] == ["qua GET", "qua JSON"]
    assert fake.sent(77)[1].reply_markup == markup
    assert fake.calls[0].http_method == "GET"
