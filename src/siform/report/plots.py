"""The report's charts as inline SVG strings: no files, no fonts, no external references.

Each function takes plain arrays and session dicts and returns one ``<svg>`` element (as
:class:`markupsafe.Markup`) ready to paste into HTML. Matplotlib draws with its SVG backend; text
stays text (``svg.fonttype = none``) so it prints sharply and can be searched; ids are prefixed so
several charts can share one page.

Titles, labels and units come from exercise specs and session files, which anyone can write: they
are drawn as plain text (``text.parse_math`` off, so a ``$`` is a dollar sign, not TeX that can
fail to parse), matplotlib escapes text nodes, and the one attribute siform writes itself
(``aria-label``) is escaped here.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Sequence
from html import escape
from typing import Any

import matplotlib as mpl
import numpy as np
import numpy.typing as npt
from markupsafe import Markup
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

FAIL_COLOUR = "#c0392b"
LINE_COLOUR = "#1f4e79"
BAND_COLOUR = "#2e8b57"
REP_SHADE = "#9fb7d0"
UNCOUNTED_SHADE = "#bbbbbb"

_STYLE = {
    "svg.fonttype": "none",
    "svg.hashsalt": "siform",
    "text.parse_math": False,
    "font.family": "DejaVu Sans",
    "font.size": 9.0,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 10.0,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
}
_counter = {"n": 0}


def mmss(seconds: float) -> str:
    """Seconds -> ``m:ss`` (video time)."""
    if not math.isfinite(seconds):
        return "?"
    s = max(0, round(seconds))
    return f"{s // 60}:{s % 60:02d}"


def _svg(fig: Figure, label: str) -> Markup:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", pad_inches=0.05, metadata={"Date": None})
    text = buf.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    text = re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.S)
    head_end = text.index(">")
    head = text[:head_end]
    head = re.sub(r'\s(xmlns(:\w+)?|width|height|version)="[^"]*"', "", head)
    aria = escape(label, quote=True)
    text = head + f' role="img" aria-label="{aria}" preserveAspectRatio="xMinYMin meet"' + text[head_end:]
    _counter["n"] += 1
    prefix = f"c{_counter['n']}-"
    for ident in set(re.findall(r'\sid="([^"]+)"', text)):
        text = text.replace(f'id="{ident}"', f'id="{prefix}{ident}"')
        text = re.sub(rf"#{re.escape(ident)}(?=[\")])", f"#{prefix}{ident}", text)
    # Safe markup: matplotlib escapes every text node and attribute it writes, the ids are its own
    # (not from data) and the aria-label is escaped above; the report inserts this as it is.
    return Markup(text.strip())  # noqa: S704


def _time_axis(ax: Any) -> None:
    ax.xaxis.set_major_locator(MaxNLocator(nbins=12, steps=[1, 2, 5, 10]))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _p: mmss(x)))
    ax.set_xlabel("time in the video (m:ss)")
    ax.grid(axis="y", color="#dddddd", linewidth=0.6)


def _finite_range(*arrays: npt.ArrayLike) -> tuple[float, float] | None:
    vals = np.concatenate([np.ravel(np.asarray(a, dtype=np.float64)) for a in arrays])
    vals = vals[np.isfinite(vals)]
    if vals.size == 0:
        return None
    lo, hi = float(vals.min()), float(vals.max())
    pad = (hi - lo) * 0.08 or max(abs(hi) * 0.05, 0.01)
    return lo - pad, hi + pad


def item_key(item: dict[str, Any]) -> tuple[Any, int]:
    """A rep or hold among a session's: its number, and its set in a live session, where each set
    numbers its reps from 1 again (rep 2 of set 1 failing says nothing of rep 2 of set 2)."""
    return item.get("set"), int(item["number"])


def _shade_items(ax: Any, items: Sequence[dict[str, Any]], noun: str, failing: set[tuple[Any, int]]) -> None:
    """Shade each rep (hold) and number it above the plot; failing ones (:func:`item_key`) in red."""
    for item in items:
        x0, x1 = item["start_ms"] / 1000.0, item["end_ms"] / 1000.0
        counted = item.get("outcome", "complete") == "complete"
        num = int(item["number"])
        if not counted:
            ax.axvspan(x0, x1, color=UNCOUNTED_SHADE, alpha=0.25, hatch="//", linewidth=0)
            ax.text(
                (x0 + x1) / 2,
                1.01,
                "not\ncounted",
                transform=ax.get_xaxis_transform(),
                ha="center",
                va="bottom",
                fontsize=6.5,
                color="#666666",
            )
            continue
        bad = item_key(item) in failing
        ax.axvspan(x0, x1, color=FAIL_COLOUR if bad else REP_SHADE, alpha=0.18 if bad else 0.22, linewidth=0)
        ax.text(
            (x0 + x1) / 2,
            1.01,
            f"{noun} {num}" + (" ✗" if bad else ""),
            transform=ax.get_xaxis_transform(),
            ha="center",
            va="bottom",
            fontsize=7.5,
            color=FAIL_COLOUR if bad else "#333333",
            fontweight="bold" if bad else "normal",
        )


def _no_data(ax: Any, what: str) -> None:
    ax.text(
        0.5,
        0.5,
        f"{what}: not measured (no usable frames)",
        transform=ax.transAxes,
        ha="center",
        va="center",
        color="#666666",
    )
    ax.set_yticks([])


def driver_plot(
    t_ms: npt.ArrayLike,
    values: npt.ArrayLike,
    items: Sequence[dict[str, Any]],
    title: str,
    unit: str,
    noun: str,
    thresholds: Sequence[tuple[float, str]] = (),
) -> Markup:
    """The signal that drives counting over time, each rep (hold) shaded and numbered.

    ``thresholds`` are ``(value, name)`` lines drawn across the plot: a rep's rest and top bands, or
    the bound a hold condition needs, so the reader sees why each count started and stopped.
    """
    t = np.asarray(t_ms, dtype=np.float64) / 1000.0
    y = np.asarray(values, dtype=np.float64)
    with mpl.rc_context(_STYLE):
        fig = Figure(figsize=(10.0, 2.6))
        ax = fig.subplots()
        rng = _finite_range(y, [v for v, _name in thresholds])
        if rng is None or not np.isfinite(y).any():
            _no_data(ax, title)
        else:
            ax.plot(t, y, color=LINE_COLOUR, linewidth=1.3)
            ax.set_ylim(*rng)
            ax.set_ylabel(unit_label(unit))
            for value, name in thresholds:
                ax.axhline(value, color="#555555", linewidth=0.8, linestyle="--")
                ax.text(
                    0.003, value, f"{name} {value:g}", transform=ax.get_yaxis_transform(),
                    va="bottom", ha="left", fontsize=7, color="#555555",
                )  # fmt: skip
        if len(t):
            ax.set_xlim(float(t[0]), float(t[-1]))
        _shade_items(ax, items, noun, set())
        _time_axis(ax)
        ax.set_title(title, pad=16)
        return _svg(fig, title)


def allowed_band(check: dict[str, Any], offset: float = 0.0) -> tuple[float, float]:
    """The band of the plotted signal that passes ``check``; ``offset`` is the set's median for a
    ``set_median`` check. A ``max_abs`` check judges the signal's size, so its band runs both ways
    from zero: a 10-degree lean to the right must not sit inside the band of a lean limited to 8."""
    lo = -math.inf if check["limit_min"] is None else check["limit_min"] + offset
    hi = math.inf if check["limit_max"] is None else check["limit_max"] + offset
    judges_size = check["reduce"] == "max_abs" and check["baseline"] != "set_median"
    if judges_size and check["limit_max"] is not None:
        lo = -check["limit_max"]
    return lo, hi


def check_plot(
    t_ms: npt.ArrayLike,
    values: npt.ArrayLike,
    check: dict[str, Any],
    items: Sequence[dict[str, Any]],
    noun: str,
) -> Markup:
    """A checked signal over time with its allowed band; reps (holds) that failed it in red.

    For a ``set_median`` check the band sits around the person's own median of the set.
    """
    t = np.asarray(t_ms, dtype=np.float64) / 1000.0
    y = np.asarray(values, dtype=np.float64)
    results = [(it, c) for it in items for c in it["checks"] if c["id"] == check["id"]]
    failing = {item_key(it) for it, c in results if c["scored"] and c["passed"] is False}
    offset = 0.0
    if check["baseline"] == "set_median":
        bases = [c["baseline"] for _it, c in results if c["baseline"] is not None]
        offset = float(np.median(bases)) if bases else math.nan
    lo, hi = allowed_band(check, offset)
    title = check["name"]
    with mpl.rc_context(_STYLE):
        fig = Figure(figsize=(10.0, 2.4))
        ax = fig.subplots()
        finite_limits = [v for v in (lo, hi) if math.isfinite(v)]
        rng = _finite_range(y, finite_limits)
        if rng is None or not np.isfinite(y).any():
            _no_data(ax, title)
        else:
            ax.set_ylim(*rng)
            if math.isfinite(offset) and (finite_limits or check["baseline"] != "set_median"):
                band_lo = lo if math.isfinite(lo) else rng[0]
                band_hi = hi if math.isfinite(hi) else rng[1]
                ax.axhspan(band_lo, band_hi, color=BAND_COLOUR, alpha=0.12, linewidth=0, label="allowed")
                for v in finite_limits:
                    ax.axhline(v, color=BAND_COLOUR, linewidth=0.9, linestyle="--")
                if check["baseline"] == "set_median":
                    ax.axhline(offset, color="#555555", linewidth=0.8, linestyle=":")
                    ax.text(
                        0.003,
                        offset,
                        "your median",
                        transform=ax.get_yaxis_transform(),
                        va="bottom",
                        ha="left",
                        fontsize=7,
                        color="#555555",
                    )
            ax.plot(t, y, color=LINE_COLOUR, linewidth=1.2)
            for it, c in results:
                if c["scored"] and c["passed"] is False and c["worst_t_ms"] is not None:
                    k = int(np.clip(np.searchsorted(t, c["worst_t_ms"] / 1000.0), 0, len(t) - 1))
                    if math.isfinite(y[k]):
                        ax.plot(t[k], y[k], marker="X", color=FAIL_COLOUR, markersize=8, linestyle="none")
                        ax.annotate(
                            f"{noun} {it['number']}",
                            (t[k], y[k]),
                            xytext=(7, -10),
                            textcoords="offset points",
                            fontsize=7,
                            color=FAIL_COLOUR,
                        )
            ax.set_ylabel(unit_label(check["unit"]))
        if len(t):
            ax.set_xlim(float(t[0]), float(t[-1]))
        _shade_items(ax, [it for it in items if it.get("outcome", "complete") == "complete"], noun, failing)
        _time_axis(ax)
        ax.set_title(title, pad=16)
        return _svg(fig, f"{title} over time")


def trend_plot(labels: Sequence[str], scores: Sequence[float | None], current: int) -> Markup:
    """Mean score per session; the current session is the filled red-ringed point."""
    x = np.arange(len(labels))
    y = np.array([math.nan if s is None else s for s in scores], dtype=np.float64)
    with mpl.rc_context(_STYLE):
        fig = Figure(figsize=(6.0, 2.2))
        ax = fig.subplots()
        ok = np.isfinite(y)
        ax.plot(x[ok], y[ok], color=LINE_COLOUR, marker="o", linewidth=1.4)
        if 0 <= current < len(y) and ok[current]:
            ax.plot(
                [x[current]],
                [y[current]],
                marker="o",
                markersize=11,
                markerfacecolor="none",
                markeredgecolor=FAIL_COLOUR,
                linestyle="none",
            )
        ax.set_ylim(0, 105)
        ax.set_xticks(x, list(labels), rotation=30, ha="right", fontsize=7.5)
        ax.set_ylabel("mean score (0-100)")
        ax.grid(axis="y", color="#dddddd", linewidth=0.6)
        ax.set_title("Mean score per session")
        return _svg(fig, "Mean score per session")


def unit_label(unit: str) -> str:
    return {"deg": "degrees (°)", "ratio": "ratio", "s": "seconds"}.get(unit, unit)
