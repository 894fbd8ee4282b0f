"""``report.html``: one set, reviewed rep by rep, as a single self-contained page.

Everything is inside the file (charts as inline SVG, thumbnails as ``data:`` URIs, CSS inline), so
it opens offline, can be mailed to a therapist and prints to PDF without losing anything. The page
reads top-down: the summary, one row per rep (or hold) with each check's value, limit and verdict,
the attempts that were not counted, the charts, then the trend over earlier sessions.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping, Sequence
from html import escape
from importlib import resources
from string import Template
from typing import Any

import numpy as np
import numpy.typing as npt

from siform import __version__
from siform.report.plots import check_plot, driver_plot, mmss, trend_plot
from siform.report.text import (
    NOT_COUNTED,
    finite,
    fmt_date,
    fmt_limit,
    fmt_score,
    fmt_value,
    plain,
    span_text,
)

Doc = dict[str, Any]

# -- pieces ----------------------------------------------------------------------------------------


def _items(session: Doc) -> tuple[list[Doc], str]:
    if session["exercise"]["kind"] == "hold":
        return list(session.get("holds") or []), "hold"
    return list(session.get("reps") or []), "rep"


def _prescribed(session: Doc) -> int | None:
    # For holds the spec's ``reps`` is the number of holds in a set (see _example.toml).
    rx = session.get("prescription") or {}
    if session["exercise"]["kind"] == "hold" and rx.get("reps"):
        return int(rx["reps"])
    summary = session.get("summary") or {}
    return summary.get("prescribed") if summary else rx.get("reps")


def _check_names(session: Doc) -> dict[str, str]:
    return {c["id"]: c["name"] for c in session.get("checks", [])}


def _note(title: str, lines: Sequence[str]) -> str:
    if not lines:
        return ""
    return (
        f"<div class='note'><b>{title}</b><ul class='plain'>"
        + "".join(f"<li>{x}</li>" for x in lines)
        + "</ul></div>"
    )


def _summary(session: Doc, noun: str) -> str:
    items, _ = _items(session)
    summary = session.get("summary")
    counted = [i for i in items if i.get("outcome", "complete") == "complete"]
    prescribed = _prescribed(session)
    rx = session.get("prescription") or {}
    names = _check_names(session)
    side = session.get("side")
    side_text = f"{escape(side)} side" if side else "both sides (a two-sided exercise)"
    done: dict[str | None, int] = {}
    for i in counted:
        done[i.get("side") or side] = done.get(i.get("side") or side, 0) + 1
    of = f" of {prescribed} prescribed" if prescribed else ""
    done_lines = [
        f"<span class='big'>{n}</span> {noun}s{of}" + (f" ({plain(s)} side)" if s else "")
        for s, n in (done.items() or [(side, 0)])
    ]
    rx_text = f"{rx.get('sets', 1)} set(s) of {prescribed or '?'} {noun}s"
    if noun == "hold" and finite(rx.get("hold_s")):
        rx_text += f", {rx['hold_s']:g} s each"
    if finite(rx.get("rest_s")):
        rx_text += f", {rx['rest_s']:g} s rest between sets"
    rows = [
        ("Exercise", escape(session["exercise"]["name"])),
        ("Date", fmt_date(session.get("created_utc")) + " (UTC, when analysed)"),
        ("Side", side_text),
        (
            "Camera view",
            f"{plain(session['view'].get('id'))}"
            f" <span class='muted'>(seen as: {plain(session['view'].get('measured'))})</span>",
        ),
        (
            f"{noun.capitalize()}s done",
            "<br>".join(done_lines)
            + f"<br><span class='muted'>Prescribed: {rx_text}. This recording is one set.</span>",
        ),
    ]
    if summary and summary.get("attempts_not_counted"):
        rows.append(
            ("Not counted", f"{summary['attempts_not_counted']} attempt(s), listed below with the reason")
        )
    mean = summary.get("mean_score") if summary else None
    why = "" if finite(mean) else " <span class='muted'>(no counted " + noun + "s could be scored)</span>"
    rows.append(("Average score", f"<span class='big'>{fmt_score(mean)}</span>{why}"))
    if summary and summary.get("most_frequent_fault"):
        failures = summary.get("failures") or {}
        top = max(failures, key=lambda k: failures[k]) if failures else None
        count = (
            f" <span class='muted'>({names.get(top, top)}: {failures[top]} of {len(counted)} {noun}s)</span>"
        )
        rows.append(("Most frequent fault", escape(summary["most_frequent_fault"]) + (count if top else "")))
    elif summary and counted:
        rows.append(
            ("Most frequent fault", f"No faults: every counted {noun} stayed within its limits. Well done.")
        )
    out = ["<section id='summary'><h2>Summary</h2><dl class='facts'>"]
    out += [f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows]
    out.append("</dl>")
    setup = session.get("setup") or {}
    hints = [escape(h) for h in setup.get("hints") or []]
    if not setup.get("ok", True) and not hints:
        hints = ["The camera setup was not ideal; some numbers may be less reliable."]
    if not hints:
        out.append(
            "<div class='ok-note'><b>Camera setup:</b> good; every check could see what it needs.</div>"
        )
    out.append(_note("Camera setup:", hints))
    unusable = (session.get("source") or {}).get("unusable") or []
    parts = [
        f"{span_text(round(u['start_s'] * 1000), round(u['end_s'] * 1000))}: {escape(u['reason'])}"
        for u in unusable
    ]
    out.append(_note("Parts of the video that could not be used:", parts))
    unscored = session.get("unscored_checks") or []
    why = [
        f"<b>{escape(names.get(u['check_id'], u['check_id']))}</b>: {escape(u['reason'])}" for u in unscored
    ]
    out.append(_note("Checks not scored in this recording:", why))
    if not summary:
        out.append(
            _note("This recording could not be scored.", ["Please read the notes above and record again."])
        )
    out.append("</section>")
    return "".join(out)


def _na(check_id: str, why: str, label: str = "not measured") -> str:
    head = f"<td class='na' data-check='{escape(check_id)}'>"
    return head + f"<span class='val'>{label}</span><div class='lim'>{why}</div></td>"


def _check_cell(c: Doc, defn: Doc | None) -> str:
    baseline = (defn or {}).get("baseline") == "set_median" or c.get("baseline") is not None
    if not c.get("scored") or not finite(c.get("value")):
        reason = c.get("reason") or "the body part was not visible enough"
        # measured but withheld (another fault on the rep hides it) reads differently from unseen
        label = "not judged" if reason.startswith("not judged") else "not measured"
        return _na(c["id"], escape(reason), label)
    unit = c["unit"]
    if baseline:
        value = f"{fmt_value(c['value'], unit, signed=True)} from your median"
        raw, median = fmt_value(c.get("raw_value"), unit), fmt_value(c.get("baseline"), unit)
        detail = f"<div class='lim'>measured {raw}, your median {median}</div>"
    else:
        value, detail = fmt_value(c["value"], unit), ""
    ok = c.get("passed") is True
    verdict = "✓ within limit" if ok else "✗ outside limit"
    cue = "" if ok or not c.get("cue") else f"<div class='cue'>{escape(c['cue'])}</div>"
    return (
        f"<td class='{'pass' if ok else 'fail'}' data-check='{escape(c['id'])}'>"
        f"<span class='val'>{value}</span>{detail}"
        f"<div class='lim'>{fmt_limit(c, baseline)}</div>"
        f"<span class='verdict'>{verdict}</span>{cue}</td>"
    )


def _thumbs(item: Doc, noun: str, thumbnails: Mapping[tuple[int, str], bytes]) -> str:
    out = []
    for c in item["checks"]:
        jpg = thumbnails.get((int(item["number"]), c["id"]))
        if jpg and c.get("scored") and c.get("passed") is False:
            when = mmss(c["worst_t_ms"] / 1000) if finite(c.get("worst_t_ms")) else ""
            alt = escape(f"{noun.capitalize()} {item['number']}: {c['name']}, worst moment {when}")
            src = "data:image/jpeg;base64," + base64.b64encode(jpg).decode("ascii")
            out.append(
                f"<figure class='thumb'><img src='{src}' alt='{alt}'>"
                f"<figcaption>{escape(c['name'])} · {when}</figcaption></figure>"
            )
    return "".join(out)


def _rows(session: Doc, thumbnails: Mapping[tuple[int, str], bytes]) -> str:
    items, noun = _items(session)
    counted = [i for i in items if i.get("outcome", "complete") == "complete"]
    defs = {c["id"]: c for c in session.get("checks", [])}
    unscored = {u["check_id"] for u in session.get("unscored_checks") or []}
    with_thumbs = any(_thumbs(i, noun, thumbnails) for i in counted)
    head = [noun.capitalize(), "Time in video"]
    head += ["Held", "Breaks"] if noun == "hold" else ["Duration"]
    head.append("Score")
    for d in defs.values():
        tag = (
            "<span class='baseline-tag'>compared with your own reps</span>"
            if d["baseline"] == "set_median"
            else ""
        )
        head.append(f"{escape(d['name'])}{tag}")
    head += ["Worst moment"] if with_thumbs else []
    out = [f"<section id='{noun}s'><h2>{noun.capitalize()} by {noun}</h2>"]
    if not counted:
        out.append(f"<p>No {noun}s were counted in this recording.</p></section>")
        return "".join(out)
    out.append(
        "<table class='rows'><thead><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead><tbody>"
    )
    for item in counted:
        by_id = {c["id"]: c for c in item["checks"]}
        cells = [
            f"<td class='num'><b>{item['number']}</b>"
            + (f"<br>{escape(item['side'])}" if item.get("side") else "")
            + "</td>",
            f"<td class='num'>{span_text(item['start_ms'], item['end_ms'])}</td>",
        ]
        if noun == "hold":
            cells.append(
                f"<td class='num'>{fmt_value(item['held_s'], 's')} of {fmt_value(item['target_s'], 's')}</td>"
            )
            cells.append(f"<td class='num'>{item['breaks']}</td>")
        else:
            cells.append(f"<td class='num'>{fmt_value((item['end_ms'] - item['start_ms']) / 1000, 's')}</td>")
        cells.append(f"<td class='num'><b>{fmt_score(item.get('score'))}</b></td>")
        for cid, d in defs.items():
            c = by_id.get(cid)
            if cid in unscored:
                cells.append(_na(cid, "see “Checks not scored” above"))
                continue
            cells.append(_check_cell(c, d) if c else _na(cid, "not checked"))
        if with_thumbs:
            cells.append(f"<td>{_thumbs(item, noun, thumbnails)}</td>")
        out.append(f"<tr id='{noun}-{item['number']}' class='row'>" + "".join(cells) + "</tr>")
    out.append("</tbody></table></section>")
    return "".join(out)


def _uncounted(session: Doc, driver: str | None, driver_unit: str) -> str:
    items, _ = _items(session)
    rest = [i for i in items if i.get("outcome", "complete") != "complete"]
    if not rest:
        return ""
    out = [
        f"<section id='uncounted'><h2>Attempts not counted ({len(rest)})</h2><table><thead><tr>"
        "<th>Time in video</th><th>Duration</th><th>Why it was not counted</th>"
        f"<th>Highest reading ({plain(driver)})</th>"
        "</tr></thead><tbody>"
    ]
    for i in rest:
        reason = NOT_COUNTED.get(i["outcome"], f"Not counted ({plain(i['outcome'])}).")
        out.append(
            f"<tr class='row'><td class='num'>{span_text(i['start_ms'], i['end_ms'])}</td>"
            f"<td class='num'>{fmt_value((i['end_ms'] - i['start_ms']) / 1000, 's')}</td>"
            f"<td>{escape(reason)}</td>"
            f"<td class='num'>{fmt_value(i.get('peak_value'), driver_unit)}</td></tr>"
        )
    out.append("</tbody></table></section>")
    return "".join(out)


def driving_signal(session: Doc, signals: Mapping[str, npt.NDArray[np.float64]]) -> str | None:
    """The signal that counted the reps: the one whose value at every rep's peak is its peak value."""
    items, noun = _items(session)
    if noun == "rep" and items:
        for name, v in signals.items():
            ok = all(
                0 <= r["peak_index"] < len(v)
                and finite(r.get("peak_value"))
                and math.isclose(float(v[r["peak_index"]]), r["peak_value"], rel_tol=1e-5, abs_tol=1e-5)
                for r in items
            )
            if ok:
                return name
    checked = [c["signal"] for c in session.get("checks", []) if c["signal"] in signals]
    return next(iter(signals), None) if noun == "hold" or not checked else checked[0]


def _plots(session: Doc, t_ms: npt.NDArray[np.int64], signals: Mapping[str, npt.NDArray[np.float64]]) -> str:
    items, noun = _items(session)
    if len(t_ms) == 0 or not signals:
        return ""
    out = ["<section id='plots'><h2>Charts</h2>"]
    out += _counting_plots(session, t_ms, signals, items, noun)
    unscored = {u["check_id"] for u in session.get("unscored_checks") or []}
    for c in session.get("checks", []):
        if c["id"] in unscored or c["signal"] not in signals:
            continue
        counted = [i for i in items if i.get("outcome", "complete") == "complete"]
        band = (
            "The green band is the allowed range around your own median for this set."
            if c["baseline"] == "set_median"
            else "The green band is the allowed range."
        )
        out.append(
            f"<div class='plot'>{check_plot(t_ms, signals[c['signal']], c, counted, noun)}"
            f"<p class='muted'>{escape(c.get('signal_label') or plain(c['signal']))} "
            f"({fmt_limit(c, c['baseline'] == 'set_median')}). {band} "
            f"{noun.capitalize()}s outside it are shaded red, with ✗ at their worst moment.</p></div>"
        )
    out.append("</section>")
    return "".join(out)


def _counting_plots(
    session: Doc,
    t_ms: npt.NDArray[np.int64],
    signals: Mapping[str, npt.NDArray[np.float64]],
    items: list[Doc],
    noun: str,
) -> list[str]:
    """How the reps or holds were found: the driving signal with its thresholds, or for a hold one
    chart per condition of the clock (sessions before format 1.1 carry no ``counting``: the signal
    that explains the reps, without thresholds)."""
    counting = session.get("counting") or {}
    shading = (
        f"Each counted {noun} is shaded and numbered; grey hatching marks attempts that were not counted."
    )
    if counting.get("kind") == "hold":
        conditions = [c for c in counting.get("conditions") or [] if c["signal"] in signals]
        out = []
        for c in conditions:
            bounds = [(v, k) for k, v in (("at least", c["min"]), ("at most", c["max"])) if finite(v)]
            title = f"How the holds were found: {c.get('label') or c['signal'].replace('_', ' ')}"
            out.append(
                "<div class='plot'>"
                + driver_plot(t_ms, signals[c["signal"]], items, title, c["unit"], noun, bounds)
                + "<p class='muted'>The hold clock runs only while all of these charts are on the right "
                f"side of their dashed line ({len(conditions)} condition(s)). {shading}</p></div>"
            )
        return out
    if counting.get("kind") == "reps" and counting.get("signal") in signals:
        name = counting["signal"]
        lines = [(counting["rest"], "rest"), (counting["top"], "top")]
        title = f"How the reps were found: {counting.get('label') or name.replace('_', ' ')}"
        return [
            "<div class='plot'>"
            + driver_plot(t_ms, signals[name], items, title, counting["unit"], noun, lines)
            + f"<p class='muted'>A rep counts when this passes the top line and comes back past the rest "
            f"line. {shading}</p></div>"
        ]
    driver = driving_signal(session, signals)
    if driver is None:
        return []
    units = {c["signal"]: c["unit"] for c in session.get("checks", [])}
    title = f"How the {noun}s were found: {plain(driver)} over time"
    return [
        "<div class='plot'>"
        + driver_plot(t_ms, signals[driver], items, title, units.get(driver, ""), noun)
        + f"<p class='muted'>{shading}</p></div>"
    ]


def _trend(session: Doc, history: Sequence[Doc]) -> str:
    same = [
        h
        for h in history
        if (h.get("exercise") or {}).get("id") == session["exercise"]["id"] and h is not session
    ]
    if not same:
        return ""
    sessions = sorted([*same, session], key=lambda d: str(d.get("created_utc") or ""))
    names: dict[str, str] = {}
    for s in sessions:
        names.update(_check_names(s))
    head = ["Date", "Side", f"{_items(session)[1].capitalize()}s done", "Mean score"]
    head += [f"{escape(n)}: times outside limit" for n in names.values()]
    rows, labels, scores = [], [], []
    for s in sessions:
        summary = s.get("summary") or {}
        fails = summary.get("failures") or {}
        done = summary.get("done")
        current = s is session
        label = fmt_date(s.get("created_utc"))
        labels.append(
            label[:10]
            if sum(1 for x in sessions if fmt_date(x.get("created_utc"))[:10] == label[:10]) == 1
            else label
        )
        scores.append(summary.get("mean_score") if finite(summary.get("mean_score")) else None)
        pres = _prescribed(s)
        cells = [
            label + (" (this session)" if current else ""),
            plain(s.get("side")) if s.get("side") else "both",
            "not scored" if done is None else f"{done}" + (f" of {pres}" if pres else ""),
            fmt_score(summary.get("mean_score")),
        ]
        cells += ["not checked" if not summary else str(fails.get(cid, 0)) for cid in names]
        rows.append(
            f"<tr class='row{' current' if current else ''}'>"
            + "".join(f"<td>{c}</td>" for c in cells)
            + "</tr>"
        )
    chart = trend_plot(labels, scores, sessions.index(session))
    return (
        "<section id='trend'><h2>Progress over sessions</h2>"
        f"<p class='muted'>This session and {len(same)} earlier session(s), oldest first.</p>"
        "<table><thead><tr>"
        + "".join(f"<th>{h}</th>" for h in head)
        + "</tr></thead><tbody>"
        + "".join(rows)
        + f"</tbody></table><div class='plot small'>{chart}</div></section>"
    )


def _footer(session: Doc) -> str:
    sw, src = session.get("software") or {}, session.get("source") or {}
    model = (sw.get("model") or {}).get("file") or "not recorded"
    parts = [
        f"File: {escape(str(src.get('file', 'not recorded')))}",
        f"sha256: {escape(str(src.get('sha256', 'not recorded')))}",
        f"{src.get('frames', 0)} frames, {src.get('frames_with_pose', 0)} with a person found",
        f"siform {escape(str(sw.get('siform', __version__)))}, model {escape(model)}, "
        f"session format {escape(str(session.get('schema_version')))}",
    ]
    return "<footer>" + " · ".join(parts) + "</footer>"


def report_charts(
    session: Doc, t_ms: npt.NDArray[np.int64], signals: Mapping[str, npt.NDArray[np.float64]]
) -> str:
    """The report's charts section (the costly part of a report: matplotlib draws every chart)."""
    return _plots(session, np.asarray(t_ms), signals)


def render_report(
    session: Doc,
    t_ms: npt.NDArray[np.int64],
    signals: dict[str, npt.NDArray[np.float64]],
    thumbnails: dict[tuple[int, str], bytes],
    history: list[Doc],
    charts: str | None = None,
) -> str:
    """The review report of one session as one self-contained HTML page.

    ``t_ms`` and ``signals`` are the per-frame arrays of the analysis (``SessionResult``);
    ``thumbnails`` maps (rep or hold number, check id) to JPEG bytes of that check's worst moment;
    ``history`` holds earlier session documents (any order; other exercises are ignored).
    ``charts`` is :func:`report_charts` of the same arguments when the caller drew them already
    (the review draws them while the annotated video encodes, as they need no thumbnails).
    """
    noun = _items(session)[1]
    name = escape(session["exercise"]["name"])
    driver = driving_signal(session, signals)
    driver_unit = {c["signal"]: c["unit"] for c in session.get("checks", [])}.get(driver or "", "")
    body = "".join(
        [
            f"<header><h1>{name}: your review</h1><div class='sub'>{fmt_date(session.get('created_utc'))} · "
            f"{escape(str((session.get('source') or {}).get('file', '')))} · "
            f"{fmt_value((session.get('source') or {}).get('duration_s'), 's')} of video</div></header>",
            _summary(session, noun),
            _rows(session, thumbnails),
            _uncounted(session, driver, driver_unit),
            report_charts(session, t_ms, signals) if charts is None else charts,
            _trend(session, history),
            _footer(session),
        ]
    )
    template = Template(resources.files("siform.report").joinpath("template.html").read_text("utf-8"))
    return template.substitute(title=f"{name}: review", body=body, version=escape(__version__))
