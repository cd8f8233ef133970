"""Tests for bot.geo: offline ward lookup by GPS point, address and ward name."""

from __future__ import annotations

import importlib
import random
import socket
import unicodedata
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from vietnam_provinces import Province, ProvinceCode, Ward, WardCode

from tests import address_set

# Every attempted network access is recorded here (and refused).
_NETWORK_ATTEMPTS: list[str] = []


def _refuse_network(*args: Any, **kwargs: Any) -> Any:
    """Record a network attempt and fail it."""
    _NETWORK_ATTEMPTS.append(repr(args[1:3] if len(args) > 1 else args))
    raise OSError("network access is forbidden in these tests")


@pytest.fixture(scope="module", autouse=True)
def no_network() -> Iterator[None]:
    """Make every socket connection and DNS lookup fail for the whole module."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", _refuse_network)
        mp.setattr(socket.socket, "connect_ex", _refuse_network)
        mp.setattr(socket, "getaddrinfo", _refuse_network)
        mp.setattr(socket, "create_connection", _refuse_network)
        # The online geocoder used by vietnamadminunits.convert_address must never run.
        utils = importlib.import_module("vietnamadminunits.parser.utils")
        converter = importlib.import_module("vietnamadminunits.converter.converter_2025")
        mp.setattr(utils, "get_geo_location", _refuse_network)
        mp.setattr(converter, "get_geo_location", _refuse_network)
        yield


@pytest.fixture(scope="module")
def geo(no_network: None) -> ModuleType:
    """The module under test, imported while the network is blocked."""
    return importlib.import_module("bot.geo")


@pytest.fixture(scope="module")
def lang_son(geo: ModuleType) -> Any:
    """Gazetteer for Lạng Sơn (20)."""
    return geo.get_gazetteer("20")


def _codes(result: Any) -> list[str]:
    """Suggested ward codes, best first."""
    return [s.ward.code for s in result.suggestions]


def _official_name(code: int) -> str:
    """Official province name per vietnam-provinces."""
    return Province.from_code(ProvinceCode(code)).name


def _fold(text: str) -> str:
    """Unaccented lower-case text, for checking the sort order."""
    decomposed = unicodedata.normalize("NFD", text.lower().replace("đ", "d"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


# ----------------------------------------------------------------------------- wards


def test_lang_son_has_65_wards_all_with_centroids(lang_son: Any) -> None:
    """Lạng Sơn's 65 official wards all get a centroid; the list is sorted unaccented."""
    wards = lang_son.wards()
    assert lang_son.province_code == "20"
    assert lang_son.province_name == "Lạng Sơn"
    assert len(wards) == 65
    assert len({w.code for w in wards}) == 65
    assert all(w.province_code == "20" and len(w.code) == 5 for w in wards)
    assert all(w.lat is not None and w.lon is not None for w in wards)
    assert [_fold(w.name) for w in wards] == sorted(_fold(w.name) for w in wards)
    official = {f"{int(w.code):05d}" for w in Ward.iter_all() if int(w.province_code) == 20}
    assert {w.code for w in wards} == official


def test_every_ward_of_the_country_has_a_centroid(geo: ModuleType) -> None:
    """All 3,321 wards of the 34 provinces are matched to a vietnamadminunits centroid."""
    stats = geo.centroid_stats()
    assert len(stats) == 34
    assert stats["20"] == (65, 65)
    assert sum(total for _, total in stats.values()) == 3321
    assert sum(found for found, _ in stats.values()) == 3321


def test_ward_by_code(lang_son: Any) -> None:
    """Wards are looked up by official code, only within the province."""
    ky_lua = lang_son.ward("06187")
    assert ky_lua is not None
    assert ky_lua.name == "Phường Kỳ Lừa" == Ward.from_code(WardCode(6187)).name
    assert lang_son.ward("6187") == ky_lua
    assert lang_son.ward("11407") is None  # Phường An Biên, Hải Phòng
    assert lang_son.ward("abc") is None


def test_unknown_province_code(geo: ModuleType) -> None:
    """Unknown or malformed province codes raise ValueError."""
    for code in ("99", "00", "03", "abc", ""):
        with pytest.raises(ValueError):
            geo.Gazetteer(code)


# ----------------------------------------------------------------------------- GPS


def test_gps_near_ky_lua(lang_son: Any) -> None:
    """A point at Kỳ Lừa's centroid suggests Kỳ Lừa first, then nearer-to-farther wards."""
    result = lang_son.locate_point(21.85926, 106.75417)
    assert not result.outside
    assert result.other_province is None
    assert len(result.suggestions) == 3
    first = result.suggestions[0]
    assert first.ward.code == "06187"
    assert first.reason == "gps"
    assert first.distance_km is not None and first.distance_km < 0.5
    distances = [s.distance_km for s in result.suggestions]
    scores = [s.score for s in result.suggestions]
    assert distances == sorted(distances)
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert len(lang_son.locate_point(21.86, 106.75, limit=5).suggestions) == 5


def test_gps_in_ha_noi_is_outside(lang_son: Any) -> None:
    """A point in Hà Nội is outside Lạng Sơn and names Hà Nội officially."""
    result = lang_son.locate_point(21.0285, 105.8542)
    assert result.outside
    assert result.other_province == _official_name(1) == "Thành phố Hà Nội"
    assert result.suggestions == []


@pytest.mark.parametrize(
    ("lat", "lon"),
    [
        (13.7563, 100.5018),  # Bangkok
        (12.0, 111.0),  # South China Sea, outside the box
        (19.5, 107.5),  # Gulf of Tonkin, inside the box but far from every ward
        (48.85, 2.35),  # Paris
    ],
)
def test_gps_abroad_or_at_sea_is_outside(lang_son: Any, lat: float, lon: float) -> None:
    """Points outside Vietnam are outside with no province named."""
    result = lang_son.locate_point(lat, lon)
    assert result.outside
    assert result.other_province is None
    assert result.suggestions == []


def test_gps_border_tolerance(geo: ModuleType, lang_son: Any) -> None:
    """Near the border a point nearer to a neighbour's centroid stays inside up to ~5 km."""
    tuan_son = lang_son.find_wards_by_name("Xã Tuấn Sơn")[0]
    kep = geo.get_gazetteer("24").find_wards_by_name("Xã Kép")[0]

    def towards_kep(fraction: float) -> tuple[float, float]:
        """A point on the segment from Tuấn Sơn's centroid to Kép's."""
        return (
            tuan_son.lat + (kep.lat - tuan_son.lat) * fraction,
            tuan_son.lon + (kep.lon - tuan_son.lon) * fraction,
        )

    near = lang_son.locate_point(*towards_kep(0.6))  # ~4.2 km from Tuấn Sơn, nearer to Kép
    assert not near.outside
    assert near.suggestions[0].ward == tuan_son
    far = lang_son.locate_point(*towards_kep(0.85))  # ~6 km from Tuấn Sơn
    assert far.outside
    assert far.other_province == _official_name(24)
    assert _codes(far)[:1] == [tuan_son.code]  # still offered: it is close to the border


def _random_points(rnd: random.Random, gazetteer: Any, count: int) -> list[tuple[float, float]]:
    """Points in and around a province: its box widened by 0.6 degrees, and its centroids."""
    lats = [w.lat for w in gazetteer.wards()]
    lons = [w.lon for w in gazetteer.wards()]
    points = [
        (
            rnd.uniform(min(lats) - 0.6, max(lats) + 0.6),
            rnd.uniform(min(lons) - 0.6, max(lons) + 0.6),
        )
        for _ in range(count)
    ]
    return points + [(w.lat, w.lon) for w in gazetteer.wards()[:20]]


def test_the_gps_index_gives_what_the_full_scan_gives(geo: ModuleType) -> None:
    """locate_point (grids built at start-up) equals the scan over every centroid of the
    country, on random points in and around three provinces, across Vietnam and its seas."""
    rnd = random.Random(20)
    cases = [
        (geo.get_gazetteer("20"), _random_points(rnd, geo.get_gazetteer("20"), 2000)),
        (geo.get_gazetteer("79"), _random_points(rnd, geo.get_gazetteer("79"), 500)),
        (geo.get_gazetteer("31"), _random_points(rnd, geo.get_gazetteer("31"), 500)),
        (
            geo.get_gazetteer("20"),
            [(rnd.uniform(6.0, 24.5), rnd.uniform(101.0, 118.0)) for _ in range(500)],
        ),
    ]
    compared = outside = 0
    for gazetteer, points in cases:
        for lat, lon in points:
            limit = rnd.choice((0, 1, 3, 5))
            indexed = gazetteer.locate_point(lat, lon, limit=limit)
            assert indexed == gazetteer.locate_point_scan(lat, lon, limit=limit), (lat, lon)
            compared += 1
            outside += indexed.outside
    assert compared > 3500 and outside > 500 and compared - outside > 500  # both kinds


# ----------------------------------------------------------------------------- addresses


@pytest.mark.parametrize(
    "text",
    [
        "phường Kỳ Lừa, Lạng Sơn",
        "Phường Kỳ Lừa, Tỉnh Lạng Sơn",
        "phuong Ky Lua, Lang Son",
        "ky lua",
        "Kỳ Lừa",
        "số 3 đường Bà Triệu, phường Kỳ Lừa",
        "PHUONG KY LUA",
    ],
)
def test_new_style_address(lang_son: Any, text: str) -> None:
    """2025-style addresses, accented or not, with or without the province."""
    result = lang_son.locate_address(text)
    assert not result.outside
    assert _codes(result)[0] == "06187"
    assert result.suggestions[0].reason == "address"


def test_new_style_commune_without_province(lang_son: Any) -> None:
    """'xa Cao Loc' is the 2025 Xã Cao Lộc (official code, not vietnamadminunits' one)."""
    result = lang_son.locate_address("xa Cao Loc")
    first = result.suggestions[0].ward
    assert first.name == "Xã Cao Lộc"
    assert first.code == "06193"
    assert Ward.from_code(WardCode(6193)).name == "Xã Cao Lộc"


def test_old_style_dong_dang(lang_son: Any) -> None:
    """Old Thị trấn Đồng Đăng (huyện Cao Lộc) became the ward named in the conversion table."""
    from vietnamadminunits.converter import converter_2025

    table = converter_2025.DICT_PROVINCE_WARD_NO_DIVIDED["tinhlangson"]
    new_key = next(
        k for k, olds in table.items() if "tinhlangson_huyencaoloc_thitrandongdang" in olds
    )
    assert new_key == "xadongdang"
    for text in (
        "thi tran Dong Dang, huyen Cao Loc, Lang Son",
        "thi tran Dong Dang, huyen Cao Loc",
        "tt. Đồng Đăng, h. Cao Lộc",
        "Thị trấn Đồng Đăng, Huyện Cao Lộc, Tỉnh Lạng Sơn",
    ):
        result = lang_son.locate_address(text)
        assert not result.outside, text
        first = result.suggestions[0]
        assert (first.ward.code, first.ward.name, first.reason) == (
            "06184",
            "Xã Đồng Đăng",
            "legacy",
        ), text


def test_old_style_hoang_van_thu_ranks_legacy_first(lang_son: Any) -> None:
    """Old Phường Hoàng Văn Thụ of TP Lạng Sơn is now Kỳ Lừa, not Xã Hoàng Văn Thụ."""
    text = "so 5 duong Tran Dang Ninh, phuong Hoang Van Thu, thanh pho Lang Son, tinh Lang Son"
    result = lang_son.locate_address(text)
    codes = _codes(result)
    assert codes[0] == "06187"
    assert result.suggestions[0].reason == "legacy"
    assert "06172" in codes[1:]  # the 2025 parse, kept as a lower-ranked alternative


def test_old_style_city_without_province(lang_son: Any) -> None:
    """Old Phường Chi Lăng of TP Lạng Sơn is now Phường Lương Văn Tri."""
    for text in ("so 12 ngo 3, phuong Chi Lang, tp Lang Son", "phuong Chi Lang"):
        result = lang_son.locate_address(text)
        assert result.suggestions[0].ward.name == "Phường Lương Văn Tri", text
        assert result.suggestions[0].reason == "legacy", text


def test_split_old_ward_yields_all_candidates(lang_son: Any) -> None:
    """An old ward split between new wards yields every candidate, the default first."""
    from vietnamadminunits.converter import converter_2025

    candidates = converter_2025.DICT_PROVINCE_WARD_DIVIDED["tinhlangson"][
        "tinhlangson_huyenbinhgia_xahongphong"
    ]
    assert {c["newWardKey"] for c in candidates} == {"xahongphong", "xadongdang"}
    result = lang_son.locate_address("xa Hong Phong, huyen Binh Gia, Lang Son")
    assert [s.ward.name for s in result.suggestions[:2]] == ["Xã Hồng Phong", "Xã Đồng Đăng"]
    assert [s.reason for s in result.suggestions[:2]] == ["legacy", "legacy"]
    assert result.suggestions[0].score > result.suggestions[1].score


def test_old_district_only_suggests_its_new_wards(lang_son: Any) -> None:
    """Only a former city given: the new wards that cover it are offered."""
    result = lang_son.locate_address("tp Lang Son")
    assert set(_codes(result)) == {"06187", "05983", "05986", "05977"}


@pytest.mark.parametrize(
    ("text", "province"),
    [
        ("phuong An Bien, Hai Phong", 31),
        ("Phường An Biên, Thành phố Hải Phòng", 31),
        ("phuong An Bien Hai Phong", 31),
        ("Q.1, TP HCM", 79),
        ("xa Tam Giang, huyen Yen Phong, tinh Bac Ninh", 24),
        ("phuong Tran Phu, tp Bac Giang", 24),  # old city of a former province
    ],
)
def test_address_in_another_province(lang_son: Any, text: str, province: int) -> None:
    """An address naming another province is outside, with its official name."""
    result = lang_son.locate_address(text)
    assert result.outside
    assert result.other_province == _official_name(province)
    assert result.suggestions == []


def test_address_with_no_match(lang_son: Any) -> None:
    """Unrecognisable text gives no suggestions and is not flagged outside."""
    for text in ("abc xyz", "", "   ", "Lạng Sơn"):
        result = lang_son.locate_address(text)
        assert result.suggestions == []
        assert not result.outside


def test_address_name_fallback(lang_son: Any) -> None:
    """A misspelt ward the parsers miss is still found by name."""
    result = lang_son.locate_address("gan cho, Dong Kin")
    assert result.suggestions[0].ward.name == "Phường Đông Kinh"
    assert result.suggestions[0].reason == "name"


def test_suggestions_are_unique_sorted_and_in_province(lang_son: Any) -> None:
    """Suggestions never repeat a ward, are sorted, stay in the province and honour limit."""
    texts = [
        "so 5 duong Tran Dang Ninh, phuong Hoang Van Thu, thanh pho Lang Son, tinh Lang Son",
        "xa Hong Phong, huyen Binh Gia, Lang Son",
        "huyen Cao Loc",
        "thi tran Dong Dang, huyen Cao Loc",
    ]
    for text in texts:
        result = lang_son.locate_address(text, limit=3)
        codes = _codes(result)
        assert len(codes) == len(set(codes)) <= 3
        assert all(s.ward.province_code == "20" for s in result.suggestions)
        scores = [s.score for s in result.suggestions]
        assert scores == sorted(scores, reverse=True)


def test_hai_phong_address(geo: ModuleType) -> None:
    """Hải Phòng (31): new-style An Biên, and an old Hải Dương address converted."""
    hai_phong = geo.get_gazetteer("31")
    result = hai_phong.locate_address("phuong An Bien, Hai Phong")
    assert not result.outside
    assert _codes(result)[0] == "11407"
    assert result.suggestions[0].ward.name == "Phường An Biên"
    old = hai_phong.locate_address("Phường Ái Quốc, Thành phố Hải Dương, Tỉnh Hải Dương")
    assert old.suggestions[0].ward.name == "Phường Ái Quốc"
    assert old.suggestions[0].reason == "legacy"


# ----------------------------------------------------------------------------- issue 9


@pytest.mark.parametrize(
    ("province", "text", "label"),
    [
        # The old ward inside the old district named, not the 2025 ward of the district's name.
        (
            "20",
            "To 3 khoi Ba phuong Hoang Van Thu",
            "old|Lạng Sơn|Thành phố Lạng Sơn|Phường Hoàng Văn Thụ",
        ),
        ("20", "xa hoa lac huu lung", "old|Lạng Sơn|Huyện Hữu Lũng|Xã Hòa Lạc"),
        ("31", "p quan toan q hong bang", "old|Hải Phòng|Quận Hồng Bàng|Phường Quán Toan"),
        ("01", "p lang thuong dong da", "old|Hà Nội|Quận Đống Đa|Phường Láng Thượng"),
        # Numbered wards, abbreviations, no commas, capitals.
        ("79", "p4 tan binh", "old|Hồ Chí Minh|Quận Tân Bình|Phường 4"),
        ("79", "f16 q11", "old|Hồ Chí Minh|Quận 11|Phường 16"),
        ("79", "P.13 Q.4", "old|Hồ Chí Minh|Quận 4|Phường 13"),
        ("79", "PHUONG 04 QUAN 5", "old|Hồ Chí Minh|Quận 5|Phường 4"),
        ("79", "Phường Thảo Điền, Quận 2", "old|Hồ Chí Minh|Thành phố Thủ Đức|Phường Thảo Điền"),
        ("20", "TT.Đồng Đăng H.Cao Lộc", "old|Lạng Sơn|Huyện Cao Lộc|Thị trấn Đồng Đăng"),
        ("20", "X. Hồng Phong, H. Bình Gia", "old|Lạng Sơn|Huyện Bình Gia|Xã Hồng Phong"),
        ("46", "P. Tứ Hạ, TX Hương Trà", "old|Huế|Thị xã Hương Trà|Phường Tứ Hạ"),
        (
            "01",
            "ngõ 102 Trường Chinh, Phương Mai, Đống Đa, Hà Nội",
            "old|Hà Nội|Quận Đống Đa|Phường Phương Mai",
        ),
        # A typo after the unit word; a street named like another ward.
        ("31", "Số 2 Lê Đại Hành, phường Hồng Bàn, TP Hải Phòng", "new|Phường Hồng Bàng"),
        ("01", "phuong Bach Mia", "new|Phường Bạch Mai"),
    ],
)
def test_the_ward_the_reporter_means(
    geo: ModuleType, province: str, text: str, label: str
) -> None:
    """Each example's label comes from the official tables, not from the matcher."""
    expected = address_set.resolve_label(province, label)
    result = geo.get_gazetteer(province).locate(text)
    assert _codes(result)[:1] == [expected], (text, [s.ward.name for s in result.suggestions])


def test_the_labelled_set_is_made_from_the_official_tables() -> None:
    """At least 200 rows in five provinces, half pre-2025, half unaccented, each code the
    one its label names in the official tables."""
    rows = address_set.load_rows()
    assert len(rows) >= 200
    provinces = {row.province for row in rows}
    assert provinces == {"20", "31", "46", "01", "79"}
    assert sum(row.province == "20" for row in rows) >= 20
    for row in rows:
        assert row.ward_code == address_set.resolve_label(row.province, row.label), row.text
        assert row.kind == row.label.split("|", 1)[0], row.text
        assert row.accents == ("yes" if address_set.has_accents(row.text) else "no"), row.text
    assert abs(2 * sum(row.kind == "old" for row in rows) - len(rows)) <= len(rows) // 10
    assert abs(2 * sum(row.accents == "no" for row in rows) - len(rows)) <= len(rows) // 10


def test_top1_on_the_labelled_set_is_98_percent_per_province_and_kind(geo: ModuleType) -> None:
    """>= 98 % top-1 with the configured province, in every province, every kind, both
    accent styles (scripts/measure_addresses.py prints the same table)."""
    rows = address_set.load_rows()
    scores = address_set.score(
        lambda text, province: _codes(geo.get_gazetteer(province).locate(text)), rows
    )
    print("\n" + scores.table())
    failing = [group for group in scores.totals if scores.share(group) < 0.98]
    assert not failing, (failing, [(row.text, codes[:3]) for row, codes in scores.misses])


@pytest.mark.parametrize("province", ["20", "31", "46", "01", "79"])
def test_every_former_ward_named_with_its_district(geo: ModuleType, province: str) -> None:
    """Every former ward of the province, with its former district (full, unaccented,
    abbreviated or after a street), converts to its 2025 ward: all but unaccented twins."""
    cases = address_set.every_former_ward(province)
    gazetteer = geo.get_gazetteer(province)
    misses = [(text, code) for text, code in cases if _codes(gazetteer.locate(text))[:1] != [code]]
    assert len(cases) > 100
    assert len(misses) <= len(cases) // 200, misses[:10]


def test_nonsense_is_not_recognised(geo: ModuleType) -> None:
    """Texts naming no place get no ward, and a confidence under the threshold."""
    for text, province in address_set.load_nonsense():
        result = geo.get_gazetteer(province).locate(text)
        assert result.suggestions == [], (text, [s.ward.name for s in result.suggestions])
        assert not result.outside and result.score < geo.MIN_CONFIDENCE, text


def test_suggestions_carry_their_confidence(lang_son: Any, geo: ModuleType) -> None:
    """Every suggestion is at least MIN_CONFIDENCE; the result tells the best score."""
    result = lang_son.locate("xa hoa lac huu lung")
    assert result.score == result.suggestions[0].score
    assert all(s.score >= geo.MIN_CONFIDENCE for s in result.suggestions)
    weak = lang_son.locate("thoi khong bao nua")
    assert weak.suggestions == [] and weak.score < geo.MIN_CONFIDENCE


def test_a_typed_ward_name_is_told_from_an_address(lang_son: Any) -> None:
    """The ward step keeps the address when only the ward's name is typed."""
    for name in ("Kỳ Lừa", "phuong Dong Kinh", "xa Cao Loc", "Ky Luaa"):
        assert lang_son.is_ward_name(name), name
    for address in ("so 12 duong Le Loi, phuong Ky Lua", "thon Na Hoa, xa Tan Lien, Cao Loc"):
        assert not lang_son.is_ward_name(address), address


# ----------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Kỳ Lừa", "Phường Kỳ Lừa"),
        ("ky lua", "Phường Kỳ Lừa"),
        ("phường Kỳ Lừa", "Phường Kỳ Lừa"),
        ("p. Ky Lua", "Phường Kỳ Lừa"),
        ("Ky Luaa", "Phường Kỳ Lừa"),  # typo
        ("dong kin", "Phường Đông Kinh"),  # typo
        ("xa Cao Loc", "Xã Cao Lộc"),
        ("Xã Cao Lộc", "Xã Cao Lộc"),
        ("dong dang", "Xã Đồng Đăng"),
    ],
)
def test_find_wards_by_name(lang_son: Any, text: str, expected: str) -> None:
    """Names match with or without accents, type prefix, or with a small typo."""
    found = lang_son.find_wards_by_name(text)
    assert found, text
    assert found[0].name == expected


def test_find_wards_by_name_exact_first_and_limit(lang_son: Any) -> None:
    """Exact matches come before partial ones; limit is honoured; junk finds nothing."""
    found = lang_son.find_wards_by_name("Hoàng Văn Thụ", limit=3)
    assert found[0].name == "Xã Hoàng Văn Thụ"
    assert len(found) <= 3
    assert lang_son.find_wards_by_name("zzzz qqqq") == []
    assert lang_son.find_wards_by_name("") == []


# ----------------------------------------------------------------------------- dispatch


@pytest.mark.parametrize(
    "text",
    ["21.85926,106.75417", "21.85926, 106.75417", "21.85926 106.75417", "21,85926 106,75417"],
)
def test_locate_coordinates(lang_son: Any, text: str) -> None:
    """Decimal coordinates are located as GPS points."""
    result = lang_son.locate(text)
    assert result.suggestions[0].ward.code == "06187"
    assert result.suggestions[0].reason == "gps"


def test_locate_text(lang_son: Any) -> None:
    """Anything else is located as an address."""
    result = lang_son.locate("ky lua")
    assert result.suggestions[0].ward.code == "06187"
    assert result.suggestions[0].reason == "address"


# ----------------------------------------------------------------------------- network


def test_no_network_attempted(geo: ModuleType) -> None:
    """No test of this module tried to open a connection (the guard itself works)."""
    assert _NETWORK_ATTEMPTS == []  # nothing from the tests above (this one runs last)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", 9), timeout=0.1)
    assert len(_NETWORK_ATTEMPTS) == 1
    _NETWORK_ATTEMPTS.clear()
    for code in ("20", "31", "79", "01"):
        gazetteer = geo.Gazetteer(code)
        gazetteer.locate("so 1 duong Le Loi, phuong 1, quan 3")
        gazetteer.locate("xa Hong Phong, huyen Binh Gia, Lang Son")
        gazetteer.locate("21.0285, 105.8542")
        gazetteer.find_wards_by_name("Ben Thanh")
    assert _NETWORK_ATTEMPTS == []
