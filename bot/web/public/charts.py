"""Bar charts drawn on the server as inline SVG: the pages need no JavaScript."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

# Colours with at least 4.5:1 contrast on white (WCAG AA), told apart by the legend too.
SERIES_COLOURS = ("#1d4f91", "#2e7d32", "#b3261e")
TEXT_COLOUR = "#1a1a1a"
GRID_COLOUR = "#767676"


@dataclass(frozen=True)
class Bar:
    """One labelled group of bars: one value per series."""

    label: str
    values: tuple[float, ...]


def bar_chart(
    title: str,
    bars: Sequence[Bar],
    series: Sequence[str],
    *,
    unit: str = "",
    label_width: int = 130,
    width: int = 420,
) -> str:
    """A horizontal grouped bar chart as an accessible SVG (role img, title, a text list).

    The drawing scales to the width of its box (viewBox), so it reads at 360 px; the values
    are written at the end of each bar, so no colour alone carries a number.
    """
    row_h = 17
    gap = 10
    top = 8 + 20 * len(series)  # the legend
    group_h = row_h * len(series) + gap
    height = top + group_h * max(len(bars), 1) + 8
    peak = max((v for b in bars for v in b.values), default=0) or 1
    plot_w = width - label_width - 70
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(title)}" class="chart" '
        f'preserveAspectRatio="xMinYMin meet">',
        f"<title>{escape(title)}</title>",
    ]
    for i, name in enumerate(series):
        colour = SERIES_COLOURS[i % len(SERIES_COLOURS)]
        y = 4 + 20 * i
        parts.append(f'<rect x="{label_width}" y="{y}" width="14" height="14" fill="{colour}"/>')
        parts.append(
            f'<text x="{label_width + 18}" y="{y + 12}" font-size="15" '
            f'fill="{TEXT_COLOUR}">{escape(name)}</text>'
        )
    if not bars:
        parts.append("</svg>")
        return "".join(parts)
    for n, bar in enumerate(bars):
        y0 = top + n * group_h
        parts.append(
            f'<text x="{label_width - 6}" y="{y0 + row_h * len(series) / 2 + 4:.0f}" '
            f'font-size="15" text-anchor="end" fill="{TEXT_COLOUR}">'
            f"{escape(_shorten(bar.label))}</text>"
        )
        for i, value in enumerate(bar.values):
            colour = SERIES_COLOURS[i % len(SERIES_COLOURS)]
            w = plot_w * value / peak
            y = y0 + i * row_h
            parts.append(
                f'<rect x="{label_width}" y="{y}" width="{w:.1f}" height="{row_h - 2}" '
                f'fill="{colour}"/>'
            )
            parts.append(
                f'<text x="{label_width + w + 4:.1f}" y="{y + row_h - 3}" font-size="14" '
                f'fill="{TEXT_COLOUR}">{_number(value)}{escape(unit)}</text>'
            )
    parts.append(
        f'<line x1="{label_width}" y1="{top - 2}" x2="{label_width}" y2="{height - 6}" '
        f'stroke="{GRID_COLOUR}" stroke-width="1"/>'
    )
    parts.append("</svg>")
    return "".join(parts)


def _number(value: float) -> str:
    return f"{value:g}" if value != int(value) else str(int(value))


def _shorten(label: str, limit: int = 14) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"
