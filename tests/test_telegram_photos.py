"""A photo goes up to Telegram once: the person's own photos come back in the preview by
Telegram's file id for them, and a photo the bot uploaded is sent by the id it got back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from telegram import Bot
from telegram.error import BadRequest

from bot.app import GuongSang
from bot.channels.telegram.channel import standalone_sender
from bot.channels.telegram.photos import PhotoIds, photo_calls, send_photo
from handlers import files
from tests.drivers import Chat, fill_until_story, jpeg, register
from tests.fakes.telegram_server import FakeTelegram, UploadedFile


async def test_the_preview_shows_the_persons_photos_by_their_file_ids(
    app: GuongSang, telegram: FakeTelegram, channel: object
) -> None:
    chat = Chat(telegram.user(131, "Hoa"))
    await register(chat)
    await fill_until_story(chat)
    await chat.send("Cô Lan mở lớp học miễn phí vào chiều thứ Bảy cho học sinh khó khăn.")
    await chat.press("Xong phần bài viết")
    sent: dict[str, bytes] = {}
    for seed in (1, 2):
        await chat.photo(jpeg(seed))
        await chat.replies()
        sent[chat.user.last_file_id] = jpeg(seed)  # type: ignore[index]
    await chat.press("Xong phần ảnh")

    (album,) = telegram.calls_to("sendMediaGroup")
    media = [item["media"] for item in album.params["media"]]
    assert media == list(sent), "sent by the ids the person's photos came with, not uploaded"
    shown = [m for m in chat.user.messages() if m.kind == "photo"]
    assert [m.file_data for m in shown[-2:]] == list(sent.values())
    # And they are on disk, where the story's exports and the web page find them.
    stored = [p.read_bytes() for p in app.services.media_dir.rglob("*") if p.is_file()]
    assert sorted(stored) == sorted(sent.values())


@pytest.fixture
async def bot(telegram: FakeTelegram) -> AsyncIterator[Bot]:
    """A connected bot on the fake Bot API, without polling."""
    connected, _sender = await standalone_sender(telegram.token, telegram.api_root)
    yield connected
    await connected.shutdown()


async def test_an_uploaded_photo_is_sent_by_its_id_and_a_refused_id_uploads_again(
    telegram: FakeTelegram, bot: Bot, tmp_path: Path
) -> None:
    photo, other = tmp_path / "a.jpg", tmp_path / "b.jpg"
    photo.write_bytes(jpeg(7))
    other.write_bytes(jpeg(8))
    user = telegram.user(132, "Hoa")
    ids = PhotoIds()
    await send_photo(bot, user.chat_id, photo, ids)
    await send_photo(bot, user.chat_id, photo, ids)
    first, second = (c.params["photo"] for c in telegram.calls_to("sendPhoto"))
    assert isinstance(first, UploadedFile) and second == ids.get(photo)

    ids.remember(other, "AgACAgUAAxkBAAI-forgotten-by-telegram")
    await send_photo(bot, user.chat_id, other, ids)
    refused, uploaded = telegram.calls_to("sendPhoto")[2:]
    assert refused.status == 400 and isinstance(uploaded.params["photo"], UploadedFile)
    assert ids.get(other) not in (None, "AgACAgUAAxkBAAI-forgotten-by-telegram")

    # An album: the known photos by id, and every one of them known afterwards.
    third = tmp_path / "c.jpg"
    third.write_bytes(jpeg(9))
    (album,) = photo_calls(bot, user.chat_id, [photo, third], ids)
    await album()
    media = telegram.calls_to("sendMediaGroup")[0].params["media"]
    assert media[0]["media"] == ids.get(photo) and third in ids
    assert [m.file_data for m in user.messages()[-2:]] == [jpeg(7), jpeg(9)]


def test_the_ids_kept_are_bounded() -> None:
    ids = PhotoIds()
    for n in range(PhotoIds.KEEP + 1):
        ids.remember(Path(f"/media/{n}.jpg"), f"id{n}")
    assert ids.get(Path(f"/media/{PhotoIds.KEEP}.jpg")) == f"id{PhotoIds.KEEP}"
    assert ids.get(Path("/media/0.jpg")) is None


async def test_a_photo_the_form_does_not_take_is_not_kept(
    app: GuongSang, telegram: FakeTelegram, channel: object
) -> None:
    chat = Chat(telegram.user(133, "Hoa"))
    await chat.send("/start")
    await chat.photo(jpeg(3))  # while asked for a name: no photo is taken here
    await chat.replies()
    await register(chat)
    assert [p for p in app.services.media_dir.rglob("*") if p.is_file()] == []


def test_the_same_photo_stored_at_once_by_several_threads(tmp_path: Path) -> None:
    data = jpeg(5)
    with ThreadPoolExecutor(8) as pool:
        stored = list(
            pool.map(lambda _n: files.store(tmp_path, data, "jpg", "image/jpeg"), range(32))
        )
    assert {s.path for s in stored} == {stored[0].path}
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == [stored[0].path]
    assert stored[0].path.read_bytes() == data


async def test_a_refusal_that_is_not_about_the_id_is_not_an_upload(
    telegram: FakeTelegram, bot: Bot, tmp_path: Path
) -> None:
    photo = tmp_path / "a.jpg"
    photo.write_bytes(jpeg(7))
    user = telegram.user(134, "Hoa")
    ids = PhotoIds()
    await send_photo(bot, user.chat_id, photo, ids)
    known = ids.get(photo)
    telegram.fail_next("sendPhoto", 400, "Bad Request: not enough rights to send photos")
    with pytest.raises(BadRequest):
        await send_photo(bot, user.chat_id, photo, ids)
    assert len(telegram.calls_to("sendPhoto")) == 2, "no upload after a refusal of the chat"
    assert ids.get(photo) == known
