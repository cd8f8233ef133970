"""The labelled address set (tests/data/addresses.tsv) and how its labels are made.

Each row names the unit it means in the official tables, not a ward code guessed by hand:

- ``new|<2025 ward name>``: a ward of the configured province in ``vietnam-provinces``;
- ``old|<former province>|<former district>|<former ward>``: a pre-2025 ward in
  ``vietnamadminunits``' legacy tables, converted with its own 2025 conversion table (the
  default new ward when the old one was split), then named in ``vietnam-provinces``.

Nothing here uses ``bot.geo``: the labels must not come from the matcher they test.
"""

from __future__ import annotations

import csv
import random
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vietnam_provinces import Province, ProvinceCode, Ward
from vietnamadminunits.converter import converter_2025 as conv
from vietnamadminunits.parser import parser_from_2025 as new_tables
from vietnamadminunits.parser import parser_legacy as old_tables

ADDRESSES_TSV = Path(__file__).parent / "data" / "addresses.tsv"
NONSENSE_TSV = Path(__file__).parent / "data" / "addresses_nonsense.tsv"
COLUMNS = ("text", "province", "ward_code", "kind", "accents", "label")


@dataclass(frozen=True)
class AddressRow:
    """One labelled address."""

    text: str
    province: str
    ward_code: str
    kind: str  # "old" (pre-2025 units) or "new" (2025 units)
    accents: str  # "yes" or "no"
    label: str


def _key(name: str) -> str:
    """Compare names without accents, case, spacing or dash style ('Hoà' == 'Hòa')."""
    decomposed = unicodedata.normalize("NFD", name.lower().replace("đ", "d"))
    bare = "".join(ch for ch in decomposed if ch.isalnum())
    return bare


def _exact(name: str) -> str:
    """Accent-sensitive comparison key that ignores tone-mark placement and spacing."""
    decomposed = unicodedata.normalize("NFD", name.lower())
    tones = "".join(ch for ch in decomposed if ch in "\u0300\u0301\u0303\u0309\u0323")
    rest = "".join(ch for ch in decomposed if ch.isalnum() or ch in "\u0302\u0306\u031b")
    return unicodedata.normalize("NFC", rest) + "|" + "".join(sorted(tones))


def has_accents(text: str) -> bool:
    """Whether the text carries Vietnamese diacritics (or đ)."""
    if "đ" in text.lower():
        return True
    return any(unicodedata.combining(ch) for ch in unicodedata.normalize("NFD", text))


def official_code(province: str, name: str) -> str:
    """The official 5-digit code of a 2025 ward of `province`, by its exact name."""
    found = [
        f"{int(w.code):05d}"
        for w in Ward.iter_all()
        if int(w.province_code) == int(province) and _exact(w.name) == _exact(name)
    ]
    if len(found) != 1:
        raise LookupError(f"{name!r} is not one ward of province {province}: {found}")
    return found[0]


def _new_province_key(province: str) -> str:
    for key, entry in new_tables.DICT_PROVINCE.items():
        if int(entry["provinceCode"]) == int(province):
            return key
    raise LookupError(province)


def _new_ward_name(province_key: str, ward_key: str) -> str:
    """The 2025 ward's name for a conversion-table key (the tables use three spellings)."""
    for table in (
        new_tables.DICT_PROVINCE_WARD_NO_ACCENTED,
        new_tables.DICT_PROVINCE_WARD_ACCENTED,
        new_tables.DICT_PROVINCE_WARD_SHORT_ACCENTED,
    ):
        entry = table.get(province_key, {}).get(ward_key)
        if entry is not None:
            return str(entry["ward"])
    raise LookupError(ward_key)


def old_ward_key(old_province: str, district: str, ward: str) -> str:
    """The legacy 'province_district_ward' key of a former ward, by its full names."""
    provinces = [
        k
        for k, v in old_tables.DICT_PROVINCE.items()
        if _key(v["provinceShort"]) == _key(old_province)
    ]
    if len(provinces) != 1:
        raise LookupError(f"former province {old_province!r}: {provinces}")
    pkey = provinces[0]
    districts = [
        k
        for k, v in old_tables.DICT_PROVINCE_DISTRICT[pkey].items()
        if _exact(v["district"]) == _exact(district)
    ]
    if len(districts) != 1:
        raise LookupError(f"former district {district!r} of {old_province}: {districts}")
    dkey = districts[0]
    wards = [
        k
        for k, v in old_tables.DICT_PROVINCE_DISTRICT_WARD_NO_ACCENTED[pkey][dkey].items()
        if isinstance(v.get("ward"), str) and _exact(v["ward"]) == _exact(ward)
    ]
    if len(wards) != 1:
        raise LookupError(f"former ward {ward!r} of {district}: {wards}")
    return f"{pkey}_{dkey}_{wards[0]}"


def converted_name(province: str, old_key: str) -> str:
    """The 2025 ward a former ward became (the table's default one when it was split)."""
    pkey = _new_province_key(province)
    divided = conv.DICT_PROVINCE_WARD_DIVIDED.get(pkey, {}).get(old_key)
    if divided:
        defaults = [c["newWardKey"] for c in divided if c.get("isDefaultNewWard")]
        if len(defaults) != 1:
            raise LookupError(f"{old_key}: no single default new ward")
        return _new_ward_name(pkey, defaults[0])
    targets = [
        new_key
        for new_key, olds in conv.DICT_PROVINCE_WARD_NO_DIVIDED.get(pkey, {}).items()
        if old_key in olds
    ]
    if len(targets) != 1:
        raise LookupError(f"{old_key}: converts to {targets}")
    return _new_ward_name(pkey, targets[0])


def resolve_label(province: str, label: str) -> str:
    """The official 2025 ward code a label means."""
    kind, *parts = label.split("|")
    if kind == "new" and len(parts) == 1:
        return official_code(province, parts[0])
    if kind == "old" and len(parts) == 3:
        return official_code(province, converted_name(province, old_ward_key(*parts)))
    raise ValueError(f"malformed label {label!r}")


def load_rows(path: Path = ADDRESSES_TSV) -> list[AddressRow]:
    """The labelled addresses."""
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [AddressRow(**{c: row[c] for c in COLUMNS}) for row in reader]


def load_nonsense(path: Path = NONSENSE_TSV) -> list[tuple[str, str]]:
    """(text, province) pairs that name no place at all."""
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [(row["text"], row["province"]) for row in reader]


def write_rows(rows: list[AddressRow], path: Path = ADDRESSES_TSV) -> None:
    """Write the set back (codes and accents recomputed from the labels and texts)."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", quoting=csv.QUOTE_NONE, lineterminator="\n")
        writer.writerow(COLUMNS)
        for row in rows:
            writer.writerow(
                [
                    row.text,
                    row.province,
                    resolve_label(row.province, row.label),
                    row.label.split("|", 1)[0],
                    "yes" if has_accents(row.text) else "no",
                    row.label,
                ]
            )


@dataclass(frozen=True)
class Scores:
    """Top-1 hits per group of the address set, and the rows missed."""

    hits: dict[tuple[str, str], int]
    totals: dict[tuple[str, str], int]
    misses: list[tuple[AddressRow, list[str]]]

    def share(self, group: tuple[str, str]) -> float:
        """Top-1 share of one group: ('province', '20'), ('kind', 'old'), ('all', '')..."""
        return self.hits.get(group, 0) / self.totals[group]

    def table(self) -> str:
        """The per-province / per-kind / per-accents table, as printed by the tests and script."""
        lines = [f"{'group':<26}{'top-1':>8}{'rows':>7}"]
        for group in sorted(
            self.totals, key=lambda g: ("province kind accents all".split().index(g[0]), g[1])
        ):
            name = f"{group[0]} {group[1]}".strip()
            if group[0] == "province":
                code, _, kind = group[1].partition(" ")
                full = Province.from_code(ProvinceCode(int(code))).name
                short = full.removeprefix("Tỉnh ").removeprefix("Thành phố ")
                name = f"{short} {kind}".strip()
            lines.append(f"{name:<26}{100 * self.share(group):7.1f}%{self.totals[group]:>7}")
        return "\n".join(lines)


def score(locate: Callable[[str, str], list[str]], rows: list[AddressRow]) -> Scores:
    """Top-1 accuracy of `locate(text, province) -> ward codes, best first` on `rows`."""
    hits: dict[tuple[str, str], int] = {}
    totals: dict[tuple[str, str], int] = {}
    misses: list[tuple[AddressRow, list[str]]] = []
    for row in rows:
        codes = locate(row.text, row.province)
        hit = bool(codes) and codes[0] == row.ward_code
        groups = [
            ("province", row.province),
            ("kind", row.kind),
            ("accents", row.accents),
            ("province", f"{row.province} {row.kind}"),
            ("all", ""),
        ]
        for group in groups:
            totals[group] = totals.get(group, 0) + 1
            hits[group] = hits.get(group, 0) + hit
        if not hit:
            misses.append((row, codes))
    return Scores(hits, totals, misses)


# Abbreviations people write for the unit types.
_WARD_ABBREVIATIONS = {
    "Phường": ("P.", "p ", "F."),
    "Xã": ("X.", "xa "),
    "Thị trấn": ("TT.", "tt "),
}
_DISTRICT_ABBREVIATIONS = {
    "Quận": ("Q.", "q "),
    "Huyện": ("H.", "h "),
    "Thị xã": ("TX.", "tx "),
    "Thành phố": ("TP.", "tp "),
}


def _plain(text: str) -> str:
    """Text without accents, lower case (as typed on a phone without a Vietnamese keyboard)."""
    decomposed = unicodedata.normalize("NFD", text.lower().replace("đ", "d"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def every_former_ward(province: str, seed: int = 5) -> list[tuple[str, str]]:
    """(address, expected 2025 code) for every former ward of a province's former provinces,
    written with its former district in one of four styles chosen by a seeded draw: full
    names; unaccented; abbreviated types; unaccented with a street in front."""
    rnd = random.Random(seed)
    pkey = _new_province_key(province)
    result = []
    for old_province in conv.DICT_PROVINCE[pkey]:
        for dkey, district in old_tables.DICT_PROVINCE_DISTRICT[old_province].items():
            wards = old_tables.DICT_PROVINCE_DISTRICT_WARD_NO_ACCENTED[old_province][dkey]
            for wkey, ward in wards.items():
                if not isinstance(ward.get("ward"), str):
                    continue
                try:
                    expected = official_code(
                        province, converted_name(province, f"{old_province}_{dkey}_{wkey}")
                    )
                except LookupError:
                    continue  # not in the conversion table
                wtype, dtype = ward["wardType"], district["districtType"]
                wshort = ward["ward"][len(wtype) + 1 :]
                dshort = district["district"][len(dtype) + 1 :]
                wabbr = rnd.choice(_WARD_ABBREVIATIONS.get(wtype, (wtype + " ",)))
                dabbr = rnd.choice(_DISTRICT_ABBREVIATIONS.get(dtype, (dtype + " ",)))
                text = [
                    f"{ward['ward']}, {district['district']}",
                    _plain(f"{ward['ward']}, {district['district']}"),
                    f"{wabbr}{wshort} {dabbr}{dshort}",
                    _plain(f"so 12 duong Le Loi {wabbr}{wshort} {dabbr}{dshort}"),
                ][rnd.randrange(4)]
                result.append((text, expected))
    return result
