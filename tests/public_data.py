"""A known data set for the public pages and Open311, and a server that serves them.

Its cases carry distinctive secrets (description, suspected source, typed address, GPS
digits, the reporter's phone, name and email, a result kept off the public pages): the
privacy tests look for each of them in every public response.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aiohttp import web

from bot import db, services
from bot.app import Hotline
from bot.web.public import setup_public
from models.enums import CaseAction, RejectReason

KY_LUA = "06187"  # Phường Kỳ Lừa
DONG_KINH = "05977"  # Phường Đông Kinh
T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)  # 08:00 local, 2 November 2026

SECRETS = {
    "description": "MOTA-BIMAT-7731 nước thải đen chảy ra suối",
    "source": "NGUONTHAI-BIMAT-4412",
    "address": "SONHA-BIMAT-99 ngõ 7",
    "phone": "0912 345 678",
    "name": "TENNGUOI-BIMAT",
    "email": "bimat-8812@example.vn",
    "lat": "21.8537123",
    "lon": "106.7612345",
    "hidden_result": "KETQUA-AN-5555",
}
PUBLIC_RESULT = "Đã yêu cầu cơ sở dừng xả thải, phạt 20 triệu đồng."


@dataclass(frozen=True)
class Seeded:
    """Codes of the known cases."""

    public: str  # resolved after 10 h, result published
    hidden: str  # rejected after 5 h, result not published
    open_: str  # still new
    late: str  # resolved after 300 h (past the 240 h result deadline)


async def _file(
    hotline: Hotline, ward: str, category: str, filed_at: datetime, *, secrets: bool
) -> int:
    async with db.session_scope(hotline.sessionmaker) as s:
        reporter = await services.get_reporter(s, "telegram", f"77{filed_at:%d%H%M}{category}")
        if secrets:
            reporter.phone = SECRETS["phone"]
            reporter.full_name = SECRETS["name"]
            reporter.email = SECRETS["email"]
        case = await services.create_case(
            s,
            province_code="20",
            reporter=reporter,
            fields={
                "ward_code": ward,
                "category": category,
                "latitude": float(SECRETS["lat"]) if secrets else None,
                "longitude": float(SECRETS["lon"]) if secrets else None,
                "address": SECRETS["address"] if secrets else "gần chợ",
                "location_source": "gps" if secrets else "address",
                "nature": "now",
                "suspected_source": SECRETS["source"] if secrets else None,
                "description": SECRETS["description"] if secrets else "mùi hôi khó chịu",
                "description_language": "vi",
                "contact_shared": secrets,
                "contact_phone": SECRETS["phone"] if secrets else None,
                "channel": "telegram",
            },
            evidence=[],
            verify_hours=24,
            actor="reporter",
            now=filed_at,
            deadlines=hotline.deadlines,
        )
        return case.id or 0


async def _close(
    hotline: Hotline, case_id: int, at: datetime, text: str, *, reject: bool = False
) -> str:
    async with db.session_scope(hotline.sessionmaker) as s:
        case = await services.get_case(s, case_id)
        assert case is not None
        case.result_text = text
        if reject:
            case.reject_reason = RejectReason.NOT_POLLUTION.value
        action = CaseAction.REJECT if reject else CaseAction.RESOLVE
        await services.apply_action(s, case, action, actor="telegram:1 Cán bộ", now=at)
        return case.code


async def seed(hotline: Hotline) -> Seeded:
    """Four cases in two wards, and the contact points of Kỳ Lừa."""
    a = await _file(hotline, KY_LUA, "wastewater", T0, secrets=True)
    b = await _file(hotline, KY_LUA, "noise", T0 + timedelta(hours=1), secrets=True)
    c = await _file(hotline, DONG_KINH, "odour", T0 + timedelta(hours=2), secrets=True)
    d = await _file(hotline, DONG_KINH, "emissions", T0 + timedelta(hours=3), secrets=False)
    public = await _close(hotline, a, T0 + timedelta(hours=10), PUBLIC_RESULT)
    hidden = await _close(
        hotline, b, T0 + timedelta(hours=6), SECRETS["hidden_result"], reject=True
    )
    late = await _close(
        hotline, d, T0 + timedelta(hours=303), "Đã xử lý, cơ sở cam kết khắc phục."
    )
    async with db.session_scope(hotline.sessionmaker) as s:
        case = await services.case_by_code(s, hidden)
        assert case is not None
        case.result_public = False
        case.result_public_reason = "liên quan vụ án"
        open_case = await services.get_case(s, c)
        assert open_case is not None
        await services.save_ward_contact(
            s,
            KY_LUA,
            {
                "receive_phone": "0205 3812 345",
                "receive_email": "tiepnhan.kylua@langson.gov.vn",
                "handle_phone": "0205 3812 346",
                "handle_email": "xuly.kylua@langson.gov.vn",
            },
        )
        return Seeded(public=public, hidden=hidden, open_=open_case.code, late=late)


@asynccontextmanager
async def serve(hotline: Hotline) -> AsyncIterator[str]:
    """The public pages and Open311 on 127.0.0.1 (a free port): the base URL."""
    app = web.Application()
    setup_public(app, hotline)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server  # noqa: SLF001  (the port the OS chose)
    assert server is not None
    port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
