"""The commands a Zalo deployment uses: `run` polling Zalo, `serve` taking Zalo's webhook,
and `webhook set|info|delete`, each as a real child process against the fake Zalo API."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from tests.apps import FIXTURES, REPO, listening_socket, run_cli_beside
from tests.fakes.zalo_server import FakeZalo, fixture
from tests.zalo_drivers import ZaloChat

SECRET = "a-long-webhook-secret-for-the-cli"


def zalo_env(zalo: FakeZalo, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "GUONGSANG_DATA_DIR": str(tmp_path / "data"),
        "GUONGSANG_CONFIG": str(FIXTURES / "campaigns.toml"),
        "GUONGSANG_ZALO_TOKEN": zalo.token,
        "GUONGSANG_ZALO_API_URL": zalo.api_root,
        **extra,
    }


@asynccontextmanager
async def child(env: dict[str, str], *args: str) -> AsyncIterator[asyncio.subprocess.Process]:
    """`python -m bot ARGS` running beside the test's event loop; stopped with SIGINT."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GUONGSANG_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        env={**environment, **env},
        cwd=REPO,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(process.wait(), 20)
            except TimeoutError:
                process.kill()
                await process.wait()


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
async def test_run_polls_zalo_when_a_zalo_token_is_set(
    tmp_path: Path, stop: signal.Signals
) -> None:
    async with FakeZalo() as zalo, child(zalo_env(zalo, tmp_path), "run") as process:
        person = ZaloChat(zalo.user("f1f2c3d4e5f601234567", "Hoa"))
        await person.user.send_text("/start")
        replies = await person.user.messages_until_idle(timeout=30)
        assert "Gương Sáng" in (replies[0].text or "")
        process.send_signal(stop)
        output = (await asyncio.wait_for(process.communicate(), 20))[0].decode()
    assert process.returncode == 0, output
    assert "Bot Zalo bot.guongsang đang chạy" in output and "bot stopped" in output
    assert zalo.token not in output, "the token is never logged"


async def test_serve_takes_updates_at_the_zalo_webhook(tmp_path: Path) -> None:
    sock = listening_socket()
    port = sock.getsockname()[1]
    sock.close()  # the child binds it; the OS keeps it free for the moment in between
    update = fixture("update-text.json")
    update["message"]["text"] = "/start"
    chat_id = update["message"]["chat"]["id"]
    async with FakeZalo() as zalo:
        env = zalo_env(zalo, tmp_path, GUONGSANG_ZALO_WEBHOOK_SECRET=SECRET)
        async with child(env, "serve", "--port", str(port)), httpx.AsyncClient() as client:
            url = f"http://127.0.0.1:{port}/webhook/zalo"
            for _ in range(300):
                try:
                    await client.get(f"http://127.0.0.1:{port}/healthz")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
            wrong = await client.post(url, json=update, headers={"X-Bot-Api-Secret-Token": "x"})
            assert wrong.status_code == 403
            right = await client.post(url, json=update, headers={"X-Bot-Api-Secret-Token": SECRET})
            assert right.status_code == 200
            replies = await zalo.user(chat_id).messages_until_idle(timeout=15)
            assert "Gương Sáng" in (replies[0].text or "")
        assert not zalo.calls_to("getUpdates"), "a webhook and polling cannot be used together"


async def test_webhook_command_sets_shows_and_deletes(tmp_path: Path) -> None:
    async with FakeZalo() as zalo:
        public = {"GUONGSANG_PUBLIC_URL": "https://guongsang.example.vn"}
        env = zalo_env(zalo, tmp_path, GUONGSANG_ZALO_WEBHOOK_SECRET=SECRET, **public)
        done = await run_cli_beside(env, "webhook", "set")
        assert done.returncode == 0, done.stderr
        assert "https://guongsang.example.vn/webhook/zalo" in done.stdout
        assert (zalo.webhook_url, zalo.webhook_secret) == (
            "https://guongsang.example.vn/webhook/zalo",
            SECRET,
        )
        shown = await run_cli_beside(env, "webhook", "info")
        assert "Webhook hiện tại: https://guongsang.example.vn/webhook/zalo" in shown.stdout
        assert (await run_cli_beside(env, "webhook", "delete")).returncode == 0
        assert not zalo.webhook_url
        assert "Chưa đăng ký webhook" in (await run_cli_beside(env, "webhook", "info")).stdout

        local = zalo_env(zalo, tmp_path, GUONGSANG_ZALO_WEBHOOK_SECRET=SECRET)
        refused = await run_cli_beside(local, "webhook", "set")
        assert refused.returncode == 1 and "Nền tảng từ chối" in refused.stderr
        no_secret = await run_cli_beside(zalo_env(zalo, tmp_path), "webhook", "set")
        assert no_secret.returncode == 2 and "WEBHOOK_SECRET" in no_secret.stderr
        short = await run_cli_beside(
            zalo_env(zalo, tmp_path, GUONGSANG_ZALO_WEBHOOK_SECRET="short"), "webhook", "set"
        )
        assert short.returncode == 2 and "zalo_webhook_secret" in short.stderr
