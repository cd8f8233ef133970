"""The log book as officers read it (`/case`): reasons, wards, answers, files and yes/no in
Vietnamese words, never the codes kept in the database."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.geo import Gazetteer
from handlers.audience import Audience
from handlers.case_chats import turn_files_note
from handlers.deadlines import logbook_lines
from models.tables import CaseEvent

AT = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
KY_LUA, TAM_THANH = "06187", "05986"
OWN_WARD = Audience(case_ward=KY_LUA, own_ward=True)


def line(action: str, note: str, actor: str = "telegram:91001 Cán bộ Lan") -> CaseEvent:
    return CaseEvent(case_id=1, at=AT, actor=actor, action=action, to_status="new", note=note)


def render(*events: CaseEvent) -> list[str]:
    gazetteer = Gazetteer("20")
    return logbook_lines(
        list(events),
        OWN_WARD,
        lambda code: gazetteer.ward(code).name,  # type: ignore[union-attr]
    )


def test_reasons_wards_and_yes_no_read_as_words() -> None:
    reject, reassign, yes, no = render(
        line("reject", "outside_competence: Thuộc thẩm quyền của Công an tỉnh."),
        line("reassign", f"{KY_LUA} -> {TAM_THANH}"),
        line("satisfaction", "yes", actor="reporter"),
        line("satisfaction", "no", actor="reporter"),
    )
    assert "outside_competence" not in reject and "thẩm quyền" in reject
    assert "Phường Kỳ Lừa → Phường Tam Thanh" in reassign and "->" not in reassign
    assert yes.endswith("Ý kiến về kết quả: đã được giải quyết")
    assert no.endswith("Ý kiến về kết quả: chưa được giải quyết")


def test_added_information_and_answers_are_told_apart() -> None:
    added, answered = render(
        line("answer", "Khói lại bốc lên sáng nay\n[1 ảnh]", actor="reporter"),
        line("answer", "↩ Khói bốc lên lúc mấy giờ?\nKhoảng 6 giờ sáng", actor="reporter"),
    )
    assert "Người phản ánh bổ sung thông tin: Khói lại bốc lên sáng nay\n[1 ảnh]" in added
    assert "Người phản ánh trả lời câu hỏi: «Khói bốc lên lúc mấy giờ?» → Khoảng 6 giờ" in (
        answered
    )


def test_files_are_counted_in_vietnamese_also_in_older_rows() -> None:
    assert turn_files_note([{"kind": "photo"}, {"kind": "photo"}, {"kind": "document"}]) == (
        "[1 tài liệu, 2 ảnh]"
    )
    (old,) = render(line("join", "Cũng bị khói\n[1 photo, 2 video]", actor="reporter"))
    assert "[1 ảnh, 2 video]" in old and "photo" not in old
