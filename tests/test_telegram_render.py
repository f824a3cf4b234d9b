"""Telegram's rendering of replies: texts folded into one message where one message shows
them as well."""

from __future__ import annotations

from pathlib import Path

from bot.channels.telegram.render import folded
from handlers.types import Choice, Reply, WebLink


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
