"""Open311 GeoReport v2 routes: discovery, services, requests (GET and POST), each .json/.xml.

Read side: the public view of the cases only (bot/services/public.py), so the citizen's
description, source, address, coordinates and contact never leave; a request's position
is its ward's centroid and its address the ward's name. Write side: POST requests.json
with an API key files a case through the core (filing.py).
"""

from __future__ import annotations

import collections
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.db import read_scope, session_scope
from bot.geo import Gazetteer
from bot.i18n import t
from bot.services import apikeys
from bot.services import public as public_service
from bot.services.public import PublicCase
from bot.web.open311 import formats
from bot.web.open311.filing import Open311Transport, Request, file_request
from models.enums import Category
from models.types import utcnow

if TYPE_CHECKING:
    from bot.app import Hotline

PREFIX = "/open311/v2"
MAX_DAYS = 90
MAX_RESULTS = 1000
MAX_DESCRIPTION = 4000
CATEGORIES = tuple(c.value for c in Category)
HOTLINE_KEY: web.AppKey[Hotline] = web.AppKey("open311_hotline")
LIMITER_KEY: web.AppKey[KeyRateLimiter] = web.AppKey("open311_limiter")
READ_CACHE = "public, max-age=60"


class KeyRateLimiter:
    """At most `limit` requests filed per API key in any `window_s` (this process)."""

    def __init__(
        self, limit: int, window_s: float = 3600.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self.clock = clock
        self._seen: dict[int, collections.deque[float]] = {}

    def take(self, key_id: int) -> float | None:
        """Count one request; None if allowed, else seconds until the next one is."""
        now = self.clock()
        seen = self._seen.setdefault(key_id, collections.deque())
        while seen and seen[0] <= now - self.window_s:
            seen.popleft()
        if len(seen) >= self.limit:
            return seen[0] + self.window_s - now
        seen.append(now)
        return None


class Open311Error(Exception):
    """An error answered as GeoReport's <errors> document."""

    def __init__(self, http_status: int, key: str, /, **params: object) -> None:
        super().__init__(key)
        self.status = http_status
        self.key = key
        self.params = params


def _lang(request: web.Request) -> str:
    return "en" if request.query.get("lang") == "en" else "vi"


def _respond(
    request: web.Request,
    fmt: str,
    root: str,
    item: str | None,
    data: Sequence[Mapping[str, Any]] | Mapping[str, Any],
    *,
    status: int = 200,
    item_tags: Mapping[str, str] | None = None,
    cache: bool = True,
) -> web.Response:
    headers = {"Cache-Control": READ_CACHE if cache else "no-store"}
    if fmt == "xml":
        return web.Response(
            text=formats.to_xml(root, item, data, item_tags),
            status=status,
            content_type="text/xml",
            charset="utf-8",
            headers=headers,
        )
    return web.Response(
        text=json.dumps(data, ensure_ascii=False),
        status=status,
        content_type="application/json",
        charset="utf-8",
        headers=headers,
    )


def _error(request: web.Request, fmt: str, exc: Open311Error) -> web.Response:
    text = t(_lang(request), exc.key, **exc.params)
    response = _respond(
        request,
        fmt,
        "errors",
        "error",
        [{"code": exc.status, "description": text}],
        status=exc.status,
        cache=False,
    )
    if "retry_after" in exc.params:
        response.headers["Retry-After"] = str(exc.params["retry_after"])
    return response


def _format(request: web.Request) -> str:
    fmt = request.match_info.get("fmt", "json")
    if fmt not in ("json", "xml"):
        raise web.HTTPNotFound()
    return fmt


def _handler(
    work: Callable[[web.Request, str], Any],
) -> Callable[[web.Request], Any]:
    async def route(request: web.Request) -> web.StreamResponse:
        fmt = _format(request)
        try:
            response: web.StreamResponse = await work(request, fmt)
            return response
        except Open311Error as exc:
            return _error(request, fmt, exc)

    route.__doc__ = work.__doc__
    return route


# ---------------------------------------------------------------- documents


def _service(code: str, lang: str) -> dict[str, Any]:
    name = t(lang, f"category.{code}")
    return {
        "service_code": code,
        "service_name": name,
        "description": t(lang, "open311.service_description", name=name),
        "metadata": False,
        "type": "realtime",
        "keywords": code.replace("_", " "),
        "group": t(lang, "open311.service_group"),
    }


def _status_notes(case: PublicCase, lang: str) -> str:
    if not case.closed:
        return t(lang, f"status.{case.status}")
    if not case.result_public:
        return t(lang, "open311.result_not_public")
    if case.result_text:
        return case.result_text
    if case.reject_reason:
        return t(lang, f"reject.{case.reject_reason}")
    return t(lang, f"status.{case.status}")


def request_document(case: PublicCase, gazetteer: Gazetteer, lang: str) -> dict[str, Any]:
    """One case as a GeoReport request: public fields only, the position of its ward."""
    ward = gazetteer.ward(case.ward_code)
    ward_name = ward.name if ward else case.ward_code
    return {
        "service_request_id": case.code,
        "status": "closed" if case.closed else "open",
        "status_notes": _status_notes(case, lang),
        "service_name": t(lang, f"category.{case.category}")
        if case.category in CATEGORIES
        else case.category,
        "service_code": case.category,
        # The citizen's own words are confidential (Quy chế 174 Art. 5): never published.
        "description": "",
        "agency_responsible": t(lang, "open311.agency", ward=ward_name),
        "service_notice": "",
        "requested_datetime": formats.w3_datetime(case.filed_at),
        "updated_datetime": formats.w3_datetime(case.closed_at or case.updated_at),
        "expected_datetime": "",
        "address": f"{ward_name}, {gazetteer.province_name}",
        "address_id": "",
        "zipcode": case.ward_code,
        "lat": round(ward.lat, 4) if ward and ward.lat is not None else "",
        "long": round(ward.lon, 4) if ward and ward.lon is not None else "",
        "media_url": "",
    }


# ---------------------------------------------------------------- reads


async def discovery(request: web.Request, fmt: str) -> web.Response:
    """GET discovery.(json|xml): where the endpoint is and what it speaks."""
    hotline = request.app[HOTLINE_KEY]
    root = hotline.settings.public_url or f"{request.scheme}://{request.host}"
    base = f"{root}{PREFIX}"
    data = {
        "changeset": "2026-12-07T00:00:00+07:00",
        "contact": t(_lang(request), "open311.contact"),
        "key_service": t(_lang(request), "open311.key_service"),
        "endpoints": [
            {
                "specification": formats.SPEC_URL,
                "url": base,
                "changeset": "2026-12-07T00:00:00+07:00",
                "type": "production",
                "formats": ["text/xml", "application/json"],
            }
        ],
    }
    return _respond(
        request,
        fmt,
        "discovery",
        None,
        data,
        item_tags={"endpoints": "endpoint", "formats": "format"},
    )


async def services_list(request: web.Request, fmt: str) -> web.Response:
    """GET services.(json|xml): the categories of pollution."""
    lang = _lang(request)
    return _respond(request, fmt, "services", "service", [_service(c, lang) for c in CATEGORIES])


async def service_definition(request: web.Request, fmt: str) -> web.Response:
    """GET services/{code}.(json|xml): a category's definition (it asks for no attributes)."""
    code = request.match_info["code"]
    if code not in CATEGORIES:
        raise Open311Error(404, "open311.error_unknown_service", code=code[:32])
    return _respond(
        request,
        fmt,
        "service_definition",
        None,
        {"service_code": code, "attributes": []},
        item_tags={"attributes": "attribute"},
    )


def _parse_datetime(value: str, name: str) -> datetime:
    text = value.strip().replace(" ", "+")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise Open311Error(400, "open311.error_bad_date", name=name) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=formats.LOCAL_TZ)
    return moment


def _list_param(request: web.Request, name: str) -> list[str]:
    return [
        v.strip() for raw in request.query.getall(name, []) for v in raw.split(",") if v.strip()
    ]


async def requests_list(request: web.Request, fmt: str) -> web.Response:
    """GET requests.(json|xml): cases filed in a window of at most 90 days, ≤ 1,000."""
    hotline = request.app[HOTLINE_KEY]
    gaz = hotline.deps.gazetteer
    lang = _lang(request)
    ids = _list_param(request, "service_request_id")
    async with read_scope(hotline.sessionmaker) as session:
        if ids:
            cases = await public_service.cases_by_codes(
                session, gaz.province_code, ids[:MAX_RESULTS]
            )
        else:
            now = utcnow()
            start_raw, end_raw = request.query.get("start_date"), request.query.get("end_date")
            end = _parse_datetime(end_raw, "end_date") if end_raw else None
            start = _parse_datetime(start_raw, "start_date") if start_raw else None
            if start is None and end is None:
                end = now
            if end is None:
                end = (start or now) + timedelta(days=MAX_DAYS)
            if start is None:
                start = end - timedelta(days=MAX_DAYS)
            if end < start:
                raise Open311Error(400, "open311.error_date_order")
            if end - start > timedelta(days=MAX_DAYS):
                raise Open311Error(400, "open311.error_range", days=MAX_DAYS)
            statuses = _list_param(request, "status")
            wanted: set[str] = set()
            for status in statuses:
                if status == "open":
                    wanted.update({"new", "acknowledged", "verifying"})
                elif status == "closed":
                    wanted.update({"resolved", "rejected"})
                else:
                    raise Open311Error(400, "open311.error_status", status=status[:16])
            codes = _list_param(request, "service_code")
            unknown = [c for c in codes if c not in CATEGORIES]
            if unknown:
                raise Open311Error(404, "open311.error_unknown_service", code=unknown[0][:32])
            cases = await public_service.requests_filed_between(
                session,
                gaz.province_code,
                start,
                end,
                statuses=sorted(wanted),
                categories=codes,
                limit=MAX_RESULTS,
            )
    docs = [request_document(c, gaz, lang) for c in cases]
    return _respond(request, fmt, "service_requests", "request", docs)


async def request_one(request: web.Request, fmt: str) -> web.Response:
    """GET requests/{code}.(json|xml): one case (the id is the case code)."""
    hotline = request.app[HOTLINE_KEY]
    gaz = hotline.deps.gazetteer
    code = request.match_info["code"][:16].upper()
    async with read_scope(hotline.sessionmaker) as session:
        cases = await public_service.cases_by_codes(session, gaz.province_code, [code])
    if not cases:
        raise Open311Error(404, "open311.error_unknown_request", code=code)
    docs = [request_document(cases[0], gaz, _lang(request))]
    return _respond(request, fmt, "service_requests", "request", docs)


# ---------------------------------------------------------------- POST


def _float(value: str, name: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise Open311Error(400, "open311.error_bad_number", name=name) from None
    if not math.isfinite(number):
        raise Open311Error(400, "open311.error_bad_number", name=name)
    return number


def _clean_phone(value: str) -> str | None:
    phone = value.strip()
    if not phone:
        return None
    allowed = set("0123456789+ .-()")
    digits = sum(ch.isdigit() for ch in phone)
    if len(phone) > 32 or not set(phone) <= allowed or not 8 <= digits <= 15:
        raise Open311Error(400, "open311.error_phone")
    return phone


def _clean_email(value: str) -> str | None:
    email = value.strip()
    if not email:
        return None
    local, _, domain = email.partition("@")
    if len(email) > 254 or not local or "." not in domain or any(c.isspace() for c in email):
        raise Open311Error(400, "open311.error_email")
    return email


def check_request(form: Mapping[str, str], gazetteer: Gazetteer) -> Request:
    """The POST's fields checked: a category, a place in the province, a description."""
    code = form.get("service_code", "").strip()
    if code not in CATEGORIES:
        raise Open311Error(400, "open311.error_service_code")
    description = form.get("description", "").strip()
    if not description:
        raise Open311Error(400, "open311.error_description_missing")
    if len(description) > MAX_DESCRIPTION:
        raise Open311Error(400, "open311.error_description_long", limit=MAX_DESCRIPTION)
    lat_raw, long_raw = form.get("lat", "").strip(), form.get("long", "").strip()
    address = form.get("address_string", "").strip()[:500] or None
    lat = lon = None
    ward_code: str | None = None
    if lat_raw and long_raw:
        lat, lon = _float(lat_raw, "lat"), _float(long_raw, "long")
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise Open311Error(400, "open311.error_bad_number", name="lat/long")
        found = gazetteer.locate_point(lat, lon, limit=1)
        if found.outside or not found.suggestions:
            raise Open311Error(400, "open311.error_outside", province=gazetteer.province_name)
        ward_code = found.suggestions[0].ward.code
    elif address:
        found = gazetteer.locate(address, limit=1)
        if found.outside or not found.suggestions:
            raise Open311Error(400, "open311.error_address", province=gazetteer.province_name)
        ward_code = found.suggestions[0].ward.code
    else:
        raise Open311Error(400, "open311.error_location")
    name = " ".join(
        part
        for part in (form.get("first_name", "").strip(), form.get("last_name", "").strip())
        if part
    )[:200]
    return Request(
        category=code,
        ward_code=ward_code,
        description=description,
        latitude=lat,
        longitude=lon,
        address=address,
        email=_clean_email(form.get("email", "")),
        phone=_clean_phone(form.get("phone", "")),
        name=name or None,
    )


async def post_request(request: web.Request, fmt: str) -> web.Response:
    """POST requests.(json|xml): file a case (form-encoded; api_key required)."""
    hotline = request.app[HOTLINE_KEY]
    form = {k: str(v) for k, v in (await request.post()).items() if isinstance(v, str)}
    key = form.get("api_key", "")
    async with read_scope(hotline.sessionmaker) as session:
        row = await apikeys.api_key_of(session, key)
    if row is None or row.id is None:
        raise Open311Error(403, "open311.error_api_key")
    checked = check_request(form, hotline.deps.gazetteer)
    wait = request.app[LIMITER_KEY].take(row.id)
    if wait is not None:
        raise Open311Error(429, "open311.error_rate", retry_after=int(wait) + 1)
    async with session_scope(hotline.sessionmaker) as session:
        code = await file_request(session, hotline.deps, checked, key_id=row.id)
    hotline.sender.wake()
    lang = _lang(request)
    doc = {
        "service_request_id": code,
        "service_notice": t(lang, "open311.filed_notice", code=code),
        "account_id": "",
    }
    return _respond(request, fmt, "service_requests", "request", [doc], status=201, cache=False)


def add_open311_routes(app: web.Application, hotline: Hotline) -> None:
    """Mount /open311/v2/ on `app`, and the transport of the "open311" channel on the hotline."""
    app[HOTLINE_KEY] = hotline
    app[LIMITER_KEY] = KeyRateLimiter(hotline.settings.open311_posts_per_hour)
    if Open311Transport.channel not in hotline.transports:
        hotline.add_transport(Open311Transport())
    fmt = "{fmt:(json|xml)}"
    router = app.router
    router.add_get(f"{PREFIX}/discovery.{fmt}", _handler(discovery))
    router.add_get(f"{PREFIX}/services.{fmt}", _handler(services_list))
    router.add_get(f"{PREFIX}/services/{{code}}.{fmt}", _handler(service_definition))
    router.add_get(f"{PREFIX}/requests.{fmt}", _handler(requests_list))
    router.add_post(f"{PREFIX}/requests.{fmt}", _handler(post_request))
    router.add_get(f"{PREFIX}/requests/{{code}}.{fmt}", _handler(request_one))
