"""Small charts as inline SVG, drawn on the server: no script, no CDN, readable by screen readers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

# Okabe-Ito and Tableau colours: distinguishable for the common colour-vision deficiencies.
PALETTE = (
    "#0072b2",
    "#e69f00",
    "#009e73",
    "#cc79a7",
    "#56b4e9",
    "#d55e00",
    "#f0e442",
    "#7f7f7f",
    "#8c564b",
    "#17becf",
    "#bcbd22",
    "#393b79",
)
WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 12, 40


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[int]
    colour: str


def colours(names: Sequence[str]) -> dict[str, str]:
    """A stable colour per name, in the order given."""
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}


def _nice_max(value: int) -> int:
    """A round upper bound for the y axis with four equal, whole-numbered steps (1, 2 or 5 times 10^k)."""
    need = max(1, -(-value // 4))
    step = 1
    while True:
        for factor in (1, 2, 2.5, 5):
            if step * factor >= need and float(step * factor).is_integer():
                return int(4 * step * factor)
        step *= 10


def stacked_bars(
    categories: Sequence[str], series: Sequence[Series], *, title: str, description: str, tick_every: int = 1
) -> Markup:
    """Vertical bars, one per category, stacked by series."""
    totals = [sum(s.values[i] for s in series) for i in range(len(categories))]
    top = _nice_max(max(totals, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(categories), 1)
    bar_w = max(slot * 0.72, 1.0)
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="{_id(title)}-t '
        f'{_id(title)}-d" preserveAspectRatio="xMidYMid meet">',
        f'<title id="{_id(title)}-t">{escape(title)}</title><desc id="{_id(title)}-d">{escape(description)}</desc>',
    ]
    for i in range(5):
        value = top * i // 4
        y = TOP + plot_h - plot_h * i / 4
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">{value}</text>'
        )
    for i, category in enumerate(categories):
        x = LEFT + slot * i + (slot - bar_w) / 2
        base = float(TOP + plot_h)
        for s in series:
            value = s.values[i]
            if not value:
                continue
            h = plot_h * float(value) / top
            base -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{base:.1f}" width="{bar_w:.1f}" height="{h:.1f}" fill="{s.colour}">'
                f"<title>{escape(category)}: {escape(s.name)} {value}</title></rect>"
            )
        if i % tick_every == 0:
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" '
                f'class="tick">{escape(category)}</text>'
            )
    parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{TOP + plot_h}" y2="{TOP + plot_h}" class="axis"/>')
    parts.append("</svg>")
    return Markup("".join(parts))  # every interpolated text is escaped above


def sparkline(values: Sequence[int], *, title: str) -> Markup:
    """A small bar per value (e.g. tickets per day), scaled to the largest; the title is its accessible name."""
    width, height, top = 4 * max(len(values), 1), 24, max(max(values, default=0), 1)
    bars = "".join(
        f'<rect x="{4 * i}" y="{height - height * v / top:.1f}" width="3" height="{height * v / top:.1f}"/>'
        for i, v in enumerate(values)
        if v
    )
    return Markup(
        f'<svg class="sparkline" viewBox="0 0 {width} {height}" preserveAspectRatio="none" role="img">'
        f"<title>{escape(title)}</title>{bars}</svg>"
    )  # the only text, the title, is escaped


def swatch(colour: str) -> Markup:
    """A small colour square for a legend (an SVG, since the page allows no inline styles)."""
    return Markup(
        f'<svg class="swatch" viewBox="0 0 10 10" aria-hidden="true"><rect width="10" height="10" '
        f'fill="{escape(colour)}"/></svg>'
    )


def _id(title: str) -> str:
    return "chart-" + "".join(c if c.isalnum() else "-" for c in title.lower())
