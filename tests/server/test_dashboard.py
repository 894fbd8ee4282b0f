"""The therapist's dashboard: adherence, latest scores, weekly trends, the report, notes.

Figures on the pages are checked against what the stored documents say, computed here from the
documents directly (not through the dashboard's own functions); notes are checked for CSRF, escaping,
audit, export and deletion, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import copy
import html
import json
import re
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from statistics import mean
from typing import Any

import pytest
from sqlalchemy import select

from siform.server import dashboard
from siform.server.models import AuditEvent, SessionNote

from .conftest import LABEL_A, ROOT, Server, World, as_role, bearer, upload


def at(doc: dict[str, Any], when: datetime) -> dict[str, Any]:
    """The same set, recorded at ``when`` (a different session)."""
    out = copy.deepcopy(doc)
    out["created_utc"] = when.isoformat(timespec="seconds")
    out.pop("recorded_utc", None)
    if "session_id" in out:
        out["session_id"] = str(uuid.uuid4())
    return out


def counted_reps(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in doc["reps"] if r["outcome"] == "complete"]


# -- pure functions ------------------------------------------------------------------------------


def test_adherence_counts_this_weeks_sessions_against_the_specs_dose(session_doc: dict[str, Any]) -> None:
    now = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)  # a Thursday; the week began Monday 30 November
    docs = [
        at(session_doc, datetime(2026, 11, 30, 0, 30, tzinfo=UTC)),  # Monday: this week
        at(session_doc, datetime(2026, 12, 2, 18, 0, tzinfo=UTC)),
        at(session_doc, datetime(2026, 11, 29, 23, 59, tzinfo=UTC)),  # Sunday before: last week
    ]
    (row,) = dashboard.adherence(docs, now)
    p = session_doc["prescription"]
    assert row.exercise == session_doc["exercise"]["name"]
    assert row.sessions == 2
    assert row.done == 2 * session_doc["summary"]["done"]
    assert row.prescribed == 2 * p["sets"] * p["reps"]
    assert row.percent is not None and abs(row.percent - 100 * row.done / row.prescribed) < 1e-9
    assert dashboard.adherence(docs, datetime(2026, 12, 9, tzinfo=UTC)) == []  # next week: nothing yet


def test_trends_are_weekly_means_of_what_the_documents_carry(session_doc: dict[str, Any]) -> None:
    w1 = datetime(2026, 11, 17, 9, tzinfo=UTC)
    second = at(session_doc, w1 + timedelta(days=1))
    for rep in second["reps"]:  # the same week, another session with other values
        for c in rep["checks"]:
            if c.get("raw_value") is not None:
                c["raw_value"] += 4.0
    second["summary"]["mean_score"] = 40.0
    docs = [at(session_doc, w1), second, at(session_doc, w1 + timedelta(days=8))]
    (trend,) = dashboard.trends(docs)
    assert [str(w) for w in trend.weeks] == ["2026-11-16", "2026-11-23"]
    assert trend.sessions == {trend.weeks[0]: 2, trend.weeks[1]: 1}
    by_key = {m.key: m for m in trend.metrics}
    score = session_doc["summary"]["mean_score"]
    assert by_key["score"].means(trend.weeks) == [(score + 40.0) / 2, score]
    measured = {
        c["id"] for r in counted_reps(session_doc) for c in r["checks"] if c.get("raw_value") is not None
    }
    assert measured, "the fixture's reps carry measured values"
    assert {k for k in by_key if k.startswith("check:")} >= {"check:" + i for i in measured}
    for check_id in measured:
        values = [
            c["raw_value"] for r in counted_reps(session_doc) for c in r["checks"] if c["id"] == check_id
        ]
        got = by_key["check:" + check_id].means(trend.weeks)
        assert abs(got[0] - (mean(values) + 2.0)) < 1e-6  # half the week's values are 4 higher
        assert abs(got[1] - mean(values)) < 1e-6
    svg = dashboard.trend_svg(by_key["score"], trend.weeks)
    assert str(svg).startswith("<svg") and "Mean score" in str(svg)


# -- pages ------------------------------------------------------------------------------------------


def test_patient_list_shows_adherence_and_latest_scores(
    world_server: tuple[Server, World], session_doc: dict[str, Any]
) -> None:
    server, world = world_server
    device = server.client()
    now = datetime.now(UTC)
    last_week = at(session_doc, now - timedelta(days=7 + now.weekday()))
    last_week["summary"]["mean_score"] = 12.0
    assert upload(device, world.token_a, world.patient_a, last_week).status_code == 201
    a, _h, _c = as_role(server, world, "therapist_a")
    page = a.get("/patients")
    assert page.status_code == 200
    row = page.text[page.text.index(LABEL_A) :].split("</tr>")[0]
    p = session_doc["prescription"]
    done, dose = session_doc["summary"]["done"], p["sets"] * p["reps"]
    # the world's session was analysed today (this week); last week's does not count
    assert f"1 session, {done} of {dose} ({100 * done / dose:.0f}%)" in html.unescape(row)
    scores = re.findall(r": (\d+)<br>", row)
    assert scores == [f"{session_doc['summary']['mean_score']:.0f}", "12"]
    assert "Without a prescription from you, the dose is each exercise spec's own" in html.unescape(page.text)
    assert "against the exercises' own doses" in row


def test_patient_page_plots_each_metric(
    world_server: tuple[Server, World], session_doc: dict[str, Any]
) -> None:
    server, world = world_server
    a, _h, _c = as_role(server, world, "therapist_a")
    page = a.get(f"/patients/{world.patient_a}")
    assert page.status_code == 200
    figures = re.findall(r'<figure class="trend" data-metric="([^"]+)"><svg', page.text)
    checks = {
        c["id"] for r in counted_reps(session_doc) for c in r["checks"] if c.get("raw_value") is not None
    }
    assert figures[0] == "score"
    assert set(figures) == {"score", *("check:" + c for c in checks)}
    assert "<script" not in page.text


def test_report_is_drawn_from_the_stored_document(
    world_server: tuple[Server, World], session_doc: dict[str, Any]
) -> None:
    server, world = world_server
    a, _h, _c = as_role(server, world, "therapist_a")
    r = a.get(f"/patients/{world.patient_a}/sessions/{world.session_a}/report")
    assert r.status_code == 200
    text = html.unescape(re.sub(r"<[^>]+>", " ", r.text))
    assert "Rep by rep" in text
    assert session_doc["exercise"]["name"] in text
    assert f"{session_doc['summary']['mean_score']:.0f}" in text
    assert r.headers["cache-control"] == "no-store"
    with server.engine.connect() as conn:
        actions = conn.scalars(
            select(AuditEvent.action).where(AuditEvent.patient_id == world.patient_a).order_by(AuditEvent.id)
        ).all()
    assert actions[-1] == "report.viewed"


def test_report_draws_its_charts_from_the_uploaded_series(
    world_server: tuple[Server, World], session_doc: dict[str, Any]
) -> None:
    """An upload carrying the per-frame ``series`` gets report.html's charts, one per signal the
    report plots, with the captions report.html gives them; the same session without the block
    (an upload from an older siform) gets a report without a charts section, and no error."""
    assert session_doc.get("series", {}).get("t_ms"), "session.json carries the per-frame series"
    server, world = world_server
    a, _h, _c = as_role(server, world, "therapist_a")
    r = a.get(f"/patients/{world.patient_a}/sessions/{world.session_a}/report")
    assert r.status_code == 200
    section = re.search(r"<section id='plots'>(.*?)</section>", r.text, re.S)
    assert section, "the report has a charts section"
    charts = re.findall(r"<div class='plot'><svg", section.group(1))
    captions = re.findall(r"<p class='muted'>([^<]+)</p>", section.group(1))
    assert charts and len(charts) == len(captions)
    plotted = {c["signal_label"] for c in session_doc["checks"] if c.get("signal_label")}
    assert any(label in html.unescape(" ".join(captions)) for label in plotted), captions
    without = at(session_doc, datetime.now(UTC) - timedelta(minutes=1))
    del without["series"]
    up = upload(server.client(), world.token_a, world.patient_a, without)
    assert up.status_code == 201, up.text
    old = a.get(f"/patients/{world.patient_a}/sessions/{up.json()['id']}/report")
    assert old.status_code == 200 and "Rep by rep" in old.text and "<section id='plots'>" not in old.text


def test_notes_are_csrf_checked_escaped_audited_exported_and_deleted(
    world_server: tuple[Server, World],
) -> None:
    server, world = world_server
    a, _h, csrf = as_role(server, world, "therapist_a")
    url = f"/patients/{world.patient_a}/sessions/{world.session_a}"
    before = server.dump()
    assert a.post(url + "/notes", data={"text": "no token"}).status_code == 403
    assert a.post(url + "/notes", data={"text": "   ", "csrf": csrf}).status_code == 422
    assert a.post(url + "/notes", data={"text": "x" * 5001, "csrf": csrf}).status_code == 422
    assert server.dump() == before
    note = "Left hip drops <script>alert(1)</script>\nkeep the band on"
    r = a.post(url + "/notes", data={"text": note, "csrf": csrf})
    assert r.status_code == 303
    page = a.get(url).text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>" not in page
    with server.engine.connect() as conn:
        stored = conn.scalars(select(SessionNote.text)).all()
        last = conn.execute(
            select(AuditEvent.action, AuditEvent.detail).where(
                AuditEvent.patient_id == world.patient_a, AuditEvent.action == "note.added"
            )
        ).all()
    assert stored == [note.strip()]
    assert len(last) == 1 and last[0][1].startswith(world.session_a)
    export = a.get(f"/patients/{world.patient_a}/export").json()
    assert [n["text"] for n in export["notes"]] == [note.strip()]
    own = server.client().get(f"/api/v1/patients/{world.patient_a}/export", headers=bearer(world.token_a))
    assert [n["session_id"] for n in own.json()["notes"]] == [world.session_a]
    assert (
        a.post(f"/patients/{world.patient_a}/delete", data={"csrf": csrf, "confirm": "delete"}).status_code
        == 303
    )
    assert server.count("session_notes") == 0


# -- a hold exercise, analysed by the real engine ---------------------------------------------------


@pytest.fixture(scope="module")
def hold_doc(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``siform analyze`` (real MediaPipe model) on the sample isometric squat: holds with seconds held."""
    out = tmp_path_factory.mktemp("hold")
    video = ROOT / "sample_videos" / "isometric_squat_side.mp4"
    subprocess.run(
        [sys.executable, "-m", "siform", "analyze", str(video), "-e", "isometric_squat", "--no-video",
         "-o", str(out)],
        check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    doc: dict[str, Any] = json.loads((out / "session.json").read_text())
    assert doc["exercise"]["kind"] == "hold" and doc["holds"], "the sample should hold at least once"
    return doc


def test_hold_trends_plot_seconds_held_and_the_dose_counts_holds(
    hold_doc: dict[str, Any], world_server: tuple[Server, World]
) -> None:
    now = datetime.now(UTC)
    (trend,) = dashboard.trends([at(hold_doc, now)])
    by_key = {m.key: m for m in trend.metrics}
    assert by_key["held_s"].means(trend.weeks) == [
        pytest.approx(mean(h["held_s"] for h in hold_doc["holds"]))
    ]
    (row,) = dashboard.adherence([at(hold_doc, now)], now)
    p = hold_doc["prescription"]
    assert row.done == hold_doc["summary"]["done"]
    assert row.prescribed == p["sets"] * (p["reps"] or 1)
    server, world = world_server
    assert upload(server.client(), world.token_a, world.patient_a, at(hold_doc, now)).status_code == 201
    a, _h, _c = as_role(server, world, "therapist_a")
    page = a.get(f"/patients/{world.patient_a}").text
    assert 'data-metric="held_s"><svg' in page
    assert hold_doc["exercise"]["name"] in page


def test_times_read_alike_on_every_page() -> None:
    """A session's recorded time (ISO 8601 text from the document, any offset) reads as the upload
    time beside it does: UTC to the minute."""
    from datetime import datetime

    from siform.server.app import _when

    assert _when("2026-11-02T10:30:26+01:00") == "2026-11-02 09:30 UTC"
    assert _when(datetime(2026, 1, 1, 8, 5, 59)) == "2026-01-01 08:05 UTC"
    assert _when("sometime") == "sometime"
    assert _when(None) == "never"
