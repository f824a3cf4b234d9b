"""/baocao on Zalo, which sends no files: the file comes as a signed link that the real served
web app answers with the file; a forged link gets 403, an expired one 410, a deleted file 404."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from openpyxl import load_workbook

from bot.app import GuongSang
from bot.settings import Settings
from tests.apps import Clock
from tests.drivers import invite_code
from tests.emulation_helpers import BLOCK_UNITS, emulation_settings, sync_blocks
from tests.fakes.zalo_server import FakeZalo
from tests.zalo_drivers import ZaloChat

LINK = re.compile(r"https?://\S+/files/\S+")


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """The campaigns file with letter 001's contest and the example block."""
    return emulation_settings(tmp_path, database_url)


async def test_monthly_report_arrives_as_a_working_link(
    zalo_app: GuongSang, zalo: FakeZalo, zalo_web: httpx.AsyncClient, clock: Clock
) -> None:
    app = zalo_app
    await sync_blocks(app)
    head = ZaloChat(zalo.user("zalo-kd", "Hà"))
    await head.send(f"/join {await invite_code(app, 'unit_head', BLOCK_UNITS['kd'])}")

    text = await head.send("/baocao")
    assert "Gõ số của mục bạn cần" in text
    # A member of the block, not its head: no block files on offer.
    assert "Kết quả chấm điểm khối" not in text
    await head.choose("Báo cáo chỉ tiêu tháng")
    text = await head.choose("Thanh Xuân")
    assert "tháng nào" in text
    text = await head.send("2023-12")
    assert "24 giờ" in text
    found = LINK.search(text)
    assert found, text
    path = urlsplit(found.group(0)).path

    response = await zalo_web.get(path)
    assert response.status_code == 200
    assert response.headers["content-disposition"].startswith("attachment;")
    sheet = load_workbook(io.BytesIO(response.content)).worksheets[0]
    values = [str(c) for row in sheet.iter_rows(values_only=True) for c in row if c is not None]
    assert BLOCK_UNITS["kd"] in values and BLOCK_UNITS["kg"] not in values

    # The signature changed, or the name swapped: forged.
    token, name = path.split("/")[2:4]
    forged = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert (await zalo_web.get(f"/files/{forged}/{name}")).status_code == 403
    assert (await zalo_web.get(f"/files/{token}/khac.xlsx")).status_code == 403
    assert (await zalo_web.get("/files/not-a-token/x.xlsx")).status_code == 403

    # A day later the link has expired: 410, so the person knows to ask again.
    start = clock.moment
    clock.moment = start + timedelta(hours=25)
    assert (await zalo_web.get(path)).status_code == 410
    clock.moment = start

    # Once the tick has deleted it (two days on), a genuine link finds nothing.
    exports = app.settings.data_dir / "exports"
    assert any(exports.iterdir())
    removed = [p for p in exports.rglob("*.xlsx")]
    for file in removed:
        file.unlink()
    assert (await zalo_web.get(path)).status_code == 404


async def test_exports_older_than_two_days_are_deleted(
    zalo_app: GuongSang, zalo: FakeZalo, zalo_channel: object
) -> None:
    import os
    import time

    exports = zalo_app.settings.data_dir / "exports"
    old, new = exports / "old", exports / "new"
    for folder in (old, new):
        folder.mkdir(parents=True)
        (folder / "a.xlsx").write_bytes(b"x")
    three_days_ago = time.time() - 3 * 86400
    os.utime(old, (three_days_ago, three_days_ago))
    assert await zalo_app.forget_old_exports() == 1
    assert not old.exists() and new.exists()
