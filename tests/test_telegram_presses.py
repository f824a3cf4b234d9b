"""A pressed button's answer and the removal of its buttons go alongside the reply: the next
question does not wait two extra round trips to Telegram."""

from __future__ import annotations

import pytest

from bot.channels.telegram.channel import TelegramChannel
from tests.drivers import Chat, text_of
from tests.fakes.telegram_server import FakeTelegram

SLOW = 2.0  # seconds Telegram takes to answer the press and to edit the pressed message


async def test_the_reply_to_a_press_does_not_wait_for_its_answer(
    telegram: FakeTelegram, channel: TelegramChannel
) -> None:
    chat = Chat(telegram.user(311, "Hoa"))
    await chat.send("/start")
    await chat.send("Nguyễn Thị Hoa")
    await chat.send("kim giang")
    telegram.delay_next("answerCallbackQuery", SLOW)
    telegram.delay_next("editMessageReplyMarkup", SLOW)
    start = len(telegram.calls)

    await chat.user.press(chat.with_buttons(), "Trường Tiểu học Kim Giang")
    await telegram.wait_for_call("sendMessage", start=start)
    # The question came while Telegram was still answering the press.
    assert telegram.calls_to("answerCallbackQuery")[-1].status is None
    assert "số điện thoại" in text_of(await chat.replies())

    # Both still happen: the press is answered and the pressed message loses its buttons.
    edited = await telegram.wait_for(
        lambda calls: [c for c in calls[start:] if c.method == "editMessageReplyMarkup"], 10
    )
    await telegram.wait_for(lambda _calls: edited[0].status is not None, 10)
    assert telegram.calls_to("answerCallbackQuery")[-1].status == 200
    assert edited[0].status == 200 and len(edited) == 1


async def test_a_press_that_cannot_be_settled_still_gets_its_reply(
    telegram: FakeTelegram, channel: TelegramChannel, caplog: pytest.LogCaptureFixture
) -> None:
    chat = Chat(telegram.user(312, "Hoa"))
    await chat.send("/start")
    await chat.send("Nguyễn Thị Hoa")
    await chat.send("kim giang")
    # Removing the buttons fails in a way no retry mends (the person blocked the bot, say).
    telegram.fail_next("editMessageReplyMarkup", 403, "Forbidden: bot was blocked by the user")

    assert "số điện thoại" in await chat.press("Trường Tiểu học Kim Giang")
    assert "press in 312 not answered" in caplog.text
    # The chat goes on as usual.
    await chat.user.send_contact("+84 912 345 678")
    assert "Đã lưu thông tin" in text_of(await chat.replies())
