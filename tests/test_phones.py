"""Phone numbers inside free text (handlers/phones.py): every way people write one is found and
hidden, and the numbers a story legitimately holds (years, dates, decisions, amounts) are not."""

from __future__ import annotations

import pytest

from handlers.phones import has_phone, mask_phones, phone_spans

PHONES = [
    # Mobiles, grouped every usual way.
    "0987654321",
    "0987 654 321",
    "0987.654.321",
    "0987-654-321",
    "098 765 4321",
    "09 87 65 43 21",
    "0912\u00a0345\u00a0678",  # non-breaking spaces, pasted from Word
    "0387 654 321",
    "0562.123.456",
    "0704-123-456",
    "0812 345 678",
    # International forms.
    "+84 987 654 321",
    "+84987654321",
    "+84-987-654-321",
    "+84 (0) 987 654 321",
    "(+84) 987 654 321",
    "0084 987 654 321",
    "84987654321",
    "84 987 654 321",
    "+0987 654 321",
    # Landlines: two- and three-digit area codes.
    "024 3856 1234",
    "02438561234",
    "(024) 3856 1234",
    "(024)3856-1234",
    "024.3856.1234",
    "028 3829 5555",
    "0203 3812 345",
    "+84 24 3856 1234",
    # Eleven-digit mobiles from before 2018, still in old contact lists.
    "0169 123 4567",
    "01234567890",
    # Digits from other scripts (fullwidth, Arabic-Indic) are still digits.
    "０９８７６５４３２１",
    "٠٩٨٧٦٥٤٣٢١",
]

NOT_PHONES = [
    "2023-2024",
    "năm học 2023 - 2024",
    "Quyết định số 1625/QĐ-UBND ngày 20/03/2024",
    "ngày 05.12.2026",
    "05-12-2026",
    "ngày 05.12.2026 30 em học sinh",
    "GS-2024-0001",
    "bài viết 2.000 từ",
    "370 / 2.000 từ",
    "1.500.000 đồng",
    "1.234.567.890 đồng",
    "84.500.000.000 đồng",
    "84.987.654.321 đồng",
    "CCCD 001089012345",
    "031089012345",
    "lúc 08.30 - 10.30",
    "08:30",
    "12345",
    "0123",
    "phòng 0204",
    "0987 654",
    "09876543210123",
    "số tài khoản 0011001234567",
    "v1.0.2",
    "0,5%",
    "Lớp 5A2, 32 học sinh, 15 năm công tác",
]


@pytest.mark.parametrize("phone", PHONES)
def test_every_spelling_of_a_phone_is_found_whole(phone: str) -> None:
    text = f"Liên hệ cô Lan: {phone}, cảm ơn."
    assert has_phone(text)
    masked = mask_phones(text)
    assert masked.startswith("Liên hệ cô Lan: ")
    assert masked.endswith(", cảm ơn.")
    hidden = masked.removeprefix("Liên hệ cô Lan: ").removesuffix(", cảm ơn.")
    # Every digit is hidden and the layout kept: a reader sees a number was there.
    assert not any(ch.isdecimal() for ch in hidden), hidden
    assert len(hidden) == len(phone)
    assert "•" in hidden


@pytest.mark.parametrize("text", NOT_PHONES)
def test_numbers_that_are_not_phones_stay(text: str) -> None:
    assert not has_phone(text), phone_spans(text)
    assert mask_phones(text) == text


@pytest.mark.parametrize("phone", ["0987 654 321", "+84 987 654 321", "024 3856 1234"])
def test_a_phone_next_to_other_numbers_is_hidden_alone(phone: str) -> None:
    text = f"Năm học 2023-2024, QĐ 1625/QĐ-UBND ngày 05.12.2026 {phone} 2.000 từ GS-2024-0001"
    hidden = "".join("•" if c.isdigit() or c == "+" else c for c in phone)
    assert mask_phones(text) == text.replace(phone, hidden)


def test_two_phones_in_a_row_are_both_hidden() -> None:
    text = "Gọi 0912 345 678 0987 654 321 hoặc 024 3856 1234."
    assert mask_phones(text) == "Gọi •••• ••• ••• •••• ••• ••• hoặc ••• •••• ••••."
    assert len(phone_spans(text)) == 3


def test_a_phone_glued_to_words_is_still_hidden() -> None:
    assert mask_phones("SĐT:0987654321.") == "SĐT:••••••••••."
    assert mask_phones("sđt0987654321") == "sđt••••••••••"
    assert mask_phones("Nguyễn Văn A (0987.654.321)") == "Nguyễn Văn A (••••.•••.•••)"


def test_text_without_digits_is_returned_as_is() -> None:
    text = "Cô giáo của những buổi chiều thứ Bảy"
    assert mask_phones(text) is text
    assert not has_phone("")
    assert mask_phones("") == ""


def test_a_long_run_of_digits_is_read_in_linear_time() -> None:
    # A pasted table of numbers must not make the check quadratic (it runs on every story).
    text = " ".join(["12"] * 200_000)
    assert not has_phone(text)
    assert mask_phones(text + " 0987654321").endswith("••••••••••")
