"""An Event's text holds whole characters only, however a channel filled it in."""

from __future__ import annotations

from handlers.types import Event, whole_characters


def test_half_a_character_becomes_the_lost_character_mark_and_whole_ones_stay() -> None:
    assert whole_characters("Cô Lan mở lớp học") == "Cô Lan mở lớp học"
    assert whole_characters("Cảm ơn cô 😀") == "Cảm ơn cô 😀"
    assert whole_characters("Cảm ơn cô \ud83d") == "Cảm ơn cô \ufffd"
    assert whole_characters("\ude00 đầu") == "\ufffd đầu"
    assert whole_characters("") == ""


def test_every_text_set_on_an_event_is_cleaned() -> None:
    event = Event(channel="telegram", chat_id="1", user_id="1", kind="text", user_name="Hoa \ud83d")
    event.text = "Lớp học 😀\ud83d"
    assert (event.user_name, event.text) == ("Hoa \ufffd", "Lớp học 😀\ufffd")
    event.text.encode()  # UTF-8 holds it
