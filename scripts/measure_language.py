"""Compare plain (seeded) langdetect with handlers.language.detect_language.

Usage: python scripts/measure_language.py [path-to-tsv] [--repeat N]
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TSV = ROOT / "tests" / "data" / "language_samples.tsv"


def _class_of(code: str) -> str:
    """Collapse the Chinese variants into one class."""
    return "zh" if code.startswith("zh") else code


def _load(path: Path) -> list[tuple[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        next(reader)  # header
        return [(_class_of(label), text) for label, text in reader]


def _evaluate(
    detect: Callable[[str], str], samples: list[tuple[str, str]], repeat: int
) -> tuple[dict[str, float], float]:
    """Per-class and overall accuracy, and mean microseconds per call."""
    predictions = [_class_of(detect(text)) for _, text in samples]
    start = time.perf_counter_ns()
    for _ in range(repeat):
        for _, text in samples:
            detect(text)
    elapsed_us = (time.perf_counter_ns() - start) / 1000 / (repeat * len(samples))

    hits: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    for (label, _), predicted in zip(samples, predictions, strict=True):
        totals[label] += 1
        hits[label] += predicted == label
    accuracy = {label: hits[label] / totals[label] for label in totals}
    accuracy["overall"] = sum(hits.values()) / len(samples)
    return accuracy, elapsed_us


def main(argv: list[str] | None = None) -> int:
    """Print the comparison table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tsv", nargs="?", type=Path, default=DEFAULT_TSV)
    parser.add_argument("--repeat", type=int, default=3, help="timing passes (default 3)")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(ROOT))
    from langdetect import DetectorFactory, detect
    from langdetect.lang_detect_exception import LangDetectException

    from handlers.language import detect_language

    DetectorFactory.seed = 0

    def plain_langdetect(text: str) -> str:
        try:
            return detect(text)
        except LangDetectException:
            return "und"

    samples = _load(args.tsv)
    counts = Counter(label for label, _ in samples)
    # Warm up both (profile loading) so timing measures per-call cost only.
    plain_langdetect("warm up")
    detect_language("warm up")

    plain_acc, plain_us = _evaluate(plain_langdetect, samples, args.repeat)
    ours_acc, ours_us = _evaluate(detect_language, samples, args.repeat)

    print(f"samples: {len(samples)} from {args.tsv}")
    print(f"{'class':<10}{'n':>5}{'langdetect':>12}{'ours':>8}")
    for label in sorted(counts):
        print(f"{label:<10}{counts[label]:>5}{plain_acc[label]:>12.3f}{ours_acc[label]:>8.3f}")
    overall = ("overall", len(samples), plain_acc["overall"], ours_acc["overall"])
    print("{:<10}{:>5}{:>12.3f}{:>8.3f}".format(*overall))
    print(f"{'us/call':<10}{'':>5}{plain_us:>12.0f}{ours_us:>8.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
