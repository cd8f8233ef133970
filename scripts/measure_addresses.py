"""Top-1 accuracy of the address matcher on the labelled set, per province, kind and accents.

    python scripts/measure_addresses.py              # the working tree's bot/geo.py
    python scripts/measure_addresses.py --rev 6450527  # bot/geo.py as of a commit (before/after)
    python scripts/measure_addresses.py --misses     # also list the rows missed

The set is tests/data/addresses.tsv (labels from the official tables, see tests/address_set.py);
tests/data/addresses_nonsense.tsv holds texts that name no place: the share answered "not
recognised" (no ward offered) is printed too, and the top-1 share on every former ward of each
province written with its former district (tests/address_set.every_former_ward).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.address_set import every_former_ward, load_nonsense, load_rows, score  # noqa: E402


def _geo_module(rev: str | None) -> Any:
    """bot.geo from the working tree, or the source of bot/geo.py at a git revision."""
    if rev is None:
        import bot.geo

        return bot.geo
    source = subprocess.run(
        ["git", "show", f"{rev}:bot/geo.py"], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    module = types.ModuleType(f"geo_at_{rev}")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(source, f"{rev}:bot/geo.py", "exec"), module.__dict__)  # noqa: S102
    return module


def main(argv: list[str] | None = None) -> int:
    """Print the accuracy table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", help="measure bot/geo.py as of this git revision")
    parser.add_argument("--misses", action="store_true", help="list the rows missed")
    args = parser.parse_args(argv)

    geo = _geo_module(args.rev)
    gazetteers: dict[str, Any] = {}

    def locate(text: str, province: str) -> list[str]:
        if province not in gazetteers:
            gazetteers[province] = geo.Gazetteer(province)
        gaz = gazetteers[province]
        return [s.ward.code for s in gaz.locate(text).suggestions]

    rows = load_rows()
    for province in {row.province for row in rows}:
        locate("", province)  # build each gazetteer before timing
    start = time.perf_counter()
    scores = score(locate, rows)
    per_call = (time.perf_counter() - start) / len(rows)
    nonsense = load_nonsense()
    offered = [(text, p) for text, p in nonsense if locate(text, p)]

    print(f"address matcher: {'bot/geo.py at ' + args.rev if args.rev else 'working tree'}")
    print(scores.table())
    print(f"nonsense answered 'not recognised': {len(nonsense) - len(offered)} of {len(nonsense)}")
    print(f"mean time per address: {per_call * 1e3:.2f} ms")
    print("every former ward with its former district (generated, four writing styles):")
    for province in sorted({row.province for row in rows}):
        cases = every_former_ward(province)
        hits = sum(locate(text, province)[:1] == [code] for text, code in cases)
        print(f"  province {province}: {100 * hits / len(cases):5.1f}% of {len(cases)}")
    if args.misses:
        for row, codes in scores.misses:
            print(f"MISS [{row.province} {row.kind}] {row.text!r}: {row.ward_code} != {codes[:3]}")
        for text, province in offered:
            print(f"OFFERED [{province}] {text!r}: {locate(text, province)[:3]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
