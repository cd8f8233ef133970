"""Tests for handlers.language (language detection of citizen texts)."""

from __future__ import annotations

import ast
import csv
from collections import Counter
from pathlib import Path

import pytest

from bot.app import Hotline
from bot.i18n import t
from handlers import language
from handlers.language import detect_language, judgeable, normalize_locale, reply_locale
from tests.harness import Person

SAMPLES_PATH = Path(__file__).parent / "data" / "language_samples.tsv"
MIN_ACCURACY = 0.95


def _class_of(code: str) -> str:
    """Collapse the Chinese variants into one class."""
    return "zh" if code.startswith("zh") else code


def _load_samples() -> list[tuple[str, str]]:
    with SAMPLES_PATH.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader)
        assert header == ["label", "text"]
        return [(label, text) for label, text in reader]


def test_samples_accuracy() -> None:
    samples = _load_samples()
    assert len(samples) >= 100
    classes = Counter(_class_of(label) for label, _ in samples)
    assert {"vi", "en", "zh"} <= set(classes), classes

    wrong = [
        (label, got, text)
        for label, text in samples
        if _class_of(got := detect_language(text)) != _class_of(label)
    ]
    accuracy = 1 - len(wrong) / len(samples)
    details = "\n".join(f"  expected {exp!r}, got {got!r}: {text}" for exp, got, text in wrong)
    assert accuracy >= MIN_ACCURACY, (
        f"accuracy {accuracy:.3f} < {MIN_ACCURACY}; misclassified:\n{details}"
    )


def test_unaccented_vietnamese_example() -> None:
    assert detect_language("khoi den bay mu mit tu nha may") == "vi"


@pytest.mark.parametrize(
    "text",
    [
        "nuoc thai chay ra song boc mui hoi thoi",
        "xe cho rac do trom ban dem",
        "Khói đen bay mù mịt từ nhà máy",
    ],
)
def test_vietnamese_examples(text: str) -> None:
    assert detect_language(text) == "vi"
    assert reply_locale(text) == "vi"


def test_english_complaint() -> None:
    text = "black smoke from the factory every night"
    assert detect_language(text) == "en"
    assert reply_locale(text) == "en"


def test_english_with_vietnamese_place_name() -> None:
    assert detect_language("Black smoke from the factory in Đồng Nai every night.") == "en"


def test_chinese_is_answered_in_english() -> None:
    assert detect_language("工厂每天晚上排放黑烟").startswith("zh")
    assert reply_locale("工厂每天晚上排放黑烟") == "en"


@pytest.mark.parametrize(
    "text", ["", "   ", "123 456", "!!!", "😡😡🏭", "https://example.com/x?y=1", "ok"]
)
def test_undetermined(text: str) -> None:
    assert detect_language(text) == "und"
    assert reply_locale(text) == "vi"


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("vi", "vi"),
        ("vi-VN", "vi"),
        ("VI_vn", "vi"),
        ("en", "en"),
        ("en-US", "en"),
        ("en-GB", "en"),
        ("zh-hans", "en"),
        ("fr", "en"),
        (None, None),
        ("", None),
        ("  ", None),
    ],
)
def test_normalize_locale(code: str | None, expected: str | None) -> None:
    assert normalize_locale(code) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Dust from the quarry covers our roofs every day.",
        "troi oi mui hoi thoi qua, ai chiu noi",
        "這條河的水變黑了",
        "La fumée noire de l'usine entre dans notre maison.",
    ],
)
def test_deterministic(text: str) -> None:
    results = {detect_language(text) for _ in range(20)}
    assert len(results) == 1, results


def test_lexicon_entries_are_vietnamese_syllables() -> None:
    invalid = sorted(word for word in language._VI_LEXICON if not language._is_vi_syllable(word))
    assert not invalid


def test_module_does_not_import_messaging_frameworks() -> None:
    tree = ast.parse(Path(language.__file__).read_text(encoding="utf-8"))
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module.split(".")[0])
    assert not modules & {"aiogram", "telegram", "telebot", "pyrogram", "telethon"}


# ---------------------------------------------------------------- the language people type


async def test_typed_vietnamese_wins_over_an_english_app(hotline: Hotline) -> None:
    citizen = Person(hotline, "4001", language_code="en")
    await citizen.text("chao ban, toi muon phan anh o nhiem")
    (answer,) = await citizen.texts()
    assert answer.startswith(t("vi", "intake.idle_hint")[:20])
    await citizen.command("report")  # and from then on, still in Vietnamese
    assert "Bước 1/7" in (await citizen.texts())[0]


async def test_short_texts_do_not_lock_a_language_in(hotline: Hotline) -> None:
    citizen = Person(hotline, "4002", language_code="en")
    await citizen.text("alo alo")  # too short to judge: the app's English stays
    await citizen.command("report")
    assert "Step 1/7" in (await citizen.texts())[-1]
    assert not judgeable("alo alo") and not judgeable("ok") and judgeable("khoi den qua troi")


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("alo alo", "vi"),
        ("stinky drains", "en"),
        ("smells like rotten eggs", "en"),
        ("chao ban, toi muon phan anh o nhiem", "vi"),
    ],
)
def test_short_texts_from_the_issue(text: str, language: str) -> None:
    assert detect_language(text) == language
