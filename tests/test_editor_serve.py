"""`guongsang serve` keeps editor links and the secret out of its log: a link in the access log
would open someone's draft for hours to whoever reads the log."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bot.web.links import editor_path, me_path
from tests.apps import FIXTURES, REPO
from tests.test_web import SERVE, free_port

SECRET = "a-long-random-secret-for-the-serve-test"


def test_the_access_log_shows_no_editor_link(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUONGSANG_")}
    env.update(
        GUONGSANG_DATA_DIR=str(tmp_path / "served"),
        GUONGSANG_CONFIG=str(FIXTURES / "campaigns.toml"),
        GUONGSANG_SECRET_KEY=SECRET,
        PYTHONUTF8="1",
    )
    port = free_port()
    path = editor_path(1, 1, datetime.now(UTC), SECRET)
    token = path.removeprefix("/editor/")
    process = subprocess.Popen(
        [sys.executable, "-c", SERVE, "serve", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            for _ in range(200):
                try:
                    client.get("/healthz")
                    break
                except httpx.TransportError:
                    assert process.poll() is None, process.communicate()[0]
                    time.sleep(0.05)
            # No such draft: the page is refused, and the request is logged all the same.
            assert client.get(path).status_code == 410
            assert client.post(f"{path}/save", json={"story": "x"}).status_code == 403
            assert client.get(f"{path}?tg=1").status_code == 410
            me = me_path(1, datetime.now(UTC), SECRET)
            assert client.get(me).status_code == 403  # nobody joined: refused, and logged
            assert client.get("/join/K7Q2M9XD").status_code == 410
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert '"GET /editor/… HTTP/1.1" 410' in output, output
    assert '"POST /editor/…/save HTTP/1.1" 403' in output, output
    assert '"GET /editor/…?tg=1 HTTP/1.1" 410' in output, output
    assert token not in output and token.split(".")[-1] not in output
    assert '"GET /me/… HTTP/1.1" 403' in output and me.split("/")[-1] not in output
    assert '"GET /join/… HTTP/1.1" 410' in output and "K7Q2M9XD" not in output
    assert SECRET not in output
