"""Message catalogues: every key used exists in both languages with the same placeholders."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.i18n import MissingMessage, MissingParameter, catalogue, placeholders, t
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


@pytest.mark.parametrize("locale", ["vi", "en"])
def test_every_message_renders_with_its_parameters(locale: str) -> None:
    """Each key of both catalogues, rendered with the names its msgstr uses: nothing raw left."""
    for key, text in catalogue(locale).items():
        params = {name: f"<{name}>" for name in placeholders(text)}
        rendered = t(locale, key, **params)
        for name in params:
            assert f"<{name}>" in rendered, (key, name)
        assert not placeholders(rendered.replace("{{", "").replace("}}", "")), key


def test_a_missing_parameter_fails_loudly_in_tests() -> None:
    with pytest.raises(MissingParameter, match="intake.sat_thanks"):
        t("vi", "intake.sat_thanks")
    with pytest.raises(MissingParameter):
        t("en", "intake.sat_already", status="x")  # a parameter, but not the one it needs


def test_a_missing_parameter_in_service_reads_as_an_ellipsis(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("HOTLINE_I18N_STRICT")
    text = t("vi", "intake.sat_thanks")
    assert "{code}" not in text and "…" in text
    assert "intake.sat_thanks" in caplog.text


@pytest.mark.parametrize("key", sorted(catalogue("en")))
def test_english_placeholders_are_also_in_vietnamese(key: str) -> None:
    assert placeholders(catalogue("en")[key]) == placeholders(catalogue("vi")[key])


def _calls_without_their_parameters() -> list[str]:
    """Calls in the code that name a catalogue key literally but miss keywords its text
    needs: t(loc, "k"), turn.text("k"), turn.send("k"), turn.answer("k")."""
    import ast

    found: list[str] = []
    vi = catalogue("vi")
    for package in ("handlers", "bot"):
        for path in (ROOT / package).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call):
                    continue
                callee = node.func
                name = (
                    callee.attr if isinstance(callee, ast.Attribute) else getattr(callee, "id", "")
                )
                if name not in ("t", "text", "send", "answer"):
                    continue  # helpers that fill some parameters in (code, who) themselves
                keys = [
                    a.value
                    for a in node.args
                    if isinstance(a, ast.Constant) and isinstance(a.value, str) and a.value in vi
                ]
                if not keys or any(k.arg is None for k in node.keywords):
                    continue  # no literal key, or **params passed on: checked at run time
                given = {k.arg for k in node.keywords}
                for key in keys:
                    missing = placeholders(vi[key]) - given
                    if missing:
                        found.append(f"{path.relative_to(ROOT)}:{node.lineno} {key} {missing}")
    return found


def test_every_literal_key_is_called_with_its_parameters() -> None:
    """A placeholder that reaches people raw («{code}») cannot be shipped: the call sites."""
    assert _calls_without_their_parameters() == []
