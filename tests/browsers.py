"""A real browser for tests: Debian's Chromium, headless, driven by Selenium through the system
chromedriver; no browser is downloaded. One per test module (the `browser` fixture).

Without the browser the tests that need it are skipped, except where
GUONGSANG_REQUIRE_BROWSER=1 or CI=true (`.ci/run`): there they fail, as PostgreSQL's do.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.apps import REPO

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOTS = REPO / "docs" / "screenshots"
T = TypeVar("T")

# Elements whose right edge passes the screen's width (arguments[0]: on a phone, a page wider
# than the screen makes the browser zoom out, so innerWidth itself grows), with what identifies
# them; the page's widths.
OVERFLOW = """
const width = arguments[0];
const out = [];
for (const el of document.querySelectorAll('body *')) {
  const box = el.getBoundingClientRect();
  if (box.width > 0 && (box.right > width + 0.5 || box.left < -0.5)) {
    out.push(el.tagName.toLowerCase() + (el.className ? '.' + el.className : '') +
             ' ' + Math.round(box.left) + '..' + Math.round(box.right) +
             ' «' + (el.textContent || '').trim().slice(0, 40) + '»');
  }
}
return {
  inner: width,
  scroll: document.documentElement.scrollWidth,
  controls: Array.from(document.querySelectorAll('select, button, input')).map(
    el => [el.tagName.toLowerCase() + ':' + (el.name || el.textContent.trim()),
           el.getBoundingClientRect().left, el.getBoundingClientRect().right]),
  overflowing: out,
};
"""


def browser_required() -> bool:
    """Whether a missing browser fails the run (CI) rather than skipping these tests."""
    return os.environ.get("GUONGSANG_REQUIRE_BROWSER") == "1" or os.environ.get("CI") == "true"


@dataclass
class Browser:
    """One headless Chromium for the module; every call runs in a thread, because the page's
    server runs on the test's own event loop and must keep answering while the browser waits."""

    driver: Any

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a blocking WebDriver call off the event loop."""
        return await asyncio.to_thread(fn, *args)

    async def viewport(self, size: tuple[int, int]) -> None:
        """Make the page area exactly `size` CSS pixels, as a phone or a desktop shows it."""
        width, height = size
        await self.call(
            self.driver.execute_cdp_cmd,
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600},
        )

    async def open(self, url: str, width: int) -> dict[str, Any]:
        """Load `url`, wait until it is laid out, and measure what passes `width`."""
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        await self.call(self.driver.get, url)

        def laid_out(_: object) -> bool:
            state = self.driver.execute_script("return document.readyState")
            return state == "complete" and bool(self.driver.find_elements(By.TAG_NAME, "footer"))

        # The footer is the page's last element: once it exists and loading is complete, the
        # page is laid out (it runs no script that could change it later).
        await self.call(WebDriverWait(self.driver, 20).until, laid_out)
        return await self.call(self.driver.execute_script, OVERFLOW, width)

    async def screenshot(self, path: Path) -> None:
        """Save the viewport as a PNG."""
        await self.call(self.driver.save_screenshot, str(path))


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    """Debian's Chromium, headless, started once for the module with a fresh profile."""
    missing = [f"{p} missing" for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing.append("selenium (pip install -e '.[test]') missing")
    if missing:
        message = (
            f"no browser: {', '.join(missing)} missing (apt-get install chromium chromium-driver)"
        )
        if browser_required():
            pytest.fail(message)
        pytest.skip(message)
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
        "--window-size=1280,900",
        "--lang=vi",
        # Pages in the test are served on 127.0.0.1 only; nothing else is ever fetched.
        "--proxy-server=direct://",
        "--proxy-bypass-list=*",
    ):
        options.add_argument(flag)
    with pytest.MonkeyPatch.context() as env:
        # Selenium must never look for (or download) a browser or driver of its own.
        env.setenv("SE_OFFLINE", "true")
        driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        yield Browser(driver)
    finally:
        driver.quit()
