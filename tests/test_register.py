"""The Vietnamese catalogue speaks with one voice (docs/glossary.md): the bot calls itself
"Tổng đài", the citizen's thing is a "phản ánh", buttons read as administrative Vietnamese."""

from __future__ import annotations

import re

import pytest

from bot.i18n import catalogue

# The bot's messages and the public site's pages alike (web.po).
BOT_KEYS = catalogue("vi")

BANNED = [
    (re.compile(r"(?:^|[.!?:]\s+|\n)(?:Tôi|Mình)\b"), "the bot says «Tổng đài», not Tôi/Mình"),
    (re.compile(r"\b(?:tôi|mình) (?:cần|chỉ|chưa|không|tiếp)"), "the bot says «tổng đài»"),
    (re.compile(r"[Vv]ụ việc"), "one term: «phản ánh»"),
    (re.compile(r"Đóng với kết quả"), "the button reads «Báo kết quả xử lý»"),
    (re.compile(r"Tôi nhận xử lý"), "the button reads «Nhận xử lý»"),
    (re.compile(r"outside_competence|not_pollution|\[\d+ photo"), "codes are for machines"),
]


@pytest.mark.parametrize(("pattern", "why"), BANNED, ids=[why for _, why in BANNED])
def test_no_banned_variant_in_the_bots_vietnamese(pattern: re.Pattern[str], why: str) -> None:
    found = sorted(k for k, v in BOT_KEYS.items() if pattern.search(v))
    assert found == [], why


def test_the_citizens_own_words_may_say_toi() -> None:
    """«Xem phản ánh của tôi» is the citizen speaking (a button they press): allowed."""
    assert not BANNED[0][0].search("Xem phản ánh của tôi")


def test_rejection_reasons_are_plain_vietnamese() -> None:
    reasons = {k: v for k, v in BOT_KEYS.items() if k.startswith("reject.")}
    assert reasons and all(" " in v and v[0].isupper() for v in reasons.values())
    assert "thẩm quyền giải quyết" in reasons["reject.outside_competence"]
