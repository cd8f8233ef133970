"""Message catalogues: every key used exists in both languages with the same placeholders."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.i18n import MissingMessage, catalogue, placeholders, t
from models.enums import CaseStatus, Category, EvidenceKind, Nature, RejectReason

ROOT = Path(__file__).resolve().parent.parent
KEY_RE = re.compile(r"\"((?:intake|btn|officer|notify|card|summary|error|cmd)\.[a-z_]+)\"")
VIETNAMESE_LETTERS = re.compile(
    r"[ăâđêôơưàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ]"
)


def _keys_in_code() -> set[str]:
    keys: set[str] = set()
    for package in ("handlers", "bot"):
        for path in (ROOT / package).rglob("*.py"):
            keys.update(KEY_RE.findall(path.read_text(encoding="utf-8")))
    for enum, prefix in (
        (Category, "category"),
        (CaseStatus, "status"),
        (Nature, "nature"),
        (RejectReason, "reject"),
        (EvidenceKind, "evidence"),
    ):
        keys.update(f"{prefix}.{member.value}" for member in enum)
    return keys


def test_catalogues_have_the_same_keys() -> None:
    assert set(catalogue("vi")) == set(catalogue("en"))


def test_every_key_used_in_code_exists() -> None:
    missing = _keys_in_code() - set(catalogue("vi"))
    assert not missing, sorted(missing)


@pytest.mark.parametrize("key", sorted(catalogue("vi")))
def test_placeholders_match(key: str) -> None:
    assert placeholders(catalogue("vi")[key]) == placeholders(catalogue("en")[key])


def test_vietnamese_is_written_with_diacritics() -> None:
    texts = [v for v in catalogue("vi").values() if len(v) > 15]
    with_marks = [v for v in texts if VIETNAMESE_LETTERS.search(v.lower())]
    assert len(with_marks) / len(texts) > 0.95


def test_unknown_key_raises_and_unknown_locale_falls_back() -> None:
    with pytest.raises(MissingMessage):
        t("vi", "no.such.key")
    assert t("fr", "status.new") == "Mới"
