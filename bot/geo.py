"""Offline ward lookup for one province: GPS points, new and old-style addresses, ward names.

Official ward codes and names come from ``vietnam-provinces``; centroids, address parsing and
the pre-2025 -> 2025 conversion tables come from ``vietnamadminunits``. Nothing here touches
the network: ``vietnamadminunits.convert_address`` (which may call an online geocoder) is never
used, its conversion tables are read directly instead.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any

from vietnam_provinces import Province, ProvinceCode, Ward
from vietnamadminunits import ParseMode, parse_address
from vietnamadminunits.converter import converter_2025 as _conv
from vietnamadminunits.parser import parser_from_2025 as _p2025
from vietnamadminunits.parser import parser_legacy as _plegacy

__all__ = [
    "Gazetteer",
    "LocateResult",
    "Suggestion",
    "WardInfo",
    "centroid_stats",
    "get_gazetteer",
]

# Rough bounding box of mainland Vietnam and its near-shore islands.
VN_LAT_RANGE = (8.0, 23.5)
VN_LON_RANGE = (102.0, 110.0)
# A point this close to a special zone's centroid counts as Vietnam even outside the box.
ISLAND_RADIUS_KM = 40.0
# A point farther than this from every ward centroid is treated as not in Vietnam.
MAX_NEAREST_KM = 40.0
# A point this close to one of the province's centroids is never reported as outside.
BORDER_TOLERANCE_KM = 5.0
# When a point is outside, still suggest the province's wards within this distance.
OUTSIDE_SUGGEST_KM = 15.0
# Distance (km) at which a GPS suggestion's score drops to 0.5.
GPS_HALF_SCORE_KM = 5.0
EARTH_RADIUS_KM = 6371.0088

_TONE_MARKS = frozenset("\u0300\u0301\u0303\u0309\u0323")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_NON_WORD = re.compile(r"[^\w]+")
_WARD_PREFIX = re.compile(r"^(phường|phuong|xã|xa|đặc khu|dac khu|đk|dk|p|x)\s+")
_WARD_TYPE_BY_PREFIX = {
    "phuong": "phuong",
    "p": "phuong",
    "xa": "xa",
    "x": "xa",
    "dac khu": "dac khu",
    "dk": "dac khu",
}
_COORDS_DOT = re.compile(r"^\s*([-+]?\d+(?:\.\d+)?)\s*(?:[,;]|\s)\s*([-+]?\d+(?:\.\d+)?)\s*$")
_COORDS_COMMA = re.compile(r"^\s*([-+]?\d+(?:,\d+)?)\s*(?:;|\s)\s*([-+]?\d+(?:,\d+)?)\s*$")
# Pre-2025 markers at the start of a comma-separated segment (text folded, dots as spaces).
_OLD_SEGMENT = re.compile(r"^(?:quan|huyen|thi xa|thi tran|tx|tt|q|h)(?:\s|$)|^q\d")
_OLD_DISTRICT_SEGMENT = re.compile(r"^(?:quan|huyen|thi xa|tx|q|h)(?:\s|$)|^q\d")
# Pre-2025 markers that are unambiguous anywhere in the text.
_OLD_ACCENTED = re.compile(r"(?<!\w)(?:quận|huyện|thị xã|thị trấn)(?!\w)")
_OLD_ANYWHERE = re.compile(r"\b(?:thi tran|thi xa)\b")
# Without commas, 'xa A huyen B' style: 'huyen'/'quan' after at least two words.
_OLD_NO_COMMA = re.compile(r"^\S+\s+\S+.*\s(?:huyen|quan)\s+\S")
# A bare unit type, which makes a following province-like name a ward or district name.
_UNIT_WORDS = re.compile(r"(?:phuong|p|xa|x|dac khu|dk|thi tran|tt|huyen|h|quan|q|thi xa|tx)")
_CITY_PREFIX = re.compile(r"^(?:thanh pho|tp)(?:\s+|$)")
_CITY_ANYWHERE = re.compile(r"(?:^|\s)(?:thanh pho|tp)(?:\s+|$)")
# Folded old ward types and the abbreviations people use for them.
_OLD_WARD_TYPE_ALIASES = {
    "xa": ("xa", "x"),
    "phuong": ("phuong", "p"),
    "thi tran": ("thi tran", "tt"),
    "dac khu": ("dac khu", "dk"),
}
_WARD_TYPE_EXPANSION = {"x": "xa", "p": "phuong", "tt": "thi tran"}
_PROVINCE_PREFIX = re.compile(r"^(?:tinh|thanh pho|tp)\s+")
# A folded segment that starts with a ward or district type.
_UNIT_START = re.compile(
    r"^(?:phuong|p|xa|x|dac khu|dk|thi tran|tt|huyen|h|quan|q|thi xa|tx|thanh pho|tp)(?:\s|$)"
    r"|^q\d"
)
_OLD_SPECIAL_DISTRICTS = frozenset(
    {"huyenbachlongvi", "huyenconco", "huyenhoangsa", "huyenlyson", "huyencondao"}
)


@dataclass(frozen=True)
class WardInfo:
    """One official 2025 ward (phường, xã or đặc khu) with its centroid when known."""

    code: str
    name: str
    province_code: str
    lat: float | None
    lon: float | None


@dataclass(frozen=True)
class Suggestion:
    """A candidate ward for a point or address, to be confirmed by the reporter."""

    ward: WardInfo
    score: float
    reason: str
    distance_km: float | None


@dataclass(frozen=True)
class LocateResult:
    """Ranked ward suggestions in the configured province, plus an outside-province flag."""

    suggestions: list[Suggestion]
    outside: bool
    other_province: str | None


# ----------------------------------------------------------------------------- text helpers


def fold(text: str) -> str:
    """Lower-case, strip Vietnamese accents and punctuation, collapse spaces."""
    decomposed = unicodedata.normalize("NFD", text.lower().replace("đ", "d"))
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(_NON_ALNUM.sub(" ", stripped).split())


def _clean(text: str) -> str:
    """Lower-case NFC text with punctuation replaced by spaces (accents kept)."""
    return " ".join(_NON_WORD.sub(" ", unicodedata.normalize("NFC", text).lower()).split())


def _tone_key(text: str) -> str:
    """Accent-sensitive key that ignores tone-mark placement ('Thuỷ' == 'Thủy')."""
    words = []
    for word in unicodedata.normalize("NFD", _clean(text)).split():
        tones = "".join(ch for ch in word if ch in _TONE_MARKS)
        base = "".join(ch for ch in word if ch not in _TONE_MARKS)
        words.append(unicodedata.normalize("NFC", base) + tones)
    return " ".join(words)


def _squash(text: str) -> str:
    """Folded text without spaces, as used for vietnamadminunits keywords."""
    return fold(text).replace(" ", "")


def _split_ward_type(name: str) -> tuple[str, str]:
    """Split an official ward name into folded type ('phuong'|'xa'|'dac khu') and short name."""
    for prefix in ("Phường ", "Xã ", "Đặc khu "):
        if name.startswith(prefix):
            return fold(prefix), name[len(prefix) :]
    return "", name


def _haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def _segments(text: str) -> list[str]:
    """Comma/semicolon-separated parts of an address, stripped, non-empty."""
    return [s.strip() for s in re.split(r"[,;\n]", text) if s.strip()]


def _marker_fold(segment: str) -> str:
    """Fold a segment for marker detection ('q.1' -> 'q 1', 'tt.Đồng Đăng' -> 'tt dong dang')."""
    return fold(segment.replace(".", " "))


# ----------------------------------------------------------------------------- national data


@dataclass(frozen=True)
class _National:
    """Country-wide indexes shared by all gazetteers."""

    wards: dict[str, WardInfo]
    by_province: dict[str, list[WardInfo]]
    province_names: dict[str, str]
    vam_province_key: dict[str, str]
    vam_ward_code: dict[tuple[str, str], str]
    province_keywords: dict[str, str]
    keywords_2025: dict[str, frozenset[str]]
    legacy_keywords: dict[str, frozenset[str]]
    municipality_keywords: frozenset[str]
    centroids: tuple[tuple[float, float, str, str], ...]
    special_zones: tuple[tuple[float, float], ...]


def _vam_ward_dicts(province_key: str) -> Iterable[tuple[str, dict[str, Any]]]:
    """All (ward_key, entry) pairs vietnamadminunits knows for a 2025 province key."""
    for table in (
        _p2025.DICT_PROVINCE_WARD_NO_ACCENTED,
        _p2025.DICT_PROVINCE_WARD_ACCENTED,
        _p2025.DICT_PROVINCE_WARD_SHORT_ACCENTED,
    ):
        yield from table.get(province_key, {}).items()


def _match_vam_wards(
    official: list[WardInfo], entries: list[tuple[str, dict[str, Any]]]
) -> dict[str, str]:
    """Map vietnamadminunits ward keys to official codes: by code if names agree, else by name."""
    by_code = {w.code: w for w in official}
    by_tone: dict[str, list[WardInfo]] = defaultdict(list)
    by_fold: dict[str, list[WardInfo]] = defaultdict(list)
    for w in official:
        by_tone[_tone_key(w.name)].append(w)
        by_fold[fold(w.name)].append(w)
    result: dict[str, str] = {}
    for key, entry in entries:
        name, code = entry["ward"], str(entry["wardCode"]).zfill(5)
        same = by_code.get(code)
        if same is not None and (
            _tone_key(same.name) == _tone_key(name)
            or (fold(same.name) == fold(name) and len(by_fold[fold(name)]) == 1)
        ):
            result[key] = same.code
            continue
        candidates = by_tone.get(_tone_key(name)) or by_fold.get(fold(name)) or []
        if len(candidates) == 1:
            result[key] = candidates[0].code
    return result


@functools.lru_cache(maxsize=1)
def _national() -> _National:
    """Build the country-wide indexes once."""
    province_names: dict[str, str] = {}
    for p in Province.iter_all():
        province_names[f"{int(p.code):02d}"] = p.name
    official: dict[str, list[Ward]] = defaultdict(list)
    for w in Ward.iter_all():
        official[f"{int(w.province_code):02d}"].append(w)

    vam_province_key = {
        str(v["provinceCode"]).zfill(2): k for k, v in _p2025.DICT_PROVINCE.items()
    }
    code_of_vam_province = {k: c for c, k in vam_province_key.items()}

    wards: dict[str, WardInfo] = {}
    by_province: dict[str, list[WardInfo]] = {}
    vam_ward_code: dict[tuple[str, str], str] = {}
    for pc, ward_list in official.items():
        bare = [WardInfo(f"{int(w.code):05d}", w.name, pc, None, None) for w in ward_list]
        pkey = vam_province_key.get(pc)
        entries = list(_vam_ward_dicts(pkey)) if pkey else []
        mapping = _match_vam_wards(bare, entries)
        coords: dict[str, tuple[float, float]] = {}
        for key, entry in entries:
            code = mapping.get(key)
            if code is None:
                continue
            vam_ward_code[(pkey or "", key)] = code
            if entry.get("wardLat") is not None and entry.get("wardLon") is not None:
                coords.setdefault(code, (float(entry["wardLat"]), float(entry["wardLon"])))
        infos = []
        for plain in bare:
            point = coords.get(plain.code)
            info = WardInfo(
                plain.code,
                plain.name,
                pc,
                point[0] if point else None,
                point[1] if point else None,
            )
            infos.append(info)
            wards[info.code] = info
        by_province[pc] = infos

    # Province keywords (folded, no spaces) -> new province code, 2025 and pre-2025 names.
    province_keywords: dict[str, str] = {}
    keywords_2025: dict[str, set[str]] = defaultdict(set)
    legacy_keywords: dict[str, set[str]] = defaultdict(set)
    for pkey, entry in _p2025.DICT_PROVINCE.items():
        pc = code_of_vam_province[pkey]
        for kw in entry["provinceKeywords"]:
            province_keywords[kw] = pc
            keywords_2025[pc].add(kw)
    for new_key, old_keys in _conv.DICT_PROVINCE.items():
        pc = code_of_vam_province[new_key]
        for old_key in old_keys:
            for kw in _plegacy.DICT_PROVINCE[old_key]["provinceKeywords"]:
                province_keywords.setdefault(kw, pc)
                legacy_keywords[pc].add(kw)
    for pc, name in province_names.items():
        province_keywords.setdefault(_squash(name), pc)
        province_keywords.setdefault(_squash(_PROVINCE_PREFIX.sub("", fold(name))), pc)
        keywords_2025[pc].add(_squash(name))
    # Names of centrally-run cities, current or pre-2025: 'thành phố X' is then a province.
    municipality_keywords = {
        kw
        for entry in (*_p2025.DICT_PROVINCE.values(), *_plegacy.DICT_PROVINCE.values())
        if entry["province"].startswith("Thành phố")
        for kw in entry["provinceKeywords"]
    }
    for name in province_names.values():
        if name.startswith("Thành phố"):
            municipality_keywords.add(_squash(name))
            municipality_keywords.add(_squash(_PROVINCE_PREFIX.sub("", fold(name))))

    centroids = tuple(
        (w.lat, w.lon, w.province_code, w.code)
        for w in wards.values()
        if w.lat is not None and w.lon is not None
    )
    special = tuple(
        (w.lat, w.lon)
        for w in wards.values()
        if w.name.startswith("Đặc khu") and w.lat is not None and w.lon is not None
    )
    return _National(
        wards=wards,
        by_province=by_province,
        province_names=province_names,
        vam_province_key=vam_province_key,
        vam_ward_code=vam_ward_code,
        province_keywords=province_keywords,
        keywords_2025={k: frozenset(v) for k, v in keywords_2025.items()},
        legacy_keywords={k: frozenset(v) for k, v in legacy_keywords.items()},
        municipality_keywords=frozenset(municipality_keywords),
        centroids=centroids,
        special_zones=special,
    )


def centroid_stats() -> dict[str, tuple[int, int]]:
    """Per province code: (wards with a centroid, official wards)."""
    nat = _national()
    return {
        pc: (sum(1 for w in infos if w.lat is not None), len(infos))
        for pc, infos in sorted(nat.by_province.items())
    }


# ----------------------------------------------------------------------------- gazetteer


@dataclass(frozen=True)
class _NameEntry:
    """Precomputed name keys of one ward for name matching."""

    ward: WardInfo
    kind: str
    fold: str
    squashed: str
    tone: str
    sort_key: tuple[str, str]


@dataclass(frozen=True)
class _ProvinceMention:
    """How an address refers to a province at its end."""

    code: str | None
    keyword: str | None
    old_city: bool


class Gazetteer:
    """Ward lookups restricted to one of the 34 provinces."""

    def __init__(self, province_code: str) -> None:
        """Build the indexes for a 2-digit official province code such as '20'."""
        code = str(province_code).strip()
        if not code.isdigit():
            raise ValueError(f"unknown province code: {province_code!r}")
        try:
            province = Province.from_code(ProvinceCode(int(code)))
        except (ValueError, KeyError) as exc:
            raise ValueError(f"unknown province code: {province_code!r}") from exc
        self._nat = _national()
        self.province_code: str = f"{int(province.code):02d}"
        self.province_name: str = province.name
        infos = self._nat.by_province.get(self.province_code, [])
        entries = []
        for w in infos:
            kind, short = _split_ward_type(w.name)
            entries.append(
                _NameEntry(
                    ward=w,
                    kind=kind,
                    fold=fold(short),
                    squashed=_squash(short),
                    tone=_tone_key(short),
                    sort_key=(fold(w.name), w.name),
                )
            )
        entries.sort(key=lambda e: e.sort_key)
        self._entries: tuple[_NameEntry, ...] = tuple(entries)
        self._wards: tuple[WardInfo, ...] = tuple(e.ward for e in entries)
        self._by_code: dict[str, WardInfo] = {w.code: w for w in infos}

        self._vam_key: str = self._nat.vam_province_key[self.province_code]
        self._vam_name: str = _p2025.DICT_PROVINCE[self._vam_key]["province"]
        self._old_provinces: tuple[str, ...] = tuple(_conv.DICT_PROVINCE.get(self._vam_key, []))
        self._old_names: tuple[str, ...] = tuple(
            _plegacy.DICT_PROVINCE[k]["province"] for k in self._old_provinces
        )
        self._conversion = self._build_conversion()
        self._district_codes = self._build_district_codes()
        self._old_ward_names = self._build_old_ward_names()

    def _build_conversion(self) -> dict[str, tuple[str, ...]]:
        """Old 'province_district_ward' key -> official codes of the new wards (default first)."""
        nat, pkey = self._nat, self._vam_key
        table: dict[str, list[str]] = defaultdict(list)
        for new_key, old_keys in _conv.DICT_PROVINCE_WARD_NO_DIVIDED.get(pkey, {}).items():
            code = nat.vam_ward_code.get((pkey, new_key))
            if code is None:
                continue
            for old_key in old_keys:
                if code not in table[old_key]:
                    table[old_key].append(code)
        for old_key, candidates in _conv.DICT_PROVINCE_WARD_DIVIDED.get(pkey, {}).items():
            ordered = sorted(candidates, key=lambda c: not c.get("isDefaultNewWard"))
            for cand in ordered:
                code = nat.vam_ward_code.get((pkey, cand["newWardKey"]))
                if code is not None and code not in table[old_key]:
                    table[old_key].append(code)
        return {k: tuple(v) for k, v in table.items() if v}

    def _build_district_codes(self) -> dict[tuple[str, str], tuple[str, ...]]:
        """(old province, old district) -> new wards covering it, most old wards first."""
        counts: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
        for old_key, codes in self._conversion.items():
            province_key, district_key, _ = old_key.split("_", 2)
            tally = counts[(province_key, district_key)]
            for code in codes:
                tally[code] = tally.get(code, 0) + 1
        return {
            key: tuple(sorted(tally, key=lambda c: (-tally[c], self._by_code[c].name)))
            for key, tally in counts.items()
        }

    def _build_old_ward_names(self) -> dict[str, tuple[str, ...]]:
        """Folded 'type name' of each former ward (e.g. 'phuong chi lang') -> old keys."""
        index: dict[str, list[str]] = defaultdict(list)
        for province_key in self._old_provinces:
            for table in (
                _plegacy.DICT_PROVINCE_DISTRICT_WARD_NO_ACCENTED,
                _plegacy.DICT_PROVINCE_DISTRICT_WARD_ACCENTED,
                _plegacy.DICT_PROVINCE_DISTRICT_WARD_SHORT_ACCENTED,
            ):
                for district_key, wards in table.get(province_key, {}).items():
                    for ward_key, entry in wards.items():
                        name = entry.get("ward")
                        old_key = f"{province_key}_{district_key}_{ward_key}"
                        if isinstance(name, str) and old_key in self._conversion:
                            if old_key not in index[fold(name)]:
                                index[fold(name)].append(old_key)
        return {k: tuple(v) for k, v in index.items()}

    # ------------------------------------------------------------------------- basic access

    def wards(self) -> list[WardInfo]:
        """The province's official wards, sorted by unaccented name."""
        return list(self._wards)

    def ward(self, code: str) -> WardInfo | None:
        """A ward of this province by its official code ('06187' or '6187')."""
        code = str(code).strip()
        if not code.isdigit():
            return None
        return self._by_code.get(code.zfill(5))

    # ------------------------------------------------------------------------- GPS

    def locate_point(self, lat: float, lon: float, limit: int = 3) -> LocateResult:
        """Nearest ward centroids of the province, flagging points in another province."""
        nat = self._nat
        in_box = (
            VN_LAT_RANGE[0] <= lat <= VN_LAT_RANGE[1] and VN_LON_RANGE[0] <= lon <= VN_LON_RANGE[1]
        )
        if not in_box and not any(
            _haversine_km(lat, lon, zlat, zlon) <= ISLAND_RADIUS_KM
            for zlat, zlon in nat.special_zones
        ):
            return LocateResult([], True, None)

        nearest_km, nearest_pc = math.inf, None
        own: list[tuple[float, str]] = []
        for clat, clon, pc, code in nat.centroids:
            dist = _haversine_km(lat, lon, clat, clon)
            if dist < nearest_km:
                nearest_km, nearest_pc = dist, pc
            if pc == self.province_code:
                own.append((dist, code))
        own.sort()
        if nearest_pc is None or nearest_km > MAX_NEAREST_KM:
            return LocateResult([], True, None)

        own_km = own[0][0] if own else math.inf
        outside = nearest_pc != self.province_code and own_km > BORDER_TOLERANCE_KM
        if outside:
            own = [item for item in own if item[0] <= OUTSIDE_SUGGEST_KM]
        suggestions = [
            Suggestion(
                ward=self._by_code[code],
                score=round(1.0 / (1.0 + dist / GPS_HALF_SCORE_KM), 4),
                reason="gps",
                distance_km=round(dist, 3),
            )
            for dist, code in own[: max(limit, 0)]
        ]
        other = nat.province_names.get(nearest_pc) if outside else None
        return LocateResult(suggestions, outside, other)

    # ------------------------------------------------------------------------- names

    def _name_matches(self, text: str) -> list[tuple[float, WardInfo]]:
        """Score every ward of the province against a typed ward name, best first."""
        cleaned = _clean(text)
        if not cleaned:
            return []
        variants: list[tuple[str | None, str]] = [(None, cleaned)]
        prefix = _WARD_PREFIX.match(cleaned)
        if prefix and cleaned[prefix.end() :].strip():
            kind = _WARD_TYPE_BY_PREFIX.get(fold(prefix.group(1)))
            variants.insert(0, (kind, cleaned[prefix.end() :]))

        best: dict[str, float] = {}
        for kind, name in variants:
            folded = fold(name)
            if not folded:
                continue
            squashed = folded.replace(" ", "")
            tone = _tone_key(name)
            accented = folded != name
            padded = f" {folded} "
            for entry in self._entries:
                if entry.fold == folded:
                    score = 1.0 if not accented or entry.tone == tone else 0.85
                elif len(squashed) >= 3 and entry.fold.startswith(folded + " "):
                    score = 0.8
                elif len(squashed) >= 3 and padded in f" {entry.fold} ":
                    score = 0.75
                else:
                    matcher = SequenceMatcher(None, squashed, entry.squashed, autojunk=False)
                    if matcher.real_quick_ratio() < 0.75 or matcher.quick_ratio() < 0.75:
                        continue
                    ratio = matcher.ratio()
                    if ratio < 0.75:
                        continue
                    score = 0.8 * ratio
                if kind is not None:
                    score += 0.02 if kind == entry.kind else -0.1
                code = entry.ward.code
                if score > best.get(code, 0.0):
                    best[code] = score
        ranked = sorted(best.items(), key=lambda item: (-item[1], self._by_code[item[0]].name))
        return [(score, self._by_code[code]) for code, score in ranked]

    def find_wards_by_name(self, text: str, limit: int = 5) -> list[WardInfo]:
        """Wards whose name matches the text (accents, type prefix and small typos tolerated)."""
        return [ward for _, ward in self._name_matches(text)[: max(limit, 0)]]

    # ------------------------------------------------------------------------- addresses

    def _province_mention(self, text: str) -> _ProvinceMention:
        """Detect a province named in the last segment of an address."""
        segments = _segments(text)
        if not segments:
            return _ProvinceMention(None, None, old_city=False)
        last = _marker_fold(segments[-1])
        keywords = self._nat.province_keywords
        city = _CITY_PREFIX.match(last)
        body = _PROVINCE_PREFIX.sub("", last)
        squashed = body.replace(" ", "")
        code = keywords.get(squashed) or keywords.get(last.replace(" ", ""))
        keyword = squashed if squashed in keywords else last.replace(" ", "")
        if code is None:
            # 'phuong An Bien Hai Phong': a multi-syllable province name ending the segment.
            words = body.split()
            for size in (4, 3, 2):
                tail = "".join(words[-size:])
                rest = " ".join(words[:-size])
                if len(words) > size and tail in keywords and not _UNIT_WORDS.fullmatch(rest):
                    code, keyword = keywords[tail], tail
                    break
            if code is None:
                return _ProvinceMention(None, None, old_city=False)
        if code != self.province_code and any(e.fold == body for e in self._entries):
            # Also one of our wards' names ('Khánh Hòa' in Lào Cai): a province only when it
            # follows a ward or district ('xa Phuoc Hau, Khanh Hoa').
            previous = _marker_fold(segments[-2]) if len(segments) > 1 else ""
            if not _UNIT_START.match(previous):
                return _ProvinceMention(None, None, old_city=False)
        old_city = bool(city) and keyword not in self._nat.municipality_keywords
        return _ProvinceMention(code, keyword, old_city)

    def _has_old_markers(self, text: str) -> bool:
        """Whether the address uses pre-2025 units (quận, huyện, thị xã, thị trấn, old cities)."""
        if _OLD_ACCENTED.search(unicodedata.normalize("NFC", text).lower()):
            return True
        for segment in _segments(text):
            folded = _marker_fold(segment)
            if _OLD_SEGMENT.match(folded) or _OLD_ANYWHERE.search(folded):
                return True
            if "," not in text and _OLD_NO_COMMA.search(folded):
                return True
            if self._is_old_city(folded, anywhere=True):
                return True
        return False

    def _is_old_city(self, folded_segment: str, anywhere: bool = False) -> bool:
        """Whether 'thành phố X' / 'tp X' names a former provincial city, not a municipality."""
        pattern = _CITY_ANYWHERE if anywhere else _CITY_PREFIX
        for match in pattern.finditer(folded_segment):
            rest = folded_segment[match.end() :].replace(" ", "")
            if rest and not any(rest.startswith(k) for k in self._nat.municipality_keywords):
                return True
        return False

    def _strip_old_districts(self, text: str) -> str:
        """Drop district-level segments (huyện X, quận X, thị xã X, old tp X) from an address."""
        kept = []
        for segment in _segments(text):
            folded = _marker_fold(segment)
            if _OLD_DISTRICT_SEGMENT.match(folded) or self._is_old_city(folded):
                continue
            kept.append(segment)
        return ", ".join(kept)

    def _parse_2025(self, text: str) -> str | None:
        """Official code of the ward found by the 2025-style parser, if in this province."""
        try:
            unit = parse_address(text, mode=ParseMode.FROM_2025, level=2)
        except Exception:  # the parser is heuristic; never let it break a lookup
            return None
        if unit.province_key != self._vam_key or not unit.ward_key:
            return None
        return self._nat.vam_ward_code.get((self._vam_key, unit.ward_key))

    def _parse_legacy(self, text: str) -> tuple[list[str], tuple[str, ...]]:
        """New wards an old-style address converts to (default first) and, when it names only
        an old district, the new wards covering that district."""
        try:
            unit = parse_address(text, mode=ParseMode.LEGACY, level=3)
        except Exception:  # the parser is heuristic; never let it break a lookup
            return [], ()
        if unit.province_key not in self._old_provinces or not unit.district_key:
            return [], ()
        if unit.ward_key or unit.district_key in _OLD_SPECIAL_DISTRICTS:
            ward_keys = [unit.ward_key or ""]
        else:
            ward_keys = self._old_wards_in_text(text, unit.province_key, unit.district_key)
        codes = self._convert_old_keys(
            f"{unit.province_key}_{unit.district_key}_{ward_key}" for ward_key in ward_keys
        )
        if codes:
            return codes, ()
        return [], self._district_codes.get((unit.province_key, unit.district_key), ())

    def _convert_old_keys(self, old_keys: Iterable[str]) -> list[str]:
        """New ward codes for old 'province_district_ward' keys, without duplicates."""
        codes: list[str] = []
        for old_key in old_keys:
            codes.extend(c for c in self._conversion.get(old_key, ()) if c not in codes)
        return codes

    def _old_wards_by_name(self, text: str) -> list[str]:
        """New ward codes for segments naming a former ward with its type ('phuong Chi Lang')."""
        old_keys: list[str] = []
        for segment in _segments(text):
            words = _marker_fold(segment).split()
            if len(words) < 2:
                continue
            head = _WARD_TYPE_EXPANSION.get(words[0])
            folded = " ".join([head, *words[1:]]) if head else " ".join(words)
            old_keys.extend(self._old_ward_names.get(folded, ()))
        return self._convert_old_keys(old_keys)

    def _type_conflict(self, code: str, text: str) -> bool:
        """Whether the text names this ward with another unit type ('phuong X' for 'Xã X')."""
        kind, short = _split_ward_type(self._by_code[code].name)
        name = fold(short)
        folded = f" {_marker_fold(text)} "
        found = {
            canonical
            for canonical, aliases in _OLD_WARD_TYPE_ALIASES.items()
            for alias in aliases
            if f" {alias} {name} " in folded
        }
        return bool(found) and kind not in found

    @staticmethod
    def _old_wards_in_text(text: str, province_key: str, district_key: str) -> list[str]:
        """Old wards of a district named with their type in the text (the parser's fallback).

        The legacy parser gives up when an unaccented name is ambiguous within the district
        (e.g. 'xa Chau Binh' = Xã Châu Bình or Xã Châu Bính); return all of them, preferring
        exact accented matches.
        """
        folded = f" {_marker_fold(text)} "
        tone = _tone_key(text)
        exact: list[str] = []
        loose: list[str] = []
        for table in (
            _plegacy.DICT_PROVINCE_DISTRICT_WARD_NO_ACCENTED,
            _plegacy.DICT_PROVINCE_DISTRICT_WARD_ACCENTED,
            _plegacy.DICT_PROVINCE_DISTRICT_WARD_SHORT_ACCENTED,
        ):
            for key, entry in table.get(province_key, {}).get(district_key, {}).items():
                short, kind = entry.get("wardShort"), entry.get("wardType")
                if not isinstance(short, str) or not isinstance(kind, str):
                    continue
                aliases = _OLD_WARD_TYPE_ALIASES.get(fold(kind), (fold(kind),))
                if not any(f" {alias} {fold(short)} " in folded for alias in aliases):
                    continue
                bucket = exact if f" {_tone_key(short)}" in f" {tone}" else loose
                if key not in bucket:
                    bucket.append(key)
        return exact or loose

    def locate_address(self, text: str, limit: int = 5) -> LocateResult:
        """Suggest wards for a free-text address, new (2025) or old (pre-2025) style."""
        text = unicodedata.normalize("NFC", text or "").strip()
        if not fold(text):
            return LocateResult([], False, None)
        mention = self._province_mention(text)
        if mention.code is not None and mention.code != self.province_code:
            return LocateResult([], True, self._nat.province_names.get(mention.code))

        names_province = mention.code == self.province_code and not mention.old_city
        old_style = self._has_old_markers(text)

        # 2025-style parse, on the address without its former district-level parts.
        # Nothing is left when only former districts were given ('huyen Cao Loc').
        text_2025 = self._strip_old_districts(text) if old_style else text
        new_code = None
        if fold(text_2025):
            if not names_province:
                text_2025 = f"{text_2025}, {self._vam_name}"
            elif mention.keyword not in self._nat.keywords_2025[self.province_code]:
                # A former province's name: replace it with the current one.
                text_2025 = ", ".join([*_segments(text_2025)[:-1], self._vam_name])
            new_code = self._parse_2025(text_2025)

        # Legacy parse + conversion, trying each former province when none is named.
        legacy_codes: list[str] = []
        district_codes: list[str] = []
        if names_province and mention.keyword in self._nat.legacy_keywords[self.province_code]:
            legacy_texts = [text]
        else:
            legacy_texts = [f"{text}, {name}" for name in self._old_names]
        for legacy_text in legacy_texts:
            codes, district = self._parse_legacy(legacy_text)
            legacy_codes.extend(c for c in codes if c not in legacy_codes)
            district_codes.extend(c for c in district if c not in district_codes)

        conflict = new_code is not None and self._type_conflict(new_code, text)
        if not legacy_codes and (old_style or conflict or new_code is None):
            # 'phuong Hoang Van Thu' without its old district: any former ward of that name.
            legacy_codes = self._old_wards_by_name(text)

        scored: list[tuple[float, str, str]] = []
        legacy_top = 0.92 if old_style or conflict else 0.75
        for index, code in enumerate(legacy_codes):
            score = legacy_top if index == 0 else legacy_top - 0.15 - 0.01 * index
            scored.append((score, code, "legacy"))
        if new_code is not None:
            score = 0.7 if (old_style or conflict) and legacy_codes else 0.9
            scored.append((score - 0.2 if conflict else score, new_code, "address"))
        if not scored:
            # No ward found by the parsers: ward names typed loosely, then, if only an old
            # district was recognised ('huyen Cao Loc'), the new wards covering it.
            for score, ward in self._name_fallback(text):
                scored.append((score, ward.code, "name"))
            for index, code in enumerate(district_codes):
                scored.append((0.45 - 0.01 * index, code, "legacy"))

        return LocateResult(self._rank(scored, limit), False, None)

    def _name_fallback(self, text: str) -> list[tuple[float, WardInfo]]:
        """Ward-name matches on the address's segments (word n-grams if it has no commas)."""
        province_keywords = (
            self._nat.keywords_2025[self.province_code]
            | self._nat.legacy_keywords[self.province_code]
        )
        segments = []
        for segment in _segments(text):
            folded = _marker_fold(segment)
            if (
                _OLD_DISTRICT_SEGMENT.match(folded)
                or self._is_old_city(folded)
                or _PROVINCE_PREFIX.sub("", folded).replace(" ", "") in province_keywords
            ):
                continue  # a former district or the province itself, not a ward name
            segments.append(segment)
        pieces = list(segments)
        if len(segments) == 1:
            # Short fuzzy pieces are noisy: only look inside an address without commas.
            words = _clean(segments[0]).split()
            for size in (4, 3, 2):
                for start in range(len(words) - size + 1):
                    pieces.append(" ".join(words[start : start + size]))
        best: dict[str, tuple[float, WardInfo]] = {}
        for piece in dict.fromkeys(pieces):
            for score, ward in self._name_matches(piece)[:3]:
                if score >= 0.6 and score > best.get(ward.code, (0.0, ward))[0]:
                    best[ward.code] = (score, ward)
        ranked = sorted(best.values(), key=lambda item: (-item[0], item[1].name))
        return [(round(0.6 * score, 4), ward) for score, ward in ranked]

    def _rank(self, scored: list[tuple[float, str, str]], limit: int) -> list[Suggestion]:
        """Sort (score, code, reason) triples best first, dropping duplicate wards."""
        seen: set[str] = set()
        result: list[Suggestion] = []
        for score, code, reason in sorted(scored, key=lambda item: -item[0]):
            ward = self._by_code.get(code)
            if ward is None or code in seen:
                continue
            seen.add(code)
            result.append(Suggestion(ward, round(min(max(score, 0.0), 1.0), 4), reason, None))
        return result[: max(limit, 0)]

    # ------------------------------------------------------------------------- dispatch

    def locate(self, text: str, limit: int = 5) -> LocateResult:
        """Locate 'lat,lon' / 'lat lon' coordinates or else a free-text address."""
        point = parse_coordinates(text or "")
        if point is not None:
            return self.locate_point(point[0], point[1], limit=limit)
        return self.locate_address(text, limit=limit)


def parse_coordinates(text: str) -> tuple[float, float] | None:
    """Parse decimal 'lat,lon', 'lat lon' or 'lat;lon' (also '21,85 106,76'); None otherwise."""
    match = _COORDS_DOT.match(text)
    if match and "." in text:
        lat, lon = float(match.group(1)), float(match.group(2))
    else:
        match = _COORDS_COMMA.match(text)
        if not match or "," not in text:
            return None
        lat = float(match.group(1).replace(",", "."))
        lon = float(match.group(2).replace(",", "."))
    if -90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0:
        return lat, lon
    return None


@functools.lru_cache
def get_gazetteer(province_code: str) -> Gazetteer:
    """Shared, lazily built gazetteer for a province code."""
    return Gazetteer(province_code)
