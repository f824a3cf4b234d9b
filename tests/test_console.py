"""The offline console, run as a subprocess exactly as a person runs it in a terminal.

The console uses the real clock, so the campaign file written here is open today. The script
is interactive: the numbers to type depend on what the bot prints (unit search results come
back in the order the database gives), so each answer is chosen from the output that came
before it, read up to the "> " prompt.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import select
import sqlite3
import subprocess
import sys
import threading
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from PIL import Image

from bot.channels.console.channel import PROMPT

REPO = Path(__file__).resolve().parent.parent
UNITS_CSV = REPO / "tests" / "fixtures" / "units-thanh-xuan.csv"
HANOI = ZoneInfo("Asia/Ho_Chi_Minh")
# Every tag of the templates' HTML subset, and the entities html escaping produces.
HTML_TAG = re.compile(r"</?(?:b|i|u|s|code|pre|a)(?:\s[^>]*)?>")
HTML_ENTITY = re.compile(r"&(?:#\d+|#x[0-9a-f]+|lt|gt|amp|quot|apos);", re.IGNORECASE)
CHOICE_LINE = re.compile(r"^  (\d+)\. (.+)$", re.MULTILINE)
STEP_TIMEOUT = 30.0


def cli_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment for a `python -m bot` subprocess: none of the caller's GUONGSANG_*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUONGSANG_")}
    env.update(PYTHONPATH=str(REPO), PYTHONUTF8="1", GUONGSANG_DATA_DIR=str(data_dir), **extra)
    return env


def open_campaign_file(path: Path) -> Path:
    """A campaign open today in Hà Nội (the console's real clock), e.g. 2026-09-01 – 2027-06-30."""
    today = datetime.now(HANOI).date()
    opens, closes = min(date(2026, 9, 1), today - timedelta(days=30)), today + timedelta(days=200)
    path.write_text(
        f"""[[campaigns]]
slug = "thanh-xuan-console"
title = "Cuộc thi viết về gương người tốt, việc tốt quận Thanh Xuân"
organisation = "Phòng GDĐT quận Thanh Xuân"
opens = {opens.isoformat()}
closes = {closes.isoformat()}
focus_areas = ["An toàn trường học", "Chuyển đổi số trong lĩnh vực giáo dục"]
""",
        encoding="utf-8",
    )
    return path


class Console:
    """`python -m bot console --user lan` with a pipe for each end."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.transcript: list[str] = []
        self.banner = ""

    @classmethod
    async def start(
        cls, env: dict[str, str], cwd: Path, stderr: Path, user: str = "lan"
    ) -> Console:
        with stderr.open("wb") as err:  # a file, so a chatty stderr can never block the child
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                "console",
                "--user",
                user,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=err,
                env=env,
                cwd=cwd,
            )
        console = cls(proc)
        console.banner = await console.read_prompt()
        return console

    async def read_prompt(self) -> str:
        """Everything printed up to the next "> " prompt (which is left out)."""
        assert self.proc.stdout is not None
        buffer = b""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STEP_TIMEOUT
        while not (buffer == b"> " or buffer.endswith(b"\n> ")):
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"no prompt within {STEP_TIMEOUT}s; got: {buffer.decode()}")
            chunk = await asyncio.wait_for(self.proc.stdout.read(65536), remaining)
            if not chunk:
                raise AssertionError(f"the console ended early; last output: {buffer.decode()}")
            buffer += chunk
        text = buffer[:-2].decode("utf-8")
        self.transcript.append(text)
        return text

    async def read_until(self, text: str) -> str:
        """Everything printed up to `text`, which a message from the outbox ends with."""
        assert self.proc.stdout is not None
        buffer = b""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STEP_TIMEOUT
        while text.encode("utf-8") not in buffer:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"no {text!r} within {STEP_TIMEOUT}s; got: {buffer.decode()}")
            chunk = await asyncio.wait_for(self.proc.stdout.read(65536), remaining)
            if not chunk:
                raise AssertionError(f"the console ended early; last output: {buffer.decode()}")
            buffer += chunk
        printed = buffer.decode("utf-8")
        self.transcript.append(printed)
        return printed

    async def send(self, line: str) -> str:
        """Type one line and return the answer printed before the next prompt."""
        assert self.proc.stdin is not None
        self.transcript.append(f"> {line}\n")
        self.proc.stdin.write(line.encode("utf-8") + b"\n")
        await self.proc.stdin.drain()
        return await self.read_prompt()

    async def quit(self) -> int:
        """/quit, then the exit status."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"/quit\n")
        await self.proc.stdin.drain()
        self.proc.stdin.close()
        return await asyncio.wait_for(self.proc.wait(), STEP_TIMEOUT)

    def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()

    @property
    def output(self) -> str:
        return "".join(self.transcript)


def number_of(answer: str, label: str) -> str:
    """The number printed before the choice whose text contains `label`."""
    options = {number: text for number, text in CHOICE_LINE.findall(answer)}
    matches = [number for number, text in options.items() if label in text]
    assert len(matches) == 1, f"one choice with {label!r} expected in:\n{answer}"
    return matches[0]


def run_cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


async def test_console_story_from_start_to_mine(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = cli_env(data, GUONGSANG_CONFIG=str(open_campaign_file(tmp_path / "campaigns.toml")))
    done = run_cli(["units", "import", str(UNITS_CSV)], env, tmp_path)
    assert done.returncode == 0, done.stderr
    photo = tmp_path / "hoat-dong.jpg"
    Image.new("RGB", (320, 240), (200, 120, 40)).save(photo, "JPEG")

    console = await Console.start(env, tmp_path, tmp_path / "stderr.txt")
    try:
        assert "/photo" in console.banner and "/start" in console.banner

        answer = await console.send("/start")
        assert "Họ và tên" in answer
        answer = await console.send("Nguyễn Thị Lan")
        assert "đơn vị" in answer
        answer = await console.send("kim giang")
        # Three schools match; the numbers are whatever the console printed.
        assert len(CHOICE_LINE.findall(answer)) == 3, answer
        answer = await console.send(number_of(answer, "Trường Tiểu học Kim Giang"))
        assert "Số điện thoại" in answer
        assert "hãy gõ số điện thoại" in answer and "Bấm nút" not in answer  # no share-phone button
        answer = await console.send("091 234 5678")
        assert "Trường Tiểu học Kim Giang" in answer and "0912345678" in answer
        assert "[Menu:" in answer

        answer = await console.send("✍️ Viết bài mới")  # the menu label, typed
        assert "Bước 1" in answer
        answer = await console.send("Cô Phạm Thu Hà")
        assert "Bước 2" in answer
        answer = await console.send("Số 8 ngõ 102 Kim Giang, quận Thanh Xuân, Hà Nội")
        assert "Bước 3" in answer
        answer = await console.send(number_of(answer, "An toàn trường học"))
        assert "Bước 4" in answer
        answer = await console.send("Người giữ cổng trường an toàn")
        assert "Bước 5" in answer
        answer = await console.send("Mỗi sáng cô Hà đứng ở cổng trường từ sáu giờ.")
        assert "11 / 2.000 từ" in answer, answer
        answer = await console.send("Cô nhắc từng em đội mũ bảo hiểm khi lên xe.")
        assert "22 / 2.000 từ" in answer, answer
        answer = await console.send(number_of(answer, "Xong phần bài viết"))
        assert "Bước 6" in answer

        answer = await console.send(f"/photo {photo}")
        assert "Đã nhận ảnh" in answer and "1 / 10" in answer, answer
        answer = await console.send(number_of(answer, "Xong phần ảnh"))
        # The preview shows the stored copy's path, which must be a real file in the data dir.
        (shown,) = re.findall(r"^\[ảnh: (.+)\]$", answer, re.MULTILINE)
        assert Path(shown).is_relative_to(data / "media"), shown
        assert await asyncio.to_thread(Path(shown).is_file), shown
        for expected in ("Cô Phạm Thu Hà", "An toàn trường học", "22 / 2.000 từ", "1 ảnh"):
            assert expected in answer, expected

        answer = await console.send(number_of(answer, "Gửi bài"))
        code = f"GS-{datetime.now(HANOI).year}-0001"
        assert code in answer, answer
        answer = await console.send("/mine")
        assert code in answer and "Người giữ cổng trường an toàn" in answer

        assert await console.quit() == 0
    finally:
        console.kill()

    output = console.output
    # Choices are numbered lines in the terminal; the story flow showed many of them.
    assert len(CHOICE_LINE.findall(output)) >= 10
    assert not HTML_TAG.search(output), HTML_TAG.search(output)
    assert not HTML_ENTITY.search(output), HTML_ENTITY.search(output)
    assert "Traceback" not in (tmp_path / "stderr.txt").read_text(encoding="utf-8")
    # What the console said happened is what the database holds.
    with sqlite3.connect(data / "guongsang.db") as conn:
        rows = list(conn.execute("SELECT code, status, word_count FROM submissions"))
    assert rows == [(code, "submitted", 22)]


async def test_console_photo_path_that_does_not_exist(tmp_path: Path) -> None:
    # A mistyped path is the commonest console mistake: a polite answer, and the session goes on.
    env = cli_env(tmp_path / "data")
    console = await Console.start(env, tmp_path, tmp_path / "stderr.txt")
    try:
        answer = await console.send("/photo /no/such/file.jpg")
        assert "Không tìm thấy tệp «/no/such/file.jpg»" in answer, answer
        answer = await console.send(f"/photo {tmp_path}")  # a folder is not a photo either
        assert "Không tìm thấy tệp" in answer, answer
        answer = await console.send("/start")
        assert "Họ và tên" in answer  # still answering
        assert await console.quit() == 0
    finally:
        console.kill()
    assert "Traceback" not in (tmp_path / "stderr.txt").read_text(encoding="utf-8")


def test_run_without_token_and_without_terminal_says_so(tmp_path: Path) -> None:
    # Under systemd or docker with no token there is nobody to talk to: explain and stop
    # with a configuration error instead of opening a console on a closed stdin.
    data = tmp_path / "data"
    done = run_cli(["run"], cli_env(data), tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Chưa có token" in done.stdout and "GUONGSANG_TELEGRAM_TOKEN" in done.stdout
    assert "Mở bảng điều khiển" not in done.stdout
    assert not (data / "guongsang.db").exists(), "nothing should have been started"


class Terminal:
    """`python -m bot console` on a pseudo-terminal, as a person runs it in a terminal window;
    what it prints is drained by a thread so its echo can never block it."""

    def __init__(self, env: dict[str, str], cwd: Path, stderr: Path) -> None:
        self.master, slave = os.openpty()
        with stderr.open("wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bot", "console", "--user", "lan"],
                stdin=slave, stdout=slave, stderr=err, env=env, cwd=cwd, start_new_session=True,
            )  # fmt: skip
        os.close(slave)
        self.output = bytearray()
        self._drain = threading.Thread(target=self._read, daemon=True)
        self._drain.start()
        self.seen = 0

    def _read(self) -> None:
        while True:
            # Writing a long paste makes the descriptor non-blocking: wait for output first.
            select.select([self.master], [], [], 1.0)
            try:
                chunk = os.read(self.master, 65536)
            except BlockingIOError:
                continue
            except OSError:
                return
            if not chunk:
                return
            self.output += chunk

    async def wait_for(self, text: str) -> str:
        """The output from the last wait up to `text`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STEP_TIMEOUT
        while True:
            printed = bytes(self.output).decode("utf-8", "replace")
            found = printed.find(text, self.seen)
            if found >= 0:
                answer, self.seen = printed[self.seen : found + len(text)], found + len(text)
                return answer
            if loop.time() > deadline or self.proc.poll() is not None:
                raise AssertionError(f"no {text!r} within {STEP_TIMEOUT}s: {printed[self.seen :]}")
            await asyncio.sleep(0.05)

    async def type(self, line: str) -> None:
        """Type (or paste) one line and Enter, however long it is."""
        data = line.encode("utf-8") + b"\n"
        os.set_blocking(self.master, False)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STEP_TIMEOUT
        while data:
            try:
                data = data[os.write(self.master, data) :]
            except BlockingIOError:
                if loop.time() > deadline:
                    raise AssertionError("the console stopped reading") from None
                await asyncio.sleep(0.01)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=STEP_TIMEOUT)
        os.close(self.master)
        self._drain.join(timeout=STEP_TIMEOUT)


async def test_a_story_pasted_as_one_long_line_in_a_terminal_arrives_whole(
    tmp_path: Path,
) -> None:
    # A terminal in canonical mode keeps 4,095 bytes of a line: a pasted story was cut there.
    env = cli_env(
        tmp_path / "data",
        GUONGSANG_CONFIG=str(open_campaign_file(tmp_path / "campaigns.toml")),
        TERM="dumb",
    )
    assert run_cli(["units", "import", str(UNITS_CSV)], env, tmp_path).returncode == 0
    story = " ".join(["Cô Lan mở lớp học miễn phí cho các em nhỏ."] * 150)
    assert len(story.encode("utf-8")) > 2 * 4095
    terminal = Terminal(env, tmp_path, tmp_path / "stderr.txt")
    try:
        await terminal.wait_for("Bắt đầu bằng /start.")
        for line, answer in [
            ("/start", "Họ và tên"),
            ("Nguyễn Thị Lan", "đơn vị"),
            ("thcs le quy don", "Số điện thoại"),
            ("0912345678", "Đã lưu thông tin"),
            ("/new", "Bước 1"),
            ("Cô Phạm Thu Hà", "Bước 2"),
            ("Số 8 ngõ 102 Kim Giang", "Bước 3"),
            ("An toàn trường học", "Bước 4"),
            ("Người giữ cổng trường", "Bước 5"),
        ]:
            await terminal.type(line)
            await terminal.wait_for(answer)
            # The prompt: readline has the terminal again (between lines it is in canonical
            # mode, which keeps 4,095 bytes of a line typed before the prompt is back).
            await terminal.wait_for(PROMPT)
        await terminal.type(story)
        answer = await terminal.wait_for(" / 2.000 từ")
        assert answer.endswith("1.650 / 2.000 từ"), answer[-300:]
    finally:
        terminal.close()
    assert "Traceback" not in (tmp_path / "stderr.txt").read_text(encoding="utf-8")


async def test_two_consoles_each_print_their_own_and_a_decision_once(tmp_path: Path) -> None:
    # A teacher and her principal, each in a terminal, on the same database.
    env = cli_env(tmp_path / "data", GUONGSANG_CONFIG=str(open_campaign_file(tmp_path / "c.toml")))
    assert run_cli(["units", "import", str(UNITS_CSV)], env, tmp_path).returncode == 0
    made = run_cli(["invite", "--role", "unit_head", "--unit", "THCS-LQD", "--json"], env, tmp_path)
    code = json.loads(made.stdout.strip().splitlines()[-1])["code"]
    photo = tmp_path / "hoat-dong.jpg"
    Image.new("RGB", (320, 240), (200, 120, 40)).save(photo, "JPEG")

    principal = await Console.start(env, tmp_path, tmp_path / "binh.txt", user="binh")
    teacher = await Console.start(env, tmp_path, tmp_path / "lan.txt", user="lan")
    try:
        assert "Trường THCS Lê Quý Đôn" in await principal.send(f"/join {code}")
        assert "chức vụ" in await principal.send("Trần Văn Bình")
        await principal.send("Hiệu trưởng")
        for line in (
            "/start", "Nguyễn Thị Lan", "thcs le quy don", "0912345678", "/new",
            "Cô Phạm Thu Hà", "Số 8 ngõ 102 Kim Giang", "An toàn trường học",
            "Người giữ cổng trường", "Mỗi sáng cô Hà đứng ở cổng trường từ sáu giờ.",
        ):  # fmt: skip
            answer = await teacher.send(line)
        answer = await teacher.send(number_of(answer, "Xong phần bài viết"))
        answer = await teacher.send(f"/photo {photo}")
        answer = await teacher.send(number_of(answer, "Xong phần ảnh"))
        answer = await teacher.send(number_of(answer, "Gửi bài"))
        assert "Mã bài" in answer, answer

        # The card is the principal's: it prints in the principal's terminal.
        card = await principal.read_until("/tralai")
        assert "gửi tới binh" in card and "Bài cần Hiệu trưởng xác nhận" in card, card
        # The decided card's edit comes from the outbox and may print just after the prompt,
        # in the same read: read up to its outcome line, not up to a prompt.
        assert principal.proc.stdin is not None
        principal.proc.stdin.write(number_of(card, "Xác nhận").encode() + b"\n")
        await principal.proc.stdin.drain()
        printed = await principal.read_until("Hiệu trưởng xác nhận —")
        assert printed.count("Đã ghi nhận") == 1, printed
        # The card, decided, is not printed again in full: only its new outcome line.
        updated = printed.split("được cập nhật]")[-1]
        assert "Tiêu đề" not in updated and "Xác nhận" not in updated, updated
        told = await teacher.read_until("chuyển tới người chấm")
        assert "gửi tới lan" in told, told
        assert await teacher.quit() == 0 and await principal.quit() == 0
    finally:
        teacher.kill()
        principal.kill()
    assert "gửi tới binh" not in teacher.output, "another person's message in Lan's terminal"
    assert "gửi tới lan" not in principal.output


async def test_the_quick_start_ladder_sends_a_story_up_in_the_console(tmp_path: Path) -> None:
    # Nothing configured, as after ./scripts/start: the built-in campaign runs through the
    # education office up to the Home Affairs office, so a newcomer can try nominating up.
    # Each person opens the console when they have work, one at a time, as one person trying
    # it on one machine would; what came meanwhile waited in the outbox and is printed when
    # their console opens (several consoles at once: the test above). Such messages may print
    # after the prompt, so from then on each step reads up to the words it expects.
    env = cli_env(tmp_path / "data")
    assert run_cli(["units", "import", str(UNITS_CSV)], env, tmp_path).returncode == 0

    def invite(*args: str) -> str:
        made = run_cli(["invite", *args, "--json"], env, tmp_path)
        assert made.returncode == 0, made.stderr
        return json.loads(made.stdout.strip().splitlines()[-1])["code"]

    photo = tmp_path / "hoat-dong.jpg"
    Image.new("RGB", (320, 240), (200, 120, 40)).save(photo, "JPEG")
    opened: list[Console] = []

    async def reopen(user: str, expect: str) -> tuple[Console, str]:
        """The console of someone with messages waiting: read up to `expect`."""
        with (tmp_path / f"{user}-2.txt").open("wb") as err:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "console", "--user", user,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=err,
                env=env, cwd=tmp_path,
            )  # fmt: skip
        console = Console(proc)
        opened.append(console)
        return console, await console.read_until(expect)

    async def ask(console: Console, line: str, expect: str) -> str:
        """Type a line; what is printed up to `expect`."""
        assert console.proc.stdin is not None
        console.proc.stdin.write(line.encode("utf-8") + b"\n")
        await console.proc.stdin.drain()
        return await console.read_until(expect)

    def last_number(printed: str, label: str) -> str:
        """The number of the newest choice containing `label` (a card edited after a reply
        repeats the reply's choice)."""
        return [n for n, text in CHOICE_LINE.findall(printed) if label in text][-1]

    try:
        for user, code, name in (
            ("binh", invite("--role", "unit_head", "--unit", "THCS-LQD"), "Trần Văn Bình"),
            ("thu", invite("--role", "reviewer", "--organisation", "Phòng GDĐT quận Thanh Xuân"),
             "Vũ Thị Thu"),
            ("nam", invite("--role", "reviewer", "--organisation", "Phòng Nội vụ quận Thanh Xuân"),
             "Trần Văn Nam"),
        ):  # fmt: skip
            console = await Console.start(env, tmp_path, tmp_path / f"{user}.txt", user=user)
            opened.append(console)
            await console.send(f"/join {code}")
            await console.send(name)
            await console.send("Hiệu trưởng" if user == "binh" else "Chuyên viên")
            assert await console.quit() == 0

        lan = await Console.start(env, tmp_path, tmp_path / "lan.txt", user="lan")
        opened.append(lan)
        for line in (
            "/start", "Nguyễn Thị Lan", "thcs le quy don", "0912345678", "/new",
            "Cô Phạm Thu Hà", "Số 8 ngõ 102 Kim Giang", "An toàn trường học",
            "Người giữ cổng trường", "Mỗi sáng cô Hà đứng ở cổng trường từ sáu giờ.",
        ):  # fmt: skip
            answer = await lan.send(line)
        answer = await lan.send(number_of(answer, "Xong phần bài viết"))
        answer = await lan.send(f"/photo {photo}")
        answer = await lan.send(number_of(answer, "Xong phần ảnh"))
        answer = await lan.send(number_of(answer, "Gửi bài"))
        code = re.search(r"GS-\d{4}-\d{4}", answer).group(0)  # type: ignore[union-attr]
        assert await lan.quit() == 0

        binh, card = await reopen("binh", "/tralai")
        await ask(binh, last_number(card, "Xác nhận"), "Đã ghi nhận")
        assert await binh.quit() == 0

        thu, card = await reopen("thu", "/tuchoi")
        # The district reviewer who approved is offered the level above, by number.
        answer = await ask(thu, last_number(card, "Duyệt"), "/guilen")
        answer = await ask(
            thu, last_number(answer, "Chọn gửi lên Phòng Nội vụ quận Thanh Xuân"), "ghi chú đề cử"
        )
        answer = await ask(thu, "Tấm gương tiêu biểu của trường tháng này.", "được gửi lên")
        assert f"Đã ghi nhận: bài {code} được gửi lên Phòng Nội vụ quận Thanh Xuân" in answer
        assert await thu.quit() == 0

        # The Home Affairs reviewer's console gets the card with the lower level's note.
        nam, card = await reopen("nam", "/khongchon")
        card = card.split("Bài được gửi lên Phòng Nội vụ quận Thanh Xuân")[-1]
        assert code in card and "cấp 2/2" in card
        assert "Tấm gương tiêu biểu của trường tháng này." in card
        answer = await ask(nam, last_number(card, "Chọn"), f"chọn bài {code}")
        assert f"Phòng Nội vụ quận Thanh Xuân chọn bài {code}" in answer, answer
        assert await nam.quit() == 0

        # Lan, back at her console, reads what happened to her story meanwhile.
        lan, told = await reopen("lan", "được Phòng Nội vụ quận Thanh Xuân chọn")
        assert code in told
        assert await lan.quit() == 0
    finally:
        for console in opened:
            console.kill()
    for user in ("binh", "thu", "nam", "lan", "binh-2", "thu-2", "nam-2", "lan-2"):
        err = tmp_path / f"{user}.txt"
        assert "Traceback" not in err.read_text(encoding="utf-8"), user
