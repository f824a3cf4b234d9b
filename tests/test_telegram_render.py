"""Telegram's rendering of replies: texts folded into one message where one message shows
them as well, and sends that skip parsing the answer but keep the library's errors."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    WebAppInfo,
)
from telegram.error import BadRequest, Forbidden

from bot.channels.telegram.channel import standalone_sender
from bot.channels.telegram.render import folded, markup_json, remove_buttons, send_text
from handlers.types import Choice, Reply, WebLink
from tests.fakes.telegram_server import FakeTelegram


def test_a_greeting_and_the_question_after_it_are_one_message() -> None:
    greeting = Reply("Chào bạn!", choices=[Choice("Chỉ nhận tin", "!sub:on")])
    question = Reply("<b>Họ và tên</b> của bạn là gì?")
    (one,) = folded([greeting, question])
    assert one.text == "Chào bạn!\n\n<b>Họ và tên</b> của bạn là gì?"
    # The one markup there was stays, under both texts.
    assert one.choices == greeting.choices


def test_replies_keep_apart_where_one_message_cannot_show_both() -> None:
    buttons = Reply("Chọn:", choices=[Choice("Có", "1|yes")])
    keyboard = Reply("Gửi số điện thoại", ask_contact="📱 Gửi số")
    photo = Reply("Ảnh", photos=[Path("a.jpg")])
    linked = Reply("Mở trang", link=WebLink("Sửa bài", "http://example.org/e"))
    long = Reply("x" * 4000)
    # Two markups, a photo, a link written out in the first text, or too long for one message.
    for pair in ([buttons, keyboard], [Reply("A"), photo], [linked, Reply("B")], [long, long]):
        assert folded(pair) == pair
    # Three plain texts make one; a text then buttons then a keyboard make two.
    assert [r.text for r in folded([Reply("A"), Reply("B"), Reply("C")])] == ["A\n\nB\n\nC"]
    assert len(folded([Reply("A"), buttons, keyboard])) == 2


async def test_sends_without_parsing_the_answer_keep_the_librarys_errors(
    telegram: FakeTelegram,
) -> None:
    bot, _sender = await standalone_sender(telegram.token, telegram.api_root)
    try:
        user = telegram.user(4601, "Hoa")
        markup = InlineKeyboardMarkup.from_button(InlineKeyboardButton("Có", callback_data="y"))
        markup = json.dumps(markup.to_dict())
        with warnings.catch_warnings(record=True) as caught:
            message_id = await send_text(bot, user.user_id, "<b>Chào</b> bạn", markup)
        assert [str(w.message) for w in caught] == []  # the deliberate raw call: no warning
        (sent,) = telegram.sent(user.user_id)
        assert str(sent.message_id) == message_id and sent.plain_text == "Chào bạn"
        await remove_buttons(bot, user.user_id, int(message_id))
        telegram.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user")
        with pytest.raises(Forbidden):
            await send_text(bot, user.user_id, "Còn đó không?")
        telegram.fail_next("editMessageReplyMarkup", 400, "Bad Request: message not found")
        with pytest.raises(BadRequest):
            await remove_buttons(bot, user.user_id, 999999)
    finally:
        await bot.shutdown()


MINI_APP = "https://gs.example/e?t=1&tg=1"


@pytest.mark.parametrize(
    ("reply", "library"),
    [
        (
            Reply("Chọn lĩnh vực", choices=[Choice("An toàn &amp; trường học", "7|0")], columns=2),
            InlineKeyboardMarkup(
                [[InlineKeyboardButton("An toàn & trường học", callback_data="7|0")]]
            ),
        ),
        (
            Reply("Chọn", choices=[Choice(f"Mục {n}", f"3|{n}") for n in range(5)], columns=2),
            InlineKeyboardMarkup(
                [
                    [InlineKeyboardButton(f"Mục {n}", callback_data=f"3|{n}") for n in row]
                    for row in ((0, 1), (2, 3), (4,))
                ]
            ),
        ),
        (
            Reply("Viết", link=WebLink("✍️ Viết trên web", "https://gs.example/e?t=1")),
            InlineKeyboardMarkup(
                [[InlineKeyboardButton("✍️ Viết trên web", web_app=WebAppInfo(MINI_APP))]]
            ),
        ),
        (
            Reply("Số điện thoại", ask_contact="📱 Gửi số điện thoại"),
            ReplyKeyboardMarkup(
                [[KeyboardButton("📱 Gửi số điện thoại", request_contact=True)]],
                resize_keyboard=True,
                one_time_keyboard=True,
            ),
        ),
        (
            Reply("Chào", menu=[["✍️ Viết bài mới", "📂 Bài nháp"], ["❓ Trợ giúp"]]),
            ReplyKeyboardMarkup(
                [["✍️ Viết bài mới", "📂 Bài nháp"], ["❓ Trợ giúp"]],
                resize_keyboard=True,
                is_persistent=True,
            ),
        ),
        (Reply("Không nút"), None),
    ],
)
def test_a_serialized_keyboard_is_what_the_library_would_send(
    reply: Reply, library: InlineKeyboardMarkup | ReplyKeyboardMarkup | None
) -> None:
    """`markup_json` builds the Bot API's JSON by hand and keeps each keyboard serialized
    once; it must be exactly python-telegram-bot's own serialization of the same markup, the
    first time and every time after."""
    first = markup_json(reply)
    assert (json.loads(first) if first is not None else None) == (
        library.to_dict() if library is not None else None
    )
    again = Reply(reply.text + " nữa", reply.choices, reply.columns, reply.menu,
                  reply.ask_contact, link=reply.link)  # fmt: skip
    assert markup_json(again) is first


async def test_a_serialized_keyboard_arrives_as_buttons(telegram: FakeTelegram) -> None:
    """Sent as JSON text, the keyboard reaches the Bot API as the same buttons."""
    bot, _sender = await standalone_sender(telegram.token, telegram.api_root)
    try:
        user = telegram.user(4602, "Hoa")
        reply = Reply("Chọn", choices=[Choice("Có", "1|yes"), Choice("Không", "1|no")], columns=2)
        await send_text(bot, user.user_id, reply.text, markup_json(reply))
        (sent,) = telegram.sent(user.user_id)
        assert sent.buttons() == ["Có", "Không"]
    finally:
        await bot.shutdown()
