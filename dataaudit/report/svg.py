"""Small dependency-free plots as inline SVG, drawn from data: a line chart with marked points, a histogram
of pre-binned counts (optionally on a log x axis) and a horizontal bar chart.

Every label is escaped (it may hold a run name or a split name from the user's files), the markup has a
``viewBox`` so it scales with the page, and axes get "nice" ticks (1, 2, 5 x 10^k). The size of a plot is
bounded by its arguments, never by the data: a series is reduced to ``MAX_POINTS`` points (each bucket's
minimum and maximum kept, so a spike survives), a histogram to ``MAX_BINS`` bins, a bar chart to
``MAX_BARS`` bars, a legend to ``MAX_LEGEND`` entries. No ``xmlns`` or other URL is written: the SVG is
meant to be inline in HTML, where none is needed.
"""

from __future__ import annotations

import math
from html import escape
from typing import Iterable, Sequence

MAX_POINTS = 1000
MAX_BINS = 200
MAX_BARS = 50
MAX_LEGEND = 10
MAX_MARKS = 200
PALETTE = ("#4c72b0", "#dd8452", "#55a868", "#8172b3", "#937860", "#da8bc3", "#8c8c8c", "#ccb974",
           "#64b5cd", "#2f4b7c")
MARK = "#d62728"
W, H = 760, 280
ML, MR, MT, MB = 64, 16, 30, 44            # margins: left (y labels), right, top (title), bottom (x labels)


def _e(s: object) -> str:
    return escape(str(s), quote=True)


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round tick values covering [lo, hi].

    >>> nice_ticks(0, 1), nice_ticks(3, 97)
    ([0.0, 0.2, 0.4, 0.6, 0.8, 1.0], [20.0, 40.0, 60.0, 80.0])
    """
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    if hi < lo:
        lo, hi = hi, lo
    if hi == lo:
        return [lo]
    raw = (hi - lo) / max(n, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9)
    out = []
    k = first
    while k * step <= hi + step * 1e-9:
        out.append(float(round(k * step, 10)))
        k += 1
    return out


def log_ticks(lo: float, hi: float) -> list[float]:
    """Powers of ten in [lo, hi] (lo > 0), with 2 and 5 multiples when the range spans under two decades.

    >>> log_ticks(1, 1000), log_ticks(3, 40)
    ([1, 10, 100, 1000], [5, 10, 20])
    """
    if lo <= 0 or not (math.isfinite(lo) and math.isfinite(hi)) or hi < lo:
        return []
    a, b = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    powers = sum(lo * (1 - 1e-9) <= 10 ** e <= hi * (1 + 1e-9) for e in range(a, b + 1))
    mults = (1,) if powers >= 3 else (1, 2, 5)
    out = []
    for e in range(a, b + 1):
        for m in mults:
            v = m * 10 ** e
            if lo * (1 - 1e-9) <= v <= hi * (1 + 1e-9):
                out.append(int(v) if e >= 0 else v)
    return out


def fmt(v: float) -> str:
    """A tick label: short, with k/M for large values.

    >>> fmt(0.25), fmt(12000), fmt(3e6), fmt(2.0)
    ('0.25', '12k', '3M', '2')
    """
    a = abs(v)
    if a >= 1e6:
        return f"{v / 1e6:.3g}M"
    if a >= 1e4:
        return f"{v / 1e3:.3g}k"
    if a == 0 or a >= 1:
        return f"{v:.4g}"
    return f"{v:.3g}"


class _Scale:
    def __init__(self, lo: float, hi: float, a: float, b: float, log: bool = False) -> None:
        self.log = log and lo > 0
        if self.log:
            lo, hi = math.log10(lo), math.log10(hi)
        if hi == lo:
            lo, hi = lo - 0.5, hi + 0.5
        self.lo, self.hi, self.a, self.b = lo, hi, a, b

    def __call__(self, v: float) -> float:
        if self.log:
            v = math.log10(v) if v > 0 else self.lo
        return self.a + (v - self.lo) / (self.hi - self.lo) * (self.b - self.a)


def _open(title: str, w: int, h: int) -> list[str]:
    return [f'<svg class="plot" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" '
            f'aria-label="{_e(title)}" preserveAspectRatio="xMinYMin meet">',
            f'<title>{_e(title)}</title>',
            f'<text x="{ML}" y="18" font-size="13" font-weight="600">{_e(title[:120])}</text>']


def _axes(xs: _Scale, ys: _Scale, xt: list[float], yt: list[float], x_label: str, y_label: str,
          w: int = W, h: int = H) -> list[str]:
    o = [f'<g class="axes" font-size="11" fill="#444">',
         f'<line x1="{ML}" y1="{h - MB}" x2="{w - MR}" y2="{h - MB}" stroke="#888"/>',
         f'<line x1="{ML}" y1="{MT}" x2="{ML}" y2="{h - MB}" stroke="#888"/>']
    for t in xt:
        x = xs(t)
        o.append(f'<line x1="{x:.1f}" y1="{h - MB}" x2="{x:.1f}" y2="{h - MB + 4}" stroke="#888"/>'
                 f'<text x="{x:.1f}" y="{h - MB + 16}" text-anchor="middle">{_e(fmt(t))}</text>')
    for t in yt:
        y = ys(t)
        o.append(f'<line x1="{ML}" y1="{y:.1f}" x2="{w - MR}" y2="{y:.1f}" stroke="#eee"/>'
                 f'<text x="{ML - 6}" y="{y + 4:.1f}" text-anchor="end">{_e(fmt(t))}</text>')
    if x_label:
        o.append(f'<text x="{(ML + w - MR) / 2:.0f}" y="{h - 8}" text-anchor="middle">{_e(x_label[:80])}</text>')
    if y_label:
        o.append(f'<text x="14" y="{(MT + h - MB) / 2:.0f}" text-anchor="middle" '
                 f'transform="rotate(-90 14 {(MT + h - MB) / 2:.0f})">{_e(y_label[:60])}</text>')
    o.append('</g>')
    return o


def _empty(title: str) -> str:
    return "".join(_open(title, W, 80)) + f'<text x="{ML}" y="50" font-size="12" fill="#666">no data</text></svg>'


def reduce_points(xs: Sequence[float], ys: Sequence[float], limit: int = MAX_POINTS) -> tuple[list, list]:
    """At most ``limit`` points: the minimum and the maximum of each of ``limit // 2`` buckets, in order."""
    if len(xs) <= limit:
        return list(xs), list(ys)
    nb = max(limit // 2, 1)
    idx: list[int] = []
    for k in range(nb):
        a, b = k * len(xs) // nb, (k + 1) * len(xs) // nb
        if b > a:
            seg = range(a, b)
            lo = min(seg, key=lambda i: ys[i])
            hi = max(seg, key=lambda i: ys[i])
            idx += sorted({lo, hi})
    return [xs[i] for i in idx], [ys[i] for i in idx]


def line_chart(series: Iterable[tuple[str, Sequence[float], Sequence[float]]], *, title: str,
               marks: Sequence[tuple[float, float, str]] = (), vlines: Sequence[tuple[float, str]] = (),
               x_label: str = "step", y_label: str = "", log_y: bool = False) -> str:
    """Lines of ``(label, xs, ys)``; ``marks`` are ``(x, y, tooltip)`` red points (spikes), ``vlines`` are
    ``(x, tooltip)`` dashed verticals (shared spike steps, events). ``log_y`` needs positive values."""
    data = []
    for label, xs, ys in series:
        pts = [(float(x), float(y)) for x, y in zip(xs, ys) if math.isfinite(x) and math.isfinite(y)
               and (y > 0 or not log_y)]
        if pts:
            rx, ry = reduce_points([p[0] for p in pts], [p[1] for p in pts])
            data.append((str(label), rx, ry))
    if not data:
        return _empty(title)
    marks = [(float(x), float(y), t) for x, y, t in marks if math.isfinite(x) and math.isfinite(y)
             and (y > 0 or not log_y)][:MAX_MARKS]
    allx = [x for _, xs, _ in data for x in xs] + [m[0] for m in marks]
    ally = [y for _, _, ys in data for y in ys] + [m[1] for m in marks]
    x0, x1, y0, y1 = min(allx), max(allx), min(ally), max(ally)
    if not log_y:
        pad = (y1 - y0) * 0.05 or abs(y1) * 0.05 or 1.0
        y0, y1 = y0 - pad, y1 + pad
    xs_, ys_ = _Scale(x0, x1, ML, W - MR), _Scale(y0, y1, H - MB, MT, log=log_y)
    yt = log_ticks(y0, y1) if ys_.log else nice_ticks(y0, y1)
    if ys_.log and len(yt) < 2:
        yt = [y0, y1]
    o = _open(title, W, H) + _axes(xs_, ys_, nice_ticks(x0, x1, 6), yt, x_label, y_label)
    for x, tip in list(vlines)[:MAX_MARKS]:
        if math.isfinite(x) and x0 <= x <= x1:
            px = xs_(x)
            o.append(f'<line x1="{px:.1f}" y1="{MT}" x2="{px:.1f}" y2="{H - MB}" stroke="#c44" '
                     f'stroke-dasharray="3 3" stroke-width="1"><title>{_e(tip)}</title></line>')
    for i, (label, xs, ys) in enumerate(data):
        pts = " ".join(f"{xs_(x):.1f},{ys_(y):.1f}" for x, y in zip(xs, ys))
        o.append(f'<polyline fill="none" stroke="{PALETTE[i % len(PALETTE)]}" stroke-width="1.3" '
                 f'stroke-linejoin="round" points="{pts}"><title>{_e(label)}</title></polyline>')
    for x, y, tip in marks:
        o.append(f'<circle cx="{xs_(x):.1f}" cy="{ys_(y):.1f}" r="3.5" fill="{MARK}" stroke="#fff" '
                 f'stroke-width="0.8"><title>{_e(tip)}</title></circle>')
    if len(data) > 1 or marks:
        o += _legend([(PALETTE[i % len(PALETTE)], d[0]) for i, d in enumerate(data)]
                     + ([(MARK, f"spikes ({len(marks)})")] if marks else []))
    o.append("</svg>")
    return "".join(o)


def _legend(entries: list[tuple[str, str]]) -> list[str]:
    shown = entries[:MAX_LEGEND]
    if len(entries) > MAX_LEGEND:
        shown = entries[:MAX_LEGEND - 1] + [("#fff", f"+{len(entries) - MAX_LEGEND + 1} more")]
    o = ['<g class="legend" font-size="10">']
    for i, (color, label) in enumerate(shown):
        y = MT + 4 + i * 13
        o.append(f'<rect x="{W - MR - 150}" y="{y}" width="10" height="8" fill="{color}"/>'
                 f'<text x="{W - MR - 136}" y="{y + 8}">{_e(label[:26])}</text>')
    o.append("</g>")
    return o


def histogram(edges: Sequence[float], counts: Sequence[int], *, title: str, x_label: str = "",
              y_label: str = "documents", log_x: bool = False, trim: bool = True) -> str:
    """Bars from pre-binned ``counts`` between ``edges`` (``len(edges) == len(counts) + 1``); ``log_x``
    draws the x axis in log10 (a first edge <= 0 is then drawn at a tenth of the second). ``trim`` leaves
    out the empty bins at both ends, so fixed wide bins (1 .. 64 Mi) show where the data is."""
    if len(edges) != len(counts) + 1:
        raise ValueError(f"histogram: {len(edges)} edges for {len(counts)} counts; need len(counts) + 1")
    edges, counts = [float(e) for e in edges], [int(c) for c in counts]
    if trim and any(counts):
        a = next(i for i, c in enumerate(counts) if c)
        b = len(counts) - next(i for i, c in enumerate(reversed(counts)) if c)
        edges, counts = edges[a:b + 1], counts[a:b]
    if log_x and len(edges) > 1 and edges[0] <= 0 < edges[1]:
        edges[0] = edges[1] / 10
    if len(counts) > MAX_BINS:                   # merge neighbours until at most MAX_BINS bins
        k = math.ceil(len(counts) / MAX_BINS)
        counts = [sum(counts[i:i + k]) for i in range(0, len(counts), k)]
        edges = edges[::k] + ([edges[-1]] if (len(edges) - 1) % k else [])
    if not counts or (log_x and edges[0] <= 0):
        return _empty(title)
    x0, x1, ymax = edges[0], edges[-1], max(max(counts), 1)
    xs_, ys_ = _Scale(x0, x1, ML, W - MR, log=log_x), _Scale(0, ymax * 1.05, H - MB, MT)
    xt = log_ticks(x0, x1) if xs_.log else nice_ticks(x0, x1, 6)
    yt = [t for t in nice_ticks(0, ymax, 4) if t == int(t)]
    o = _open(title, W, H) + _axes(xs_, ys_, xt, yt, x_label, y_label)
    for a, b, c in zip(edges[:-1], edges[1:], counts):
        if c <= 0:
            continue
        xa, xb, y = xs_(a), xs_(b), ys_(c)
        o.append(f'<rect x="{xa:.1f}" y="{y:.1f}" width="{max(xb - xa - 0.5, 0.5):.1f}" '
                 f'height="{H - MB - y:.1f}" fill="{PALETTE[0]}"><title>{_e(f"[{fmt(a)}, {fmt(b)}): {c}")}'
                 f'</title></rect>')
    o.append("</svg>")
    return "".join(o)


def bar_chart(labels: Sequence[str], values: Sequence[float], *, title: str, x_label: str = "",
              value_labels: Sequence[str] | None = None, color: str = PALETTE[0]) -> str:
    """Horizontal bars, one per label, from 0 to its value; ``value_labels`` written beside each bar."""
    items = [(str(lb), float(v), (value_labels[i] if value_labels else fmt(float(v))))
             for i, (lb, v) in enumerate(zip(labels, values)) if math.isfinite(float(v))][:MAX_BARS]
    if not items:
        return _empty(title)
    left, row = 170, 22
    h = MT + len(items) * row + MB
    vmax = max(max(v for _, v, _ in items), 0) or 1.0
    xs_ = _Scale(0, vmax, left, W - MR - 130)              # room on the right for the value labels
    o = _open(title, W, h)
    o.append('<g font-size="11" fill="#222">')
    for t in nice_ticks(0, vmax, 5):
        x = xs_(t)
        o.append(f'<line x1="{x:.1f}" y1="{MT}" x2="{x:.1f}" y2="{h - MB}" stroke="#eee"/>'
                 f'<text x="{x:.1f}" y="{h - MB + 16}" text-anchor="middle" fill="#444">{_e(fmt(t))}</text>')
    for i, (lb, v, vl) in enumerate(items):
        y = MT + i * row
        x = xs_(max(v, 0))
        short = lb if len(lb) <= 24 else lb[:23] + "\u2026"
        o.append(f'<text x="{left - 8}" y="{y + 15}" text-anchor="end">{_e(short)}</text>'
                 f'<rect x="{left}" y="{y + 4}" width="{max(x - left, 0.5):.1f}" height="{row - 8}" '
                 f'fill="{color}"><title>{_e(f"{lb}: {vl}")}</title></rect>'
                 f'<text x="{x + 5:.1f}" y="{y + 15}">{_e(vl)}</text>')
    o.append(f'<line x1="{left}" y1="{MT}" x2="{left}" y2="{h - MB}" stroke="#888"/>')
    if x_label:
        o.append(f'<text x="{(left + W - MR) / 2:.0f}" y="{h - 8}" text-anchor="middle" fill="#444">'
                 f'{_e(x_label[:80])}</text>')
    o.append("</g></svg>")
    return "".join(o)
