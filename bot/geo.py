"""Offline ward lookup for one province: GPS points, new and old-style addresses, ward names.

Official ward codes and names come from ``vietnam-provinces``; centroids and the pre-2025 ->
2025 tables (former districts and wards, their keywords, the conversion of each former ward)
come from ``vietnamadminunits``. Nothing here touches the network: its ``convert_address``
(which may call an online geocoder) and its parser are not used; the tables are read directly.

Addresses are read as words. A unit word before a name says what the name is ('phường',
'p', 'f' for wards; 'quận', 'q', 'huyện', 'h', 'thị xã', 'tx', 'thành phố', 'tp' for the
former districts; 'thôn', 'tổ', 'đường', a house number... for places below a ward). Then:
a former ward named with the former district it was in is that ward (converted to 2025);
a 2025 ward named with its own type (or none) is that ward; a former ward named alone
converts, first when the address has other pre-2025 units; a former district alone offers
the wards covering it. Each reading gets a confidence; below MIN_CONFIDENCE nothing is
offered and the place counts as not recognised.
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
# GPS index: square side (degrees) and the radii (km) tried in turn for the nearest centroid.
GRID_CELL_DEG = 0.05
NEAREST_RADII_KM = (2.0, 5.0, 10.0, 20.0, MAX_NEAREST_KM)

# Address matching. Scores are the confidence that the reporter means that ward; below
# MIN_CONFIDENCE a guess is not offered and the place counts as not recognised.
MIN_CONFIDENCE = 0.5
PAIR_SCORE = 0.97  # a former ward named with its former district
NEW_SCORE = 0.9  # a 2025 ward
OLD_STYLE_SCORE = 0.88  # a former ward alone, in an address with other pre-2025 units
OLD_ALONE_SCORE = 0.7  # a former ward alone, in an address with nothing else pre-2025
DISTRICT_SCORE = 0.55  # only a former district: the new wards covering it
DISTRICT_SUGGESTIONS = 5
AMBIGUITY_PENALTY = 0.5  # per other former ward of the same name that fits as well
SPLIT_STEP = 0.15  # below the default new ward of a split former ward
UNMARKED = 0.9  # a name without its unit word
TYPE_MISMATCH = 0.7  # 'phuong X' for what is a xã X
DISTRICT_TYPE_MISMATCH = 0.95  # 'tx Ben Cat' for thành phố Bến Cát: districts were upgraded
ACCENT_MISMATCH = 0.9  # accents typed that are not the name's
LONE_WORD = 0.5  # a one-word name, unmarked, inside a longer text
EMBEDDED_OLD = 0.7  # a former ward's name, unmarked, inside a longer text
FUZZY_MIN = 0.8  # similarity of a misspelt name after a unit word
FUZZY_MIN_CHARS = 5
SEGMENT_NAME_SCORE = 0.75  # a whole segment that is (nearly) a ward's name
PIECE_NAME_SCORE = 0.6  # words inside a text without commas
PIECE_NAME_MIN = 0.85
WARD_NAME_MIN = 0.7
_MAX_NAME_WORDS = 6
_UNIT_LEVELS = ("ward", "district", "province")
_WARD_OR_DISTRICT = ("ward", "district")

# Unit words written before a name: the level and type of unit they introduce. Words of
# the level below the ward (village, group, street, alley...) introduce no ward at all.
_MARKERS: dict[str, tuple[str, str]] = {
    "phuong": ("ward", "phuong"),
    "p": ("ward", "phuong"),
    "f": ("ward", "phuong"),
    "xa": ("ward", "xa"),
    "x": ("ward", "xa"),
    "thi tran": ("ward", "thi tran"),
    "tt": ("ward", "thi tran"),
    "dac khu": ("ward", "dac khu"),
    "dk": ("ward", "dac khu"),
    "quan": ("district", "quan"),
    "q": ("district", "quan"),
    "huyen": ("district", "huyen"),
    "h": ("district", "huyen"),
    "thi xa": ("district", "thi xa"),
    "tx": ("district", "thi xa"),
    "thanh pho": ("district", "thanh pho"),
    "tp": ("district", "thanh pho"),
    "tinh": ("province", "tinh"),
    **{
        word: ("sub", word)
        for word in (
            "thon",
            "to",
            "khoi",
            "xom",
            "ap",
            "ban",
            "khu",
            "kp",
            "ngo",
            "ngach",
            "hem",
            "kiet",
            "duong",
            "pho",
            "dg",
            "so",
            "tdp",
            "kdc",
            "cum",
            "khu pho",
            "to dan pho",
            "khu dan cu",
        )
    },
}
# Unit words as written with accents: typed with other accents they are other words.
_MARKER_SPELLING = {
    "phuong": "phường",
    "xa": "xã",
    "thi tran": "thị trấn",
    "dac khu": "đặc khu",
    "dk": "đk",
    "quan": "quận",
    "huyen": "huyện",
    "thi xa": "thị xã",
    "thanh pho": "thành phố",
    "tinh": "tỉnh",
    "thon": "thôn",
    "to": "tổ",
    "khoi": "khối",
    "xom": "xóm",
    "ap": "ấp",
    "ban": "bản",
    "ngo": "ngõ",
    "ngach": "ngách",
    "hem": "hẻm",
    "kiet": "kiệt",
    "duong": "đường",
    "pho": "phố",
    "dg": "đg",
    "so": "số",
    "cum": "cụm",
    "khu pho": "khu phố",
    "to dan pho": "tổ dân phố",
    "khu dan cu": "khu dân cư",
}
# Type prefixes inside vietnamadminunits keywords ('phuong13', 'q2', 'thanhphothuduc').
_WARD_KEYWORDS = (
    ("thitran", "thi tran"),
    ("phuong", "phuong"),
    ("ward", "phuong"),
    ("dackhu", "dac khu"),
    ("xa", "xa"),
)
_DISTRICT_KEYWORDS = (
    ("thanhpho", "thanh pho"),
    ("thixa", "thi xa"),
    ("quan", "quan"),
    ("district", "quan"),
    ("huyen", "huyen"),
)
_DIGIT_KEYWORDS = {"p": "phuong", "f": "phuong", "q": "quan"}
_LETTER_DIGIT = re.compile(r"(?<=[^\W\d_])(?=\d)|(?<=\d)(?=[^\W\d_])")
# 'Kỳ'/'Kì', 'Mỹ'/'Mĩ': a y closing a syllable after a consonant is written i as well.
_Y_AS_I = re.compile(r"(?<=[bcdfghjklmnpqrstvwxz])y(?=[bcdfghjklmnpqrstvwxz]|$)")
_LEADING_ZEROS = re.compile(r"(?<!\d)0+(?=\d)")

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
_PROVINCE_PREFIX = re.compile(r"^(?:tinh|thanh pho|tp)\s+")
# A folded segment that starts with a ward or district type.
_UNIT_START = re.compile(
    r"^(?:phuong|p|xa|x|dac khu|dk|thi tran|tt|huyen|h|quan|q|thi xa|tx|thanh pho|tp)(?:\s|$)"
    r"|^q\d"
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
    # How close the best guess came, even when it was not good enough to be suggested.
    score: float = 0.0


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


def _canon(squashed: str) -> str:
    """Comparison key of a folded name without spaces ('ky lua' -> 'kilua', '04' -> '4')."""
    return _LEADING_ZEROS.sub("", _Y_AS_I.sub("i", squashed))


def _has_marks(text: str) -> bool:
    """Whether text carries Vietnamese diacritics or đ."""
    return "đ" in text or any(
        unicodedata.combining(ch) for ch in unicodedata.normalize("NFD", text)
    )


@dataclass(frozen=True)
class _Words:
    """An address as words: folded, as typed, and where each comma-separated part begins."""

    folded: tuple[str, ...]
    typed: tuple[str, ...]
    breaks: frozenset[int]

    @classmethod
    def of(cls, text: str) -> _Words:
        """Split an address into words ('p4' -> 'p', '4'); commas separate parts."""
        folded: list[str] = []
        typed: list[str] = []
        breaks: set[int] = set()
        for segment in _segments(text):
            breaks.add(len(folded))
            for word in _LETTER_DIGIT.sub(" ", _clean(segment)).split():
                plain = fold(word).replace(" ", "")
                if plain:
                    folded.append(plain)
                    typed.append(word)
        return cls(tuple(folded), tuple(typed), frozenset(breaks))

    def __len__(self) -> int:
        return len(self.folded)

    def same_part(self, start: int, stop: int) -> bool:
        """Whether words[start:stop] lie in one comma-separated part."""
        return not any(index in self.breaks for index in range(start + 1, stop))

    def marker_before(self, start: int) -> tuple[str, str, int] | None:
        """The unit word(s) right before words[start]: (level, type, number of words).

        Typed with accents, they must be the unit word's own ('xả khí thải' has no xã). A
        name right after a house number ('12 Lê Lợi', '5B Trần Phú') is a street's.
        """
        for size in (3, 2, 1):
            first = start - size
            if first < 0 or not self.same_part(first, start + 1):
                continue
            key = " ".join(self.folded[first:start])
            marker = _MARKERS.get(key)
            if marker is None:
                continue
            typed = " ".join(self.typed[first:start])
            if _has_marks(typed) and _tone_key(typed) != _tone_key(_MARKER_SPELLING.get(key, key)):
                continue
            if marker[0] == "sub":
                before = self.marker_before(first)
                if before is not None and before[0] in _WARD_OR_DISTRICT:
                    continue  # 'phường Dương Kinh', 'phường Xóm Chiếu': part of the name
            return marker[0], marker[1], size
        number = start - 1
        if number >= 1 and len(self.folded[number]) == 1 and self.folded[number - 1].isdigit():
            number -= 1  # '5b'
        if number >= 0 and self.folded[number].isdigit() and self.same_part(number, start + 1):
            unit = self.marker_before(number)
            if unit is None or unit[0] not in _WARD_OR_DISTRICT:
                return "sub", "number", start - number
        return None

    def below_wards(self) -> frozenset[int]:
        """Words naming a street, village or house ('đường Lê Lợi', 'thôn Nà Phái', '12 Ba
        Triệu'): from such a word to the next unit word or comma, no ward or district."""
        blocked: set[int] = set()
        for index in range(len(self)):
            if index in blocked:
                continue
            marker = self.marker_before(index)
            if marker is None or marker[0] != "sub":
                continue
            stop = index
            while stop < len(self) and not self.unit_word_at(stop):
                blocked.add(stop)
                stop += 1
                if stop in self.breaks:
                    break
        return frozenset(blocked)

    def name_words_per_part(
        self, end: int, blocked: frozenset[int]
    ) -> tuple[list[int], dict[int, int]]:
        """For each of words[:end] the first word of its comma-separated part, and for each
        part how many of its words may name a unit (neither street words nor unit words)."""
        unit_words: set[int] = set()
        for index in range(end):
            marker = self.marker_before(index)
            if marker is not None and marker[0] in _UNIT_LEVELS:
                unit_words.update(range(index - marker[2], index))
        parts: list[int] = []
        counts: dict[int, int] = defaultdict(int)
        for index in range(end):
            parts.append(index if index in self.breaks or not parts else parts[-1])
            if index not in blocked and index not in unit_words:
                counts[parts[-1]] += 1
        return parts, counts

    def unit_word_at(self, index: int) -> bool:
        """Whether a ward, district or province word starts at words[index]."""
        for size in (2, 1):
            key = " ".join(self.folded[index : index + size])
            if _MARKERS.get(key, ("",))[0] in _UNIT_LEVELS and len(key.split()) == size:
                return True
        return False


def _short_name(name: str, kind: str) -> str:
    """A name without its unit type ('Phường 12' -> '12', 'Kỳ Lừa' stays)."""
    words = name.split()
    if kind and fold(" ".join(words[: len(kind.split())])) == kind and len(words) > 1:
        return " ".join(words[len(kind.split()) :])
    return name


def _keyword_names(
    keywords: Iterable[str], prefixes: tuple[tuple[str, str], ...]
) -> list[tuple[str | None, str]]:
    """(type or None, name) read from vietnamadminunits keywords.

    'xahuuvinh' next to 'huuvinh' is a former xã Hữu Vĩnh; 'p04' is Phường 4; a keyword
    such as 'xabang' (Xà Bang) has no type: its name only starts like one.
    """
    keywords = list(keywords)
    known = set(keywords)
    result: list[tuple[str | None, str]] = []
    for keyword in keywords:
        typed = None
        for prefix, kind in prefixes:
            rest = keyword.removeprefix(prefix)
            if rest != keyword and rest and (rest in known or rest.isdigit()):
                typed = (kind, rest)
                break
        head = keyword[:1]
        if typed is None and head in _DIGIT_KEYWORDS and keyword[1:].isdigit():
            if (_DIGIT_KEYWORDS[head] == "quan") == (prefixes is _DISTRICT_KEYWORDS):
                typed = (_DIGIT_KEYWORDS[head], keyword[1:])
        result.append(typed or (None, keyword))
    return result


def _similarity(a: str, b: str) -> float:
    """difflib's ratio, with its cheap upper bounds tried first."""
    matcher = SequenceMatcher(None, a, b, autojunk=False)
    if matcher.real_quick_ratio() < FUZZY_MIN or matcher.quick_ratio() < FUZZY_MIN:
        return 0.0
    return matcher.ratio()


def _fit(unit: _Unit, kind: str, marker: tuple[str, str, int] | None, key: str) -> float:
    """How well a name fits the unit word before it (0: it cannot be that unit)."""
    if marker is None:
        return 0.0 if key.isdigit() else UNMARKED  # 'Phường 4' needs its 'phường'
    level, marker_kind, _ = marker
    if unit.level == "district":
        if level != "district":
            return 0.0
        return 1.0 if marker_kind == kind else DISTRICT_TYPE_MISMATCH
    if level != "ward":
        return 0.0
    return 1.0 if marker_kind == kind else TYPE_MISMATCH


def _ranked(
    top: float, position: int, codes: tuple[str, ...], reason: str
) -> list[tuple[float, int, str, str]]:
    """The new wards of a former unit: its default one, then the others of a split."""
    return [
        (top if index == 0 else top - SPLIT_STEP - 0.01 * index, position, code, reason)
        for index, code in enumerate(codes)
    ]


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


# A grid point: lat, lon, lat in radians, its cosine, order, province code, ward code.
_GridPoint = tuple[float, float, float, float, int, str, str]


class _PointGrid:
    """Ward centroids bucketed in squares of GRID_CELL_DEG for exact radius queries.

    A query looks only at the squares under the radius's bounding box (exact for great
    circles: |Δlat| <= r and |Δlon| <= asin(sin r / cos lat)) and measures each point there
    with _haversine_km's arithmetic, step for step (the point's radians and cosine computed
    once), so distances, ties and results equal a full scan's.
    """

    def __init__(self, points: Iterable[tuple[float, float, str, str]]) -> None:
        """Index (lat, lon, province code, ward code); their order breaks distance ties."""
        self._cells: dict[tuple[int, int], list[_GridPoint]] = {}
        for order, (lat, lon, pc, code) in enumerate(points):
            rad = math.radians(lat)
            point = (lat, lon, rad, math.cos(rad), order, pc, code)
            self._cells.setdefault(self.cell(lat, lon), []).append(point)

    @staticmethod
    def cell(lat: float, lon: float) -> tuple[int, int]:
        """The square a point falls in."""
        return math.floor(lat / GRID_CELL_DEG), math.floor(lon / GRID_CELL_DEG)

    def within(
        self, lat: float, lon: float, radius_km: float
    ) -> list[tuple[float, int, str, str]]:
        """(distance km, order, province code, ward code) of every point within radius_km."""
        reach = radius_km / EARTH_RADIUS_KM
        dlat = math.degrees(reach)
        if abs(lat) + dlat >= 90.0 or math.sin(reach) >= math.cos(math.radians(lat)):
            dlon = 180.0
        else:
            dlon = math.degrees(math.asin(math.sin(reach) / math.cos(math.radians(lat))))
        pad = 1e-9  # rounding at the box's edge must not lose a point on the circle
        lat_min, lat_max = lat - dlat - pad, lat + dlat + pad
        lon_min, lon_max = lon - dlon - pad, lon + dlon + pad
        (lat_lo, lon_lo), (lat_hi, lon_hi) = (
            self.cell(lat_min, lon_min),
            self.cell(lat_max, lon_max),
        )
        if (lat_hi - lat_lo + 1) * (lon_hi - lon_lo + 1) > len(self._cells):
            cells = [
                points
                for (i, j), points in self._cells.items()
                if lat_lo <= i <= lat_hi and lon_lo <= j <= lon_hi
            ]
        else:
            cells = [
                self._cells[(i, j)]
                for i in range(lat_lo, lat_hi + 1)
                for j in range(lon_lo, lon_hi + 1)
                if (i, j) in self._cells
            ]
        p1 = math.radians(lat)
        cos1 = math.cos(p1)
        found = []
        for points in cells:
            for plat, plon, p2, cos2, order, pc, code in points:
                if lat_min <= plat <= lat_max and lon_min <= plon <= lon_max:
                    # _haversine_km(lat, lon, plat, plon), with p2 and cos(p2) precomputed
                    dp, dl = p2 - p1, math.radians(plon - lon)
                    a = math.sin(dp / 2) ** 2 + cos1 * cos2 * math.sin(dl / 2) ** 2
                    dist = 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))
                    if dist <= radius_km:
                        found.append((dist, order, pc, code))
        return found

    def around(self, lat: float, lon: float, default_spacing_km: float) -> tuple[float, float]:
        """From the query's square and the eight around it: the distance to the nearest
        point there (infinity if none; the nearest of all lies within it) and the typical
        distance between neighbouring points (km)."""
        row, col = self.cell(lat, lon)
        p1 = math.radians(lat)
        cos1 = math.cos(p1)
        first, count = math.inf, 0
        for i in (row - 1, row, row + 1):
            for j in (col - 1, col, col + 1):
                for _, plon, p2, cos2, *_ in self._cells.get((i, j), ()):
                    # _haversine_km's arithmetic, as in within()
                    dp, dl = p2 - p1, math.radians(plon - lon)
                    a = math.sin(dp / 2) ** 2 + cos1 * cos2 * math.sin(dl / 2) ** 2
                    first = min(first, 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a))))
                    count += 1
        if not count:
            return first, default_spacing_km
        side_km = 3 * math.radians(GRID_CELL_DEG) * EARTH_RADIUS_KM
        return first, side_km / math.sqrt(count)


@functools.lru_cache(maxsize=1)
def _national_grid() -> _PointGrid:
    """Every ward centroid of the country, in the national list's order."""
    return _PointGrid(_national().centroids)


def centroid_stats() -> dict[str, tuple[int, int]]:
    """Per province code: (wards with a centroid, official wards)."""
    nat = _national()
    return {
        pc: (sum(1 for w in infos if w.lat is not None), len(infos))
        for pc, infos in sorted(nat.by_province.items())
    }


# ----------------------------------------------------------------------------- gazetteer


@dataclass(frozen=True)
class _Unit:
    """A place an address can name: a 2025 ward, a former ward or a former district."""

    level: str  # "new", "old" or "district"
    kind: str  # folded unit type: "phuong", "xa", "thi tran", "quan", "huyen", ...
    codes: tuple[str, ...]  # the 2025 ward it is, became (default first) or covers
    district: str  # former units: 'province_district' key of the district; new: ''


@dataclass(frozen=True)
class _Mention:
    """A span of an address's words that names a unit, and how well it fits there."""

    start: int
    end: int
    unit: _Unit
    quality: float
    marked: bool  # a unit word of its level stands before it
    alone: bool = False  # it is all its comma-separated part holds besides unit words


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
        self._old_provinces: tuple[str, ...] = tuple(_conv.DICT_PROVINCE.get(self._vam_key, []))
        self._conversion = self._build_conversion()
        self._district_codes = self._build_district_codes()
        self._province_keywords: frozenset[str] = (
            self._nat.keywords_2025[self.province_code]
            | self._nat.legacy_keywords[self.province_code]
        )
        self._names = self._build_name_index()
        self._fuzzy_names = self._build_fuzzy_names()
        # GPS: the province's centroids in a grid, and a radius that surely holds them all
        # from any point within MAX_NEAREST_KM of one of them (the box's sides bound the
        # great-circle distance between any two of them).
        own_points = [
            (w.lat, w.lon, w.province_code, w.code)
            for w in infos
            if w.lat is not None and w.lon is not None
        ]
        self._grid = _PointGrid(own_points)
        _national_grid()  # built now, not at the first pin
        lats = [p[0] for p in own_points] or [0.0]
        lons = [p[1] for p in own_points] or [0.0]
        span = math.radians(max(lats) - min(lats)) + math.radians(max(lons) - min(lons))
        self._grid_reach_km = MAX_NEAREST_KM + EARTH_RADIUS_KM * span
        area = (EARTH_RADIUS_KM * math.radians(max(lats) - min(lats))) * (
            EARTH_RADIUS_KM * math.radians(max(lons) - min(lons))
        )
        self._spacing_km = max(1.0, math.sqrt(area / max(len(own_points), 1)))

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

    def _build_name_index(self) -> dict[str, tuple[tuple[_Unit, str, str], ...]]:
        """Canonical name key -> (unit, the type this name implies, accented name or '').

        2025 wards from the official list (and vietnamadminunits' keywords for them);
        former wards and districts of the province's former provinces from the legacy
        tables, with their keywords: these carry earlier names ('Phường 13' merged into
        'Phường 12', 'Quận 2' into Thủ Đức) and number forms ('p04', 'q1').
        """
        index: dict[str, list[tuple[_Unit, str, str]]] = defaultdict(list)

        def add(key: str, unit: _Unit, kind: str, name: str) -> None:
            entries = index[_canon(key)]
            for position, (other, other_kind, other_name) in enumerate(entries):
                if (other, other_kind) == (unit, kind):
                    if name and not other_name:  # keep the spelling that can compare accents
                        entries[position] = (unit, kind, name)
                    return
            entries.append((unit, kind, name))

        vam_keywords: dict[str, list[str]] = defaultdict(list)
        for table in (
            _p2025.DICT_PROVINCE_WARD_NO_ACCENTED,
            _p2025.DICT_PROVINCE_WARD_ACCENTED,
            _p2025.DICT_PROVINCE_WARD_SHORT_ACCENTED,
        ):
            for key, entry in table.get(self._vam_key, {}).items():
                code = self._nat.vam_ward_code.get((self._vam_key, key))
                if code is not None:
                    vam_keywords[code].extend(entry.get("wardKeywords") or [])
        for entry in self._entries:
            unit = _Unit("new", entry.kind, (entry.ward.code,), "")
            short = _split_ward_type(entry.ward.name)[1]
            add(_squash(short), unit, entry.kind, short)
            for kw_kind, kw in _keyword_names(vam_keywords[entry.ward.code], _WARD_KEYWORDS):
                add(kw, unit, kw_kind or entry.kind, "")

        for province_key in self._old_provinces:
            districts = _plegacy.DICT_PROVINCE_DISTRICT.get(province_key, {})
            for district_key, district in districts.items():
                tag = f"{province_key}_{district_key}"
                codes = self._district_codes.get((province_key, district_key), ())
                if not codes:
                    continue
                kind = fold(str(district.get("districtType") or ""))
                unit = _Unit("district", kind, codes, tag)
                short = _short_name(str(district.get("districtShort") or ""), kind)
                add(_squash(short), unit, kind, short)
                for kw_kind, kw in _keyword_names(
                    district.get("districtKeywords") or [], _DISTRICT_KEYWORDS
                ):
                    add(kw, unit, kw_kind or kind, "")
            for table in (
                _plegacy.DICT_PROVINCE_DISTRICT_WARD_NO_ACCENTED,
                _plegacy.DICT_PROVINCE_DISTRICT_WARD_ACCENTED,
                _plegacy.DICT_PROVINCE_DISTRICT_WARD_SHORT_ACCENTED,
            ):
                for district_key, wards in table.get(province_key, {}).items():
                    tag = f"{province_key}_{district_key}"
                    for ward_key, ward in wards.items():
                        codes = self._conversion.get(f"{tag}_{ward_key}", ())
                        short = ward.get("wardShort")
                        if not codes or not isinstance(short, str):
                            continue
                        kind = fold(str(ward.get("wardType") or ""))
                        unit = _Unit("old", kind, codes, tag)
                        short = _short_name(short, kind)
                        add(_squash(short), unit, kind, short)
                        for kw_kind, kw in _keyword_names(
                            ward.get("wardKeywords") or [], _WARD_KEYWORDS
                        ):
                            add(kw, unit, kw_kind or kind, "")
        return {key: tuple(entries) for key, entries in index.items()}

    def _build_fuzzy_names(self) -> dict[int, tuple[tuple[str, _Unit, str, str], ...]]:
        """Word count -> (key, unit, type, accented name) of every unit's own name.

        A misspelt name keeps its number of words ('Hồng Bàn' for 'Hồng Bàng'); keyword
        aliases are left out (they have no accents to compare).
        """
        by_words: dict[int, list[tuple[str, _Unit, str, str]]] = defaultdict(list)
        for key, entries in self._names.items():
            for unit, kind, name in entries:
                if name and len(key) >= FUZZY_MIN_CHARS and not key.isdigit():
                    by_words[len(name.split())].append((key, unit, kind, name))
        return {count: tuple(items) for count, items in by_words.items()}

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

    def wards_near(self, lat: float, lon: float, radius_km: float) -> list[WardInfo]:
        """The province's wards whose centroid lies within radius_km of a point."""
        return [self._by_code[code] for _, _, _, code in self._grid.within(lat, lon, radius_km)]

    def locate_point(self, lat: float, lon: float, limit: int = 3) -> LocateResult:
        """Nearest ward centroids of the province, flagging points in another province.

        Uses the grids built at start-up; gives exactly what locate_point_scan gives.
        """
        if not self._in_vietnam(lat, lon):
            return LocateResult([], True, None)
        national = _national_grid()
        count = max(limit, 1)
        # Usually one query settles it: the nearest centroid around, plus room for `count`
        # of ours at the spacing of wards there (ours are among the country's centroids).
        first, spacing = national.around(lat, lon, self._spacing_km)
        if first > MAX_NEAREST_KM:  # no centroid in the squares around: look farther
            found = []
            for radius in NEAREST_RADII_KM:
                found = national.within(lat, lon, radius)
                if found:
                    break
        else:
            radius = first + spacing * math.sqrt(count - 1)
            found = national.within(lat, lon, radius)
        if not found:  # nothing within MAX_NEAREST_KM: not in Vietnam
            return LocateResult([], True, None)
        nearest_pc = min(found)[2]  # the nearest: by distance, then the national list's order
        if nearest_pc == self.province_code:
            # Every centroid within `radius` is in `found`: ours beyond it are farther.
            own = sorted((d, code) for d, _, pc, code in found if pc == self.province_code)
            if len(own) < count:
                own = self._nearest_own(lat, lon, count, radius)
            return self._point_result(own, limit, False, nearest_pc)
        own = sorted((d, c) for d, _, _, c in self._grid.within(lat, lon, OUTSIDE_SUGGEST_KM))
        outside = not own or own[0][0] > BORDER_TOLERANCE_KM
        if not outside and len(own) < count:  # near the border, and more of ours asked for
            own = self._nearest_own(lat, lon, count, OUTSIDE_SUGGEST_KM)
        return self._point_result(own, limit, outside, nearest_pc)

    def locate_point_scan(self, lat: float, lon: float, limit: int = 3) -> LocateResult:
        """locate_point by measuring every centroid of the country: the reference that the
        tests and scripts/bench.py compare the grid with."""
        if not self._in_vietnam(lat, lon):
            return LocateResult([], True, None)
        nearest_km, nearest_pc = math.inf, None
        own: list[tuple[float, str]] = []
        for clat, clon, pc, code in self._nat.centroids:
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
        return self._point_result(own, limit, outside, nearest_pc)

    def _in_vietnam(self, lat: float, lon: float) -> bool:
        """Inside mainland Vietnam's box, or near one of its island special zones."""
        if VN_LAT_RANGE[0] <= lat <= VN_LAT_RANGE[1] and VN_LON_RANGE[0] <= lon <= VN_LON_RANGE[1]:
            return True
        return any(
            _haversine_km(lat, lon, zlat, zlon) <= ISLAND_RADIUS_KM
            for zlat, zlon in self._nat.special_zones
        )

    def _nearest_own(
        self, lat: float, lon: float, count: int, known_km: float
    ) -> list[tuple[float, str]]:
        """The `count` nearest centroids of the province as (km, code), nearest first.

        One of them is known to lie within `known_km`; the first radius tried adds the
        typical spacing of its wards there, and it doubles until enough are found.
        """
        spacing = self._grid.around(lat, lon, self._spacing_km)[1]
        radius = known_km + spacing * math.sqrt(count - 1)
        while True:
            found = self._grid.within(lat, lon, radius)
            if len(found) >= count or radius > self._grid_reach_km:
                return sorted((d, code) for d, _, _, code in found)[:count]
            radius *= 2

    def _point_result(
        self, own: list[tuple[float, str]], limit: int, outside: bool, nearest_pc: str
    ) -> LocateResult:
        """Suggestions from (km, code) pairs, nearest first."""
        suggestions = [
            Suggestion(
                ward=self._by_code[code],
                score=round(1.0 / (1.0 + dist / GPS_HALF_SCORE_KM), 4),
                reason="gps",
                distance_km=round(dist, 3),
            )
            for dist, code in own[: max(limit, 0)]
        ]
        other = self._nat.province_names.get(nearest_pc) if outside else None
        best = suggestions[0].score if suggestions else 0.0
        return LocateResult(suggestions, outside, other, best)

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

    # ------------------------------------------------------------------------- matching

    def _province_tail(self, words: _Words) -> int:
        """How many trailing words name this province itself ('..., tỉnh Lạng Sơn')."""
        keywords = self._province_keywords
        municipalities = self._nat.municipality_keywords
        n = len(words)
        for size in range(min(5, n), 0, -1):
            if not words.same_part(n - size, n):
                continue
            tail = "".join(words.folded[n - size :])
            for prefix in ("thanhpho", "tinh", "tp"):  # 'tphcm' typed as one word
                rest = tail.removeprefix(prefix)
                if rest != tail and rest in keywords:
                    # 'tp Lang Son' without 'tinh' is the former provincial city: a district.
                    return size if prefix == "tinh" or rest in municipalities else 0
            if tail not in keywords:
                continue
            marker = words.marker_before(n - size)
            if marker is None or marker[0] == "sub":
                return size
            level, kind, marker_size = marker
            if level == "province" or (kind == "thanh pho" and tail in municipalities):
                return size + marker_size
            return 0  # 'phuong Binh Duong' is a ward; 'tp Lang Son' a former district
        return 0

    def _mentions(self, words: _Words, end: int, blocked: frozenset[int]) -> list[_Mention]:
        """Every span of words[:end] that names a unit, with how well it fits."""
        parts, names_in_part = words.name_words_per_part(end, blocked)
        found: list[_Mention] = []
        for start in range(end):
            marker = words.marker_before(start)
            if start in blocked or (marker is not None and marker[0] == "province"):
                continue  # a street, village, house number or the province
            for stop in range(start + 1, min(end, start + _MAX_NAME_WORDS) + 1):
                if not words.same_part(start, stop):
                    break  # a name may hold 'dương' ('Tảo Dương Văn'), never a comma
                key = _canon("".join(words.folded[start:stop]))
                typed = " ".join(words.typed[start:stop])
                alone = stop - start == names_in_part[parts[start]]  # 'Phương Mai, Đống Đa'
                for unit, kind, name in self._names.get(key, ()):
                    quality = _fit(unit, kind, marker, key)
                    if quality <= 0:
                        continue
                    if name and _has_marks(typed) and _tone_key(typed) != _tone_key(name):
                        quality *= ACCENT_MISMATCH
                    if marker is None and not alone and stop - start == 1:
                        quality *= LONE_WORD  # 'lang' in 'o lang ben canh' is no Láng
                    found.append(_Mention(start, stop, unit, quality, marker is not None, alone))
        return found

    def _fuzzy_mentions(
        self, words: _Words, end: int, blocked: frozenset[int], exact: list[_Mention]
    ) -> list[_Mention]:
        """Misspelt names right after a unit word ('phuong Dong Kin')."""
        starts = {m.start for m in exact}
        found: list[_Mention] = []
        for start in range(end):
            marker = words.marker_before(start)
            if start in starts or start in blocked:
                continue
            if marker is None or marker[0] not in _WARD_OR_DISTRICT:
                continue
            levels = ("new", "old") if marker[0] == "ward" else ("district",)
            best: tuple[float, int, _Unit, str] | None = None
            for stop in range(start + 1, min(end, start + _MAX_NAME_WORDS) + 1):
                if stop - 1 in blocked or not words.same_part(start, stop):
                    break
                if stop - 1 > start and words.unit_word_at(stop - 1):
                    break  # the next unit word starts another part of the address
                piece = _canon("".join(words.folded[start:stop]))
                if len(piece) < FUZZY_MIN_CHARS or piece.isdigit():
                    continue
                typed = "".join(words.typed[start:stop])
                for key, unit, kind, name in self._fuzzy_names.get(stop - start, ()):
                    if unit.level not in levels:
                        continue
                    ratio = _similarity(piece, key)
                    if ratio < FUZZY_MIN or (best is not None and ratio <= best[0]):
                        continue
                    if _has_marks(typed):  # 'phường kiểm tra' is no Kim Trà
                        ratio = min(ratio, _similarity(typed, name.lower().replace(" ", "")))
                        if ratio < FUZZY_MIN or (best is not None and ratio <= best[0]):
                            continue
                    best = (ratio, stop, unit, kind)
            if best is not None:
                ratio, stop, unit, kind = best
                quality = _fit(unit, kind, marker, "") * ratio * ratio
                if quality > 0:
                    found.append(_Mention(start, stop, unit, quality, True, False))
        return found

    def _score_mentions(
        self, mentions: list[_Mention], old_style: bool
    ) -> list[tuple[float, int, str, str]]:
        """(score, position, code, reason) for every reading of the mentions."""
        scored: list[tuple[float, int, str, str]] = []
        olds = [m for m in mentions if m.unit.level == "old"]
        districts = [m for m in mentions if m.unit.level == "district"]
        # A former ward named with the former district it belonged to: the ward in it.
        paired = False
        for ward in olds:
            for district in districts:
                apart = ward.end <= district.start or district.end <= ward.start
                if apart and ward.unit.district == district.unit.district:
                    paired = True
                    top = PAIR_SCORE * ward.quality * math.sqrt(district.quality)
                    scored.extend(_ranked(top, ward.end, ward.unit.codes, "legacy"))
        for mention in mentions:
            if mention.unit.level == "new":
                score = NEW_SCORE * mention.quality
                scored.append((score, mention.end, mention.unit.codes[0], "address"))
        if not paired:
            # A former ward named alone: certain only if no other former ward fits as well.
            by_span: dict[tuple[int, int], list[_Mention]] = defaultdict(list)
            for ward in olds:
                by_span[(ward.start, ward.end)].append(ward)
            for group in by_span.values():
                best = max(m.quality for m in group)
                firsts = {m.unit.codes[0] for m in group if m.quality == best}
                for ward in group:
                    top = (OLD_STYLE_SCORE if old_style else OLD_ALONE_SCORE) * ward.quality
                    top /= 1 + AMBIGUITY_PENALTY * (len(firsts) - 1)
                    if not ward.marked and not ward.alone:
                        top *= EMBEDDED_OLD  # 'duong xa' in a sentence is no Dương Xá
                    scored.extend(_ranked(top, ward.end, ward.unit.codes, "legacy"))
            # Only a former district: the new wards that cover it.
            for district in districts:
                for index, code in enumerate(district.unit.codes[:DISTRICT_SUGGESTIONS]):
                    score = DISTRICT_SCORE * district.quality - 0.005 * index
                    scored.append((score, district.end, code, "legacy"))
        return scored

    def locate_address(self, text: str, limit: int = 5) -> LocateResult:
        """Suggest wards for a free-text address, new (2025) or old (pre-2025) style.

        Suggestions scoring below MIN_CONFIDENCE are dropped: the place was not recognised
        (`LocateResult.score` still tells how close the best guess came).
        """
        text = unicodedata.normalize("NFC", text or "").strip()
        words = _Words.of(text)
        if not len(words):
            return LocateResult([], False, None)
        mention = self._province_mention(text)
        if mention.code is not None and mention.code != self.province_code:
            return LocateResult([], True, self._nat.province_names.get(mention.code))

        end = len(words) - self._province_tail(words)
        blocked = words.below_wards()
        mentions = self._mentions(words, end, blocked)
        mentions += self._fuzzy_mentions(words, end, blocked, mentions)
        old_style = self._has_old_markers(text) or any(
            m.marked and m.unit.level == "district" for m in mentions
        )
        scored = self._score_mentions(mentions, old_style)
        if max((s for s, *_ in scored), default=0.0) < MIN_CONFIDENCE:
            # Nothing named after a unit word: ward names typed loosely ('Ky Luaa').
            for score, ward in self._name_fallback(words, end, blocked):
                scored.append((score, 0, ward.code, "name"))
        return self._rank(scored, limit)

    def is_ward_name(self, text: str) -> bool:
        """Whether the text is just a ward's name (with or without its type, small typos)."""
        matches = self._name_matches(text)
        return bool(matches) and matches[0][0] >= WARD_NAME_MIN

    def _name_fallback(
        self, words: _Words, end: int, blocked: frozenset[int]
    ) -> list[tuple[float, WardInfo]]:
        """Ward names typed loosely: each run of words between commas, streets and villages
        (and, in a text that is one run, its word n-grams when nearly exact)."""
        runs: list[list[str]] = []
        for index in range(end):
            if index in blocked or _MARKERS.get(words.folded[index], ("",))[0] == "sub":
                continue  # nor the words 'đường', 'khối' themselves ('khói' typed unaccented)
            if not runs or index in words.breaks or index - 1 in blocked:
                runs.append([])
            runs[-1].append(words.typed[index])
        pieces = []
        for run in runs:
            folded = fold(" ".join(run))
            if _OLD_DISTRICT_SEGMENT.match(folded) or self._is_old_city(folded):
                continue  # a former district, not a ward name
            pieces.append((SEGMENT_NAME_SCORE, " ".join(run)))
        if len(pieces) == 1:
            run_words = pieces[0][1].split()
            for size in (4, 3, 2):
                for start in range(len(run_words) - size + 1):
                    pieces.append((PIECE_NAME_SCORE, " ".join(run_words[start : start + size])))
        best: dict[str, tuple[float, WardInfo]] = {}
        for weight, piece in dict.fromkeys(pieces):
            near_exact_only = weight == PIECE_NAME_SCORE or len(piece.split()) == 1
            for score, ward in self._name_matches(piece)[:3]:
                if near_exact_only and score < PIECE_NAME_MIN:
                    continue  # 'khói' is not 'Thạch Khôi'; short pieces must be exact
                value = weight * score
                if value > best.get(ward.code, (0.0, ward))[0]:
                    best[ward.code] = (value, ward)
        return sorted(best.values(), key=lambda item: (-item[0], item[1].name))

    def _rank(self, scored: list[tuple[float, int, str, str]], limit: int) -> LocateResult:
        """Best first (later in the text first among equals), one entry per ward, confident."""
        seen: set[str] = set()
        result: list[Suggestion] = []
        best = 0.0
        for score, _, code, reason in sorted(scored, key=lambda item: (-item[0], -item[1])):
            ward = self._by_code.get(code)
            if ward is None or code in seen:
                continue
            seen.add(code)
            value = round(min(max(score, 0.0), 1.0), 4)
            best = max(best, value)
            if value >= MIN_CONFIDENCE:
                result.append(Suggestion(ward, value, reason, None))
        return LocateResult(result[: max(limit, 0)], False, None, best)

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
