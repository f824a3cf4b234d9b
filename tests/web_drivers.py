"""Drive the personal page of someone who writes on the web, as a browser would, over HTTP."""

from __future__ import annotations

import html
import re

import httpx

SCHOOL = "Trường THCS Lê Quý Đôn"


class Page:
    """A person's personal page, used as a browser would: read it, press, type."""

    def __init__(self, web: httpx.AsyncClient, path: str) -> None:
        self.web = web
        self.path = path
        self.html = ""

    async def load(self) -> str:
        answer = await self.web.get(self.path)
        assert answer.status_code == 200, answer.text
        self.html = answer.text
        return self.html

    @property
    def csrf(self) -> str:
        found = re.search(r'name="csrf" value="([0-9a-f]+)"', self.html)
        assert found, self.html
        return found.group(1)

    def text(self) -> str:
        """What the bot said, as the page shows it."""
        said = re.findall(r'<div class="bot">(.*?)</div>', self.html, re.S)
        return html.unescape("\n".join(said))

    async def post(self, **form: str) -> str:
        answer = await self.web.post(self.path, data={"csrf": self.csrf, **form})
        assert answer.status_code == 303, answer.text
        assert answer.headers["location"] == self.path
        await self.load()
        return self.text()

    async def send(self, text: str) -> str:
        return await self.post(text=text)

    async def press(self, label: str) -> str:
        buttons = re.findall(
            r'<button type="submit" name="(button|text)" value="([^"]*)">(.*?)</button>', self.html
        )
        for name, value, shown in buttons:
            if label in html.unescape(shown):
                return await self.post(**{name: html.unescape(value)})
        raise AssertionError(f"no button {label!r} in {buttons}")


async def joined(web: httpx.AsyncClient, code: str) -> Page:
    """Open the invitation and accept it; the personal page."""
    offer = await web.get(f"/join/{code}")
    assert offer.status_code == 200 and "Bắt đầu" in offer.text
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', offer.text)
    assert csrf
    answer = await web.post(f"/join/{code}", data={"csrf": csrf.group(1)})
    assert answer.status_code == 303
    page = Page(web, answer.headers["location"])
    assert page.path.startswith("/me/")
    await page.load()
    return page


async def to_photos(page: Page) -> str:
    """Register on the personal page and fill a story up to the photos; the step's text."""
    await page.press("Bắt đầu")
    await page.send("Phạm Thị Thu")
    await page.send("thcs le quy don")
    await page.send("0912345678")
    await page.send("/new")
    await page.send("Nguyễn Thị Lan")
    await page.send("Trường Tiểu học Kim Giang")
    await page.press("An toàn trường học")
    await page.send("Cô giáo Lan")
    await page.send("Cô Lan mở lớp học miễn phí vào chiều thứ Bảy.")
    return await page.press("Xong phần bài viết")
