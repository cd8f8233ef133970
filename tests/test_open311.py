"""Open311 GeoReport v2 over real HTTP: the spec's fields in JSON and XML, read by the
independent `georeport` client; POST with good, bad and revoked keys, the rate limit, and
the case it files going through the core (card in the ward's group via the outbox)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import aiohttp
import pytest
from georeport import GeoReport
from sqlmodel import col, select

from bot import db, services
from bot.app import Hotline
from bot.services import apikeys
from models.tables import ApiKey, Case, Outbox, Reporter
from tests.conftest import make_settings, migrate
from tests.harness import Person
from tests.public_data import KY_LUA, PUBLIC_RESULT, SECRETS, Seeded, seed, serve

ROOT = Path(__file__).resolve().parent.parent
WINDOW = {"start_date": "2026-11-01T00:00:00+07:00", "end_date": "2026-11-30T23:59:59+07:00"}
REQUEST_FIELDS = {
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
}
OFFSET_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+07:00$")


@pytest.fixture
async def api(sqlite_url: str, tmp_path: Path) -> AsyncIterator[tuple[str, Seeded, Hotline]]:
    await migrate(sqlite_url)
    hotline = Hotline(make_settings(sqlite_url, tmp_path / "media", open311_posts_per_hour=3))
    codes = await seed(hotline)
    async with serve(hotline) as base:
        yield base + "/open311/v2", codes, hotline
    await hotline.close()


async def fetch(url: str, method: str = "GET", **kw: Any) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as http, http.request(method, url, **kw) as r:
        return r.status, r.headers.get("Content-Type", ""), await r.text()


async def test_discovery_and_services_in_json_and_xml(api: tuple) -> None:
    root, _codes, _ = api
    status, ctype, body = await fetch(f"{root}/discovery.json")
    doc = json.loads(body)
    assert status == 200 and ctype.startswith("application/json")
    (endpoint,) = doc["endpoints"]
    assert endpoint["url"].endswith("/open311/v2") and endpoint["specification"]
    assert set(endpoint["formats"]) == {"text/xml", "application/json"}
    status, ctype, body = await fetch(f"{root}/discovery.xml")
    xml = ET.fromstring(body)
    assert ctype.startswith("text/xml") and xml.tag == "discovery"
    assert [f.text for f in xml.iter("format")] == ["text/xml", "application/json"]

    client = GeoReport(root)
    services_ = await asyncio.to_thread(client.get_service_list)
    codes = [s["service_code"] for s in services_]
    assert codes == ["wastewater", "emissions", "solid_waste", "noise", "odour", "other"]
    for service in services_:
        assert set(service) >= {"service_code", "service_name", "description", "metadata"}
        assert service["metadata"] is False and service["type"] == "realtime"
    as_xml = await asyncio.to_thread(GeoReport(root, output_format="xml").get_service_list)
    assert [s["service_code"] for s in as_xml] == codes and as_xml[0]["metadata"] == "false"
    definition = await asyncio.to_thread(client.get_service_definition, "noise")
    assert definition == {"service_code": "noise", "attributes": []}
    status, _, body = await fetch(f"{root}/services/smell.json")
    assert status == 404 and json.loads(body)[0]["code"] == 404


async def test_requests_are_read_by_georeport_with_offsets_and_results(api: tuple) -> None:
    root, codes, _ = api
    for fmt in ("json", "xml"):
        client = GeoReport(root, output_format=fmt)
        found = await asyncio.to_thread(client.get_service_requests, **WINDOW)
        ids = [r["service_request_id"] for r in found]
        assert ids == [codes.late, codes.open_, codes.hidden, codes.public], fmt  # newest first
        for request in found:
            assert set(request) == REQUEST_FIELDS, fmt
            assert OFFSET_RE.match(request["requested_datetime"]), request
            assert OFFSET_RE.match(request["updated_datetime"]), request
        by_id = {r["service_request_id"]: r for r in found}
        assert by_id[codes.public]["status"] == "closed"
        assert by_id[codes.public]["status_notes"] == PUBLIC_RESULT
        assert by_id[codes.public]["requested_datetime"] == "2026-11-02T08:00:00+07:00"
        assert by_id[codes.open_]["status"] == "open"
        assert "không được công khai" in by_id[codes.hidden]["status_notes"]
        assert by_id[codes.public]["address"] == "Phường Kỳ Lừa, Lạng Sơn"
        assert float(by_id[codes.public]["lat"]) == 21.8593  # the ward's centroid
        one = await asyncio.to_thread(client.get_service_request, codes.public)
        assert one["service_request_id"] == codes.public and one["status"] == "closed"
    client = GeoReport(root)
    closed = await asyncio.to_thread(client.get_service_requests, status="closed", **WINDOW)
    assert {r["service_request_id"] for r in closed} == {codes.public, codes.hidden, codes.late}
    noise = await asyncio.to_thread(
        client.get_service_requests, service_code="noise,odour", **WINDOW
    )
    assert {r["service_request_id"] for r in noise} == {codes.hidden, codes.open_}
    both = await asyncio.to_thread(
        client.get_service_requests, service_request_id=f"{codes.public},{codes.late}"
    )
    assert [r["service_request_id"] for r in both] == [codes.public, codes.late]


async def test_requests_window_is_at_most_90_days(api: tuple) -> None:
    root, _codes, _ = api
    status, _, body = await fetch(
        f"{root}/requests.json",
        params={"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-06-01T00:00:00Z"},
    )
    assert status == 400 and "90" in json.loads(body)[0]["description"]
    status, _, body = await fetch(f"{root}/requests.xml", params={"start_date": "hôm qua"})
    assert status == 400 and ET.fromstring(body).tag == "errors"
    status, _, _ = await fetch(f"{root}/requests.json", params={"status": "pending"})
    assert status == 400
    status, _, body = await fetch(f"{root}/requests/PA20-999999.json")
    assert status == 404


async def test_no_open311_response_shows_anything_confidential(api: tuple) -> None:
    root, codes, _ = api
    urls = [f"{root}/requests.{f}" for f in ("json", "xml")]
    urls += [f"{root}/requests/{c}.{f}" for c in codes.__dict__.values() for f in ("json", "xml")]
    for url in urls:
        for lang in ("vi", "en"):
            _, _, body = await fetch(url, params={**WINDOW, "lang": lang})
            for name, secret in SECRETS.items():
                assert secret not in body, (url, name)
            assert "21.853" not in body and "106.761" not in body


async def _key(hotline: Hotline, name: str) -> str:
    async with db.session_scope(hotline.sessionmaker) as s:
        _row, key = await apikeys.create_api_key(s, name)
    return key


GOOD_FORM = {
    "service_code": "wastewater",
    "lat": "21.8593",
    "long": "106.7542",
    "description": "NUOC-THAI-OPEN311 chảy ra mương sau chợ Kỳ Lừa",
    "email": "dan@example.vn",
    "phone": "0987 654 321",
    "first_name": "Trần",
    "last_name": "Bình",
}


async def test_post_with_a_good_key_files_a_case_through_the_core(api: tuple) -> None:
    root, _codes, hotline = api
    async with db.session_scope(hotline.sessionmaker) as s:
        code = await services.create_link_code(s, "20", KY_LUA)
    officer = Person(hotline, "900", chat_id="-100900", chat_type="group", name="Cán bộ Lan")
    await officer.command("link", code)
    key = await _key(hotline, "cong-dich-vu-cong")
    status, ctype, body = await fetch(
        f"{root}/requests.json", "POST", data={**GOOD_FORM, "api_key": key}
    )
    assert status == 201 and ctype.startswith("application/json"), body
    (answer,) = json.loads(body)
    code = answer["service_request_id"]
    assert re.fullmatch(r"PA20-\d{6}", code) and code in answer["service_notice"]
    async with hotline.sessionmaker() as s:
        case = (await s.exec(select(Case).where(Case.code == code))).one()
        reporter = await s.get(Reporter, case.reporter_id)
        cards = (
            await s.exec(
                select(Outbox).where(Outbox.chat_id == "-100900", Outbox.case_id == case.id)
            )
        ).all()
    assert case.channel == "open311" and case.ward_code == KY_LUA and case.status == "new"
    assert case.contact_shared and case.contact_phone == "0987 654 321"
    assert reporter is not None and reporter.channel == "open311"
    assert reporter.email == "dan@example.vn" and reporter.full_name == "Trần Bình"
    assert any("NUOC-THAI-OPEN311" in row.payload.get("text", "") for row in cards)
    # What the core tells the requester is taken by the "open311" transport: nothing stuck.
    while await hotline.sender.deliver_due():
        pass
    async with hotline.sessionmaker() as s:
        to_requester = (await s.exec(select(Outbox).where(Outbox.channel == "open311"))).all()
    assert to_requester and {row.status for row in to_requester} == {"sent"}
    assert code in to_requester[0].payload["text"]  # "received, your code is ..."
    # Read back over the API: open, and the description stays confidential.
    client = GeoReport(root)
    read = await asyncio.to_thread(client.get_service_request, code)
    assert read["status"] == "open" and read["service_code"] == "wastewater"
    _, _, listing = await fetch(f"{root}/requests.json", params={"service_request_id": code})
    for secret in ("NUOC-THAI-OPEN311", "dan@example.vn", "0987 654 321", "Bình"):
        assert secret not in listing
    # By address, in XML.
    status, ctype, body = await fetch(
        f"{root}/requests.xml",
        "POST",
        data={
            "api_key": key,
            "service_code": "noise",
            "address_string": "Phường Kỳ Lừa, Lạng Sơn",
            "description": "karaoke quá to lúc nửa đêm",
        },
    )
    assert status == 201 and ET.fromstring(body).find("request/service_request_id") is not None


async def test_post_refuses_bad_keys_bad_fields_and_too_many_requests(api: tuple) -> None:
    root, _codes, hotline = api
    url = f"{root}/requests.json"
    status, _, body = await fetch(url, "POST", data={**GOOD_FORM, "api_key": "h311_wrong"})
    assert status == 403 and json.loads(body)[0]["code"] == 403
    status, _, _ = await fetch(url, "POST", data=GOOD_FORM)
    assert status == 403
    key = await _key(hotline, "he-thong-a")
    bad = [
        ({"service_code": "smell"}, 400),
        ({"description": ""}, 400),
        ({"description": "x" * 4001}, 400),
        ({"lat": "", "long": ""}, 400),  # neither lat+long nor address_string
        ({"lat": "10.77", "long": "106.70"}, 400),  # Hồ Chí Minh City: outside the province
        ({"phone": "gọi tôi"}, 400),
        ({"email": "không-có"}, 400),
    ]
    for change, expected in bad:
        status, _, body = await fetch(url, "POST", data={**GOOD_FORM, **change, "api_key": key})
        assert status == expected, (change, body)
    status, _, _ = await fetch(
        url, "POST", data={**GOOD_FORM, "description": "y" * 4000, "api_key": key}
    )
    assert status == 201  # 4,000 characters are allowed
    for _ in range(2):
        status, _, _ = await fetch(url, "POST", data={**GOOD_FORM, "api_key": key})
        assert status == 201
    status, _, body = await fetch(url, "POST", data={**GOOD_FORM, "api_key": key})
    assert status == 429 and "giây" in json.loads(body)[0]["description"]  # 3 per hour
    other = await _key(hotline, "he-thong-b")  # the limit is per key
    status, _, _ = await fetch(url, "POST", data={**GOOD_FORM, "api_key": other})
    assert status == 201
    async with db.session_scope(hotline.sessionmaker) as s:
        await apikeys.revoke_api_key(s, "he-thong-b")
    status, _, _ = await fetch(url, "POST", data={**GOOD_FORM, "api_key": other})
    assert status == 403
    async with hotline.sessionmaker() as s:
        filed = (await s.exec(select(Case).where(col(Case.channel) == "open311"))).all()
    assert len(filed) == 4


def test_apikey_commands_print_the_key_last_and_store_only_its_hash(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env.update(
        HOTLINE_PROVINCE="20",
        HOTLINE_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'keys.db'}",
        PYTHONPATH=str(ROOT),
    )

    def hotline(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bot", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=120,
            check=False,
        )

    asyncio.run(db.upgrade_async(env["HOTLINE_DATABASE_URL"]))
    made = hotline("apikey", "create", "--name", "cong-dvc")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"h311_[A-Za-z0-9_-]{40,}", key)
    listed = hotline("apikey", "list")
    assert "cong-dvc" in listed.stdout and "active" in listed.stdout and key not in listed.stdout

    async def _stored() -> list[ApiKey]:
        engine = db.make_engine(env["HOTLINE_DATABASE_URL"])
        try:
            async with db.make_sessionmaker(engine)() as s:
                return list((await s.exec(select(ApiKey))).all())
        finally:
            await engine.dispose()

    (row,) = asyncio.run(_stored())
    assert row.key_hash == apikeys.hash_key(key) and key not in row.key_hash
    revoked = hotline("apikey", "revoke", "cong-dvc")
    assert revoked.returncode == 0 and "revoked" in revoked.stdout
    (row,) = asyncio.run(_stored())
    assert isinstance(row.revoked_at, datetime)


async def test_api_key_names_are_unique_and_revoking_needs_a_known_key(hotline: Hotline) -> None:
    async with db.session_scope(hotline.sessionmaker) as s:
        row, key = await apikeys.create_api_key(s, "cong-dvc")
        with pytest.raises(apikeys.ApiKeyError, match="exists"):
            await apikeys.create_api_key(s, "cong-dvc")
        with pytest.raises(apikeys.ApiKeyError):
            await apikeys.revoke_api_key(s, "nobody")
        assert (await apikeys.api_key_of(s, key)) is not None
        await apikeys.revoke_api_key(s, str(row.id))
        assert (await apikeys.api_key_of(s, key)) is None
