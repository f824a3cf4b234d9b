"""Quick checks of the fake Zalo Bot API server itself, driven over HTTP with httpx."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.fakes.zalo_server import DEFAULT_TOKEN, FakeZalo, fixture

HEX_ID = re.compile(r"^[0-9a-f]{20}$")


@pytest.fixture
async def fake() -> AsyncIterator[FakeZalo]:
    async with FakeZalo() as server:
        yield server


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as c:
        yield c


async def call(
    client: httpx.AsyncClient, fake: FakeZalo, method: str, token: str | None = None, **body: Any
) -> tuple[int, dict[str, Any]]:
    resp = await client.post(f"{fake.api_root}/bot{token or fake.token}/{method}", json=body)
    return resp.status_code, resp.json()


async def test_get_me(fake: FakeZalo, client: httpx.AsyncClient) -> None:
    status, body = await call(client, fake, "getMe")
    assert status == 200
    assert body == {
        "ok": True,
        "result": {
            "id": DEFAULT_TOKEN.split(":")[0],
            "account_name": "bot.guongsang",
            "account_type": "BASIC",
            "can_join_groups": False,
        },
    }
    assert [c.method for c in fake.calls] == ["getMe"]
    assert fake.calls[0].http_status == 200


async def test_get_updates_hands_out_each_update_once(
    fake: FakeZalo, client: httpx.AsyncClient
) -> None:
    lan = fake.user("e4ea2cd5189df1c3a88c", "Lan")
    assert fake.user("e4ea2cd5189df1c3a88c") is lan
    update = await lan.send_text("Xin chào cô")
    status, body = await call(client, fake, "getUpdates", timeout="30")
    assert status == 200 and body == {"ok": True, "result": update}
    message = body["result"]["message"]
    assert body["result"]["event_name"] == "message.text.received"
    assert HEX_ID.match(message["message_id"])
    assert message["date"] > 1_700_000_000_000
    assert message["chat"] == {"id": lan.chat_id, "chat_type": "PRIVATE"}
    assert message["from"] == {"id": lan.id, "display_name": "Lan", "is_bot": False}
    assert set(message) == set(fixture("update-text.json")["message"])

    # Long poll: an update queued while the poll waits is answered at once.
    poll = asyncio.create_task(call(client, fake, "getUpdates", timeout=30))
    await fake.wait_for_call("getUpdates", start=1)
    photo = await lan.send_photo("https://photo-stal-5.zadn.vn/x.jpg")
    assert "caption" not in photo["message"]
    assert (await poll)[1]["result"] == photo


async def test_updates_as_list(fake: FakeZalo, client: httpx.AsyncClient) -> None:
    fake.updates_as_list = True
    lan = fake.user("e4ea2cd5189df1c3a88c")
    sticker = await lan.send_sticker()
    other = await lan.send_unsupported()
    status, body = await call(client, fake, "getUpdates", timeout="1")
    assert status == 200 and body["result"] == [sticker, other]
    assert sticker["message"]["url"].endswith("eid=0e078a2fb66a5f34067b&size=130")
    assert other["event_name"] == "message.unsupported.received"


@pytest.mark.parametrize("http_status", [408, 200])
async def test_empty_poll_answers_408(
    fake: FakeZalo, client: httpx.AsyncClient, http_status: int
) -> None:
    fake.empty_poll_http_status = http_status
    started = time.monotonic()
    status, body = await call(client, fake, "getUpdates", timeout="0.2")
    assert time.monotonic() - started >= 0.2
    assert status == http_status
    assert body == {"ok": False, "error_code": 408, "description": "Request timeout"}


async def test_stop_releases_long_poll(client: httpx.AsyncClient) -> None:
    fake = FakeZalo()
    await fake.start()
    poll = asyncio.create_task(call(client, fake, "getUpdates", timeout="30"))
    await fake.wait_for_call("getUpdates")
    started = time.monotonic()
    await fake.stop()
    status, body = await asyncio.wait_for(poll, 2)
    assert time.monotonic() - started < 1.5
    assert (status, body["error_code"]) == (408, 408)


async def test_send_message_validation(fake: FakeZalo, client: httpx.AsyncClient) -> None:
    lan = fake.user("e4ea2cd5189df1c3a88c")
    status, body = await call(client, fake, "sendMessage", chat_id=lan.chat_id, text="ầ" * 2000)
    assert status == 200 and HEX_ID.match(body["result"]["message_id"])
    assert isinstance(body["result"]["date"], int)
    for bad in ({"text": "x" * 2001}, {"text": ""}, {"text": 5}, {}):
        status, body = await call(client, fake, "sendMessage", chat_id=lan.chat_id, **bad)
        assert status == 400 and body["ok"] is False and body["error_code"] == 400
    status, _ = await call(client, fake, "sendMessage", chat_id=42, text="hi")
    assert status == 400
    status, _ = await call(client, fake, "sendChatAction", chat_id=lan.chat_id, action="typing")
    assert status == 200
    [sent] = lan.messages()
    assert sent.kind == "text" and sent.text == "ầ" * 2000 and fake.all_sent() == [sent]
    assert len(fake.calls_to("sendMessage")) == 6


async def test_send_photo_fetches_hosted_file(fake: FakeZalo, client: httpx.AsyncClient) -> None:
    data = bytes(range(256)) * 1000  # several 64 KiB chunks
    url = fake.host_file(data)
    status, body = await call(client, fake, "sendPhoto", chat_id="u1", photo=url, caption="Cô Lan")
    assert status == 200, body
    [sent] = fake.sent("u1")
    assert (sent.kind, sent.text, sent.photo_url) == ("photo", "Cô Lan", url)
    assert sent.photo_bytes == data

    for photo in (fake.host_file(b"<html>", "text/html"), f"{fake.api_root}/cdn/missing.jpg"):
        status, body = await call(client, fake, "sendPhoto", chat_id="u1", photo=photo)
        assert (status, body["description"]) == (400, "Photo could not be fetched")
    status, _ = await call(client, fake, "sendPhoto", chat_id="u1", photo="/tmp/x.jpg")
    assert status == 400
    assert len(fake.sent("u1")) == 1


async def test_fail_next_drop_next_and_delay(fake: FakeZalo, client: httpx.AsyncClient) -> None:
    fake.fail_next("sendMessage", error_code=-201, description="Quota exceeded")
    status, body = await call(client, fake, "sendMessage", chat_id="u1", text="a")
    assert (status, body) == (
        200,
        {"ok": False, "error_code": -201, "description": "Quota exceeded"},
    )
    fake.fail_next("sendMessage")
    status, body = await call(client, fake, "sendMessage", chat_id="u1", text="b")
    assert status == 500 and body["error_code"] == 500
    assert fake.sent("u1") == []

    fake.drop_next("sendMessage")
    with pytest.raises(httpx.TransportError):
        await call(client, fake, "sendMessage", chat_id="u1", text="c")
    assert fake.calls[-1].http_status is None and fake.sent("u1") == []

    fake.delay_next("sendMessage", 0.3)
    started = time.monotonic()
    status, _ = await call(client, fake, "sendMessage", chat_id="u1", text="d")
    assert status == 200 and time.monotonic() - started >= 0.3
    assert [m.text for m in fake.sent("u1")] == ["d"]


async def test_blocked_user_and_rate_limit(fake: FakeZalo, client: httpx.AsyncClient) -> None:
    lan = fake.user("u1")
    lan.block()
    status, body = await call(client, fake, "sendMessage", chat_id="u1", text="hi")
    assert (status, body["error_code"], body["description"]) == (
        403,
        403,
        "The user has blocked the bot",
    )
    lan.unblock()
    fake.max_per_second = 2
    statuses = [
        (await call(client, fake, "sendMessage", chat_id="u1", text=str(i)))[0] for i in range(3)
    ]
    assert statuses == [200, 200, 429]
    assert [m.text for m in lan.messages()] == ["0", "1"]


async def test_bad_token_unknown_method_and_bad_json(
    fake: FakeZalo, client: httpx.AsyncClient
) -> None:
    status, body = await call(client, fake, "getMe", token="1:wrong")
    assert (status, body) == (401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
    status, body = await call(client, fake, "sendKeyboard")
    assert status == 404 and body["error_code"] == 404
    resp = await client.post(f"{fake.api_root}/bot{fake.token}/getMe", content=b"{nope")
    assert resp.status_code == 400 and resp.json()["ok"] is False
    resp = await client.post(f"{fake.api_root}/bot{fake.token}/getMe")
    assert resp.status_code == 200


async def test_webhook(fake: FakeZalo, client: httpx.AsyncClient) -> None:
    for url in ("http://example.org/hook", "https://127.0.0.1/h", "https://192.168.1.2/h"):
        status, _ = await call(client, fake, "setWebhook", url=url, secret_token="s" * 8)
        assert status == 400
    status, _ = await call(
        client, fake, "setWebhook", url="https://example.org/h", secret_token="short"
    )
    assert status == 400
    status, body = await call(
        client, fake, "setWebhook", url="https://example.org/h", secret_token="s" * 16
    )
    assert status == 200 and body["result"]["url"] == "https://example.org/h"
    assert (fake.webhook_url, fake.webhook_secret) == ("https://example.org/h", "s" * 16)
    status, body = await call(client, fake, "getUpdates", timeout="30")
    assert status == 400 and "deleteWebhook" in body["description"]
    await call(client, fake, "deleteWebhook")
    _, body = await call(client, fake, "getWebhookInfo")
    assert body["result"]["url"] == ""


async def test_messages_until_idle(fake: FakeZalo, client: httpx.AsyncClient) -> None:
    lan = fake.user("u1")
    await call(client, fake, "sendMessage", chat_id="u1", text="old")
    lan.skip_existing()

    async def bot_replies() -> None:
        for text in ("một", "hai"):
            await asyncio.sleep(0.05)
            await call(client, fake, "sendMessage", chat_id="u1", text=text)

    task = asyncio.create_task(bot_replies())
    got = await lan.messages_until_idle(idle=0.2, min_count=1)
    await task
    assert [m.text for m in got] == ["một", "hai"]
    with pytest.raises(AssertionError, match="Expected 1 new message"):
        await lan.messages_until_idle(timeout=0.1)
