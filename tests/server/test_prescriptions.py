"""Prescriptions on the server: the therapist's form (validation, versions, history, audit), the
device's ``GET /api/v1/patients/{id}/prescription``, adherence against it, export and deletion.

The form's rules are tested as pure functions over the bundled specs, then through the real app on
SQLite and PostgreSQL (``world_server``). Expected figures come from the spec files and the model
directly, never from the module under test.
"""

from __future__ import annotations

import copy
import html
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text

from siform.prescription import ExercisePrescription, PatientPrescription
from siform.server import dashboard
from siform.server.models import AuditEvent
from siform.server.prescribe import FormRefusedError, changes, parse_form
from siform.specs.load import load_all
from siform.specs.model import Bound

from .conftest import Server, World, as_role, bearer, upload


@pytest.fixture(scope="module")
def specs() -> dict[str, Any]:
    return load_all()


def parse(specs: dict[str, Any], form: dict[str, str]) -> PatientPrescription:
    return parse_form(form, specs, "p1", 1, "2026-12-03T08:00:00+00:00", "Dr A")


def refused(specs: dict[str, Any], form: dict[str, str]) -> list[str]:
    with pytest.raises(FormRefusedError) as info:
        parse(specs, form)
    return info.value.messages


# -- the form's rules ---------------------------------------------------------------------------------


def test_a_blank_field_keeps_the_specs_value_and_a_tolerance_replaces_one_end(specs: dict[str, Any]) -> None:
    bridge = specs["glute_bridge"]
    level = next(c for c in bridge.checks if c.id == "level_pelvis")
    extension = next(c for c in bridge.checks if c.id == "full_extension")
    p = parse(
        specs,
        {
            "csrf": "x",
            "ex.glute_bridge.on": "1",
            "ex.glute_bridge.sets": "3",
            "ex.glute_bridge.reps": "",
            "ex.glute_bridge.rest_s": "45,5",  # a decimal comma reads as a point
            "ex.glute_bridge.note": "  Slow on the way down.\r\n",
            "ex.glute_bridge.limit.level_pelvis.max": "0.04",
            "ex.glute_bridge.limit.full_extension.min": "",
            "ex.clamshell.sets": "4",  # not ticked: not prescribed, its fields ignored
        },
    )
    (ep,) = p.exercises
    assert (ep.exercise, ep.sets, ep.reps, ep.hold_s, ep.rest_s) == ("glute_bridge", 3, None, None, 45.5)
    assert ep.note == "Slow on the way down."
    # only the maximum was typed: the spec's minimum stays, so the stored interval is [spec min, 0.04]
    assert ep.limits == {"level_pelvis": Bound(min=level.limit.min, max=0.04)}
    assert "full_extension" not in ep.limits and extension.limit.min is not None
    assert (p.patient_id, p.version, p.updated_by) == ("p1", 1, "Dr A")
    # a tolerance equal to the spec's is no override at all
    same = parse(
        specs, {"ex.glute_bridge.on": "1", "ex.glute_bridge.limit.level_pelvis.max": f"{level.limit.max}"}
    )
    assert same.exercises[0].limits == {}


def test_holds_sides_and_the_model_round_trip(specs: dict[str, Any]) -> None:
    p = parse(
        specs,
        {
            "ex.side_plank.on": "1",
            "ex.side_plank.hold_s": "25",
            "ex.side_plank.reps": "2",
            "ex.side_plank.side": "left",
            "ex.glute_bridge.on": "1",
        },
    )
    assert [e.exercise for e in p.exercises] == ["glute_bridge", "side_plank"]  # by name
    plank = p.for_exercise("side_plank")
    assert plank is not None and (plank.hold_s, plank.reps, plank.side) == (25.0, 2, "left")
    # what the device receives is what the client reads back
    assert PatientPrescription.model_validate_json(p.model_dump_json()) == p


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("sets", "21", "at most 20"),
        ("sets", "0", "at least 1"),
        ("sets", "2.5", "whole number"),
        ("reps", "101", "at most 100"),
        ("rest_s", "-1", "at least 0"),
        ("rest_s", "901", "at most 900"),
        ("rest_s", "nan", "must be a number"),
        ("rest_s", "lots", "must be a number"),
    ],
)
def test_numbers_outside_the_models_ranges_are_refused(
    specs: dict[str, Any], field: str, value: str, words: str
) -> None:
    (message,) = refused(specs, {"ex.glute_bridge.on": "1", f"ex.glute_bridge.{field}": value})
    assert message.startswith("Glute bridge: ") and words in message


def test_hold_time_bounds_and_fields_that_do_not_fit_the_exercise(specs: dict[str, Any]) -> None:
    plank = specs["side_plank"]
    assert plank.hold is not None
    msgs = refused(specs, {"ex.side_plank.on": "1", "ex.side_plank.hold_s": "601"})
    assert msgs == ["Side plank: hold time (s) must be more than 0 and at most 600 (not 601)."]
    short = plank.hold.min_hold_s / 2
    msgs = refused(specs, {"ex.side_plank.on": "1", "ex.side_plank.hold_s": f"{short:g}"})
    assert (
        len(msgs) == 1 and f"{plank.hold.min_hold_s:g} s" in msgs[0]
    )  # the patient's machine would refuse it
    assert refused(specs, {"ex.glute_bridge.on": "1", "ex.glute_bridge.hold_s": "5"}) == [
        "Glute bridge: a rep exercise has no hold time."
    ]
    assert (
        "no side can be chosen"
        in refused(specs, {"ex.glute_bridge.on": "1", "ex.glute_bridge.side": "left"})[0]
    )
    assert "left, right or both" in refused(specs, {"ex.clamshell.on": "1", "ex.clamshell.side": "up"})[0]
    long_note = "x" * (ExercisePrescription.model_fields["note"].metadata[0].max_length + 1)
    assert "at most" in refused(specs, {"ex.clamshell.on": "1", "ex.clamshell.note": long_note})[0]


def test_unknown_ids_and_min_above_max_are_refused_with_every_reason(specs: dict[str, Any]) -> None:
    squat = specs["isometric_squat"]
    depth = next(c for c in squat.checks if c.id == "knee_depth")
    assert depth.limit.max is not None
    msgs = refused(
        specs,
        {
            "ex.glute_bridge.on": "1",
            "ex.no_such_exercise.on": "1",
            "ex.glute_bridge.limit.no_such_check.max": "3",
            "ex.glute_bridge.colour": "red",
            "ex.isometric_squat.on": "1",
            # only a new minimum, above the spec's maximum: min > max once merged
            "ex.isometric_squat.limit.knee_depth.min": f"{depth.limit.max + 10:g}",
            "ex.isometric_squat.limit.still.max": "abc",
        },
    )
    assert "Unknown exercise 'no_such_exercise': it is not one of the server's exercise specs." in msgs
    assert "Glute bridge: unknown check 'no_such_check'." in msgs
    assert "Glute bridge: unknown field 'colour'." in msgs
    assert (
        f"Isometric squat, {depth.name}: the minimum ({depth.limit.max + 10:g}°) is above the maximum "
        f"({depth.limit.max:g}°)." in msgs
    )
    assert any("the maximum must be a number, not 'abc'" in m for m in msgs)
    assert len(msgs) == 5
    # both ends given the wrong way round
    msgs = refused(
        specs,
        {
            "ex.glute_bridge.on": "1",
            "ex.glute_bridge.limit.level_pelvis.min": "0.05",
            "ex.glute_bridge.limit.level_pelvis.max": "0.01",
        },
    )
    assert msgs == ["Glute bridge, Pelvis stays level: the minimum (0.05) is above the maximum (0.01)."]


def test_changes_say_what_changed(specs: dict[str, Any]) -> None:
    v1 = parse(specs, {"ex.glute_bridge.on": "1", "ex.clamshell.on": "1", "ex.clamshell.sets": "2"})
    v2 = parse(
        specs,
        {
            "ex.clamshell.on": "1",
            "ex.clamshell.sets": "3",
            "ex.clamshell.side": "right",
            "ex.clamshell.limit.pelvis_stacked.max": "0.02",
            "ex.clamshell.note": "Feet together.",
            "ex.side_plank.on": "1",
        },
    )
    assert changes(None, v1, specs) == ["Clamshell added", "Glute bridge added"]
    assert changes(v1, v2, specs) == [
        "Clamshell: sets 2→3, side spec→right, limit pelvis_stacked spec→[-, 0.02], note changed",
        "Side plank added",
        "Glute bridge removed",
    ]
    assert changes(v2, v2, specs) == ["no change"]


# -- adherence against a prescription ---------------------------------------------------------------------


def at(doc: dict[str, Any], when: datetime, **changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    out["created_utc"] = when.isoformat(timespec="seconds")
    if "session_id" in out:
        out["session_id"] = str(uuid.uuid4())
    out.update(changes)
    return out


def test_adherence_is_a_daily_dose_times_the_days_so_far(
    session_doc: dict[str, Any], specs: dict[str, Any]
) -> None:
    now = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)  # Thursday: the 4th day of the week
    bridge = specs["glute_bridge"]
    docs = [
        at(session_doc, datetime(2026, 11, 30, 9, tzinfo=UTC)),
        at(session_doc, datetime(2026, 12, 2, 9, tzinfo=UTC)),
        at(session_doc, datetime(2026, 11, 29, 9, tzinfo=UTC)),  # last week
    ]
    p = parse(specs, {"ex.glute_bridge.on": "1", "ex.glute_bridge.sets": "3", "ex.side_plank.on": "1"})
    rows = {a.exercise: a for a in dashboard.adherence(docs, now, p, specs)}
    b = rows["Glute bridge"]
    assert (b.sessions, b.done, b.source) == (2, 2 * session_doc["summary"]["done"], "therapist")
    assert b.prescribed == 3 * bridge.prescription.reps * 4  # 3 sets x spec reps, Monday to Thursday
    plank = specs["side_plank"].prescription
    s = rows["Side plank"]  # prescribed, not done: a row with nothing done
    assert (s.sessions, s.done) == (0, 0)
    assert s.prescribed == plank.sets * plank.reps * 2 * 4  # one-sided, both sides prescribed
    assert "each side" in s.dose and "a day" in s.dose
    # an exercise done but not prescribed is listed without a target
    only_plank = parse(specs, {"ex.side_plank.on": "1"})
    rows = {a.exercise: a for a in dashboard.adherence(docs, now, only_plank, specs)}
    assert rows["Glute bridge"].prescribed is None and rows["Glute bridge"].source == "unprescribed"
    # an empty prescription falls back to the specs' doses
    empty = PatientPrescription(patient_id="p1", version=2)
    assert dashboard.adherence(docs, now, empty, specs) == dashboard.adherence(docs, now)


def test_a_one_sided_prescription_counts_only_its_side(
    session_doc: dict[str, Any], specs: dict[str, Any]
) -> None:
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)  # Tuesday: day 2
    doc = copy.deepcopy(session_doc)
    doc["exercise"] = {**doc["exercise"], "id": "clamshell", "name": "Clamshell"}
    left = at(doc, datetime(2026, 12, 1, 8, tzinfo=UTC), side="left")
    right = at(doc, datetime(2026, 12, 1, 9, tzinfo=UTC), side="right")
    p = parse(specs, {"ex.clamshell.on": "1", "ex.clamshell.side": "left"})
    rows = dashboard.adherence([left, right], now, p, specs)
    clam = specs["clamshell"].prescription
    assert [(a.exercise, a.sessions, a.prescribed) for a in rows] == [
        ("Clamshell", 1, clam.sets * clam.reps * 2),
        ("Clamshell (right side)", 1, None),
    ]


# -- through the app, on SQLite and PostgreSQL -------------------------------------------------------


def events(server: Server, patient_id: str) -> list[tuple[str, str, str]]:
    with server.engine.connect() as conn:
        rows = conn.execute(
            select(AuditEvent.actor_kind, AuditEvent.action, AuditEvent.detail)
            .where(AuditEvent.patient_id == patient_id)
            .order_by(AuditEvent.id)
        ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def fetch(server: Server, world: World) -> Any:
    r = server.client().get(f"/api/v1/patients/{world.patient_a}/prescription", headers=bearer(world.token_a))
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    return r


def test_the_form_shows_every_spec_by_name_with_its_limits_and_units(
    world_server: tuple[Server, World], specs: dict[str, Any]
) -> None:
    server, world = world_server
    a, _h, _c = as_role(server, world, "therapist_a")
    page = a.get(f"/patients/{world.patient_a}/prescription")
    assert page.status_code == 200
    body = html.unescape(page.text)
    assert "Nothing prescribed yet" in body and "Save prescription (version 1)" in body
    for spec in specs.values():
        assert f"<strong>{spec.name}</strong>" in body
        for c in spec.checks:
            assert c.name in body
            assert f'name="ex.{spec.id}.limit.{c.id}.min"' in page.text
    # the spec's limit, in degrees or as a ratio, beside the inputs
    assert "at least 164.5°" in body  # glute bridge, hips fully extended
    assert "±0.025 from the set's median" in body  # glute bridge, pelvis stays level
    assert "80° to 120°" in body  # isometric squat, knee depth
    rows = re.findall(r'limit\.knee_depth\.max".*?</td>\s*<td>([a-z]+)</td>', page.text, re.S)
    assert rows == ["degrees"]
    assert events(server, world.patient_a)[-1][:2] == ("therapist", "prescription.viewed")


def test_saving_versions_history_audit_and_the_device_api(
    world_server: tuple[Server, World], specs: dict[str, Any]
) -> None:
    server, world = world_server
    empty = fetch(server, world).json()
    assert PatientPrescription.model_validate(empty) == PatientPrescription(patient_id=world.patient_a)
    assert empty["version"] == 0 and empty["exercises"] == []

    a, _h, csrf = as_role(server, world, "therapist_a")
    url = f"/patients/{world.patient_a}/prescription"
    first = {
        "csrf": csrf or "",
        "base_version": "0",
        "ex.glute_bridge.on": "1",
        "ex.glute_bridge.sets": "3",
        "ex.glute_bridge.reps": "12",
        "ex.glute_bridge.limit.level_pelvis.max": "0.03",
        "ex.glute_bridge.note": "Breathe out as you lift.",
    }
    r = a.post(url, data=first)
    assert r.status_code == 303 and r.headers["location"] == f"{url}?saved=1"
    shown = html.unescape(a.get(r.headers["location"]).text)
    assert "Saved as version 1." in shown and "Glute bridge: 3 × 12 reps a day, rest 60 s" in shown
    got = PatientPrescription.model_validate_json(fetch(server, world).content)
    (ep,) = got.exercises
    assert (got.version, got.updated_by, ep.sets, ep.reps, ep.note) == (
        1,
        "Dr A",
        3,
        12,
        "Breathe out as you lift.",
    )
    assert ep.limits["level_pelvis"].max == 0.03
    assert got.updated_utc is not None and datetime.fromisoformat(got.updated_utc).tzinfo is not None

    second = {**first, "base_version": "1", "ex.glute_bridge.sets": "2", "ex.clamshell.on": "1"}
    assert a.post(url, data=second).status_code == 303
    got = PatientPrescription.model_validate_json(fetch(server, world).content)
    assert got.version == 2 and [e.exercise for e in got.exercises] == ["clamshell", "glute_bridge"]
    # resaving unchanged still makes a new version (each save is a version)
    assert a.post(url, data={**second, "base_version": "2"}).status_code == 303
    assert fetch(server, world).json()["version"] == 3
    assert server.count("prescriptions") == 1 and server.count("prescription_versions") == 3

    changed = [e for e in events(server, world.patient_a) if e[1] == "prescription.changed"]
    assert [e[2] for e in changed] == [
        "v1: Glute bridge added",
        "v2: Clamshell added; Glute bridge: sets 3→2",
        "v3: no change",
    ]
    assert all(e[0] == "therapist" for e in changed)
    reads = [
        e for e in events(server, world.patient_a) if e[1] == "prescription.viewed" and e[0] == "patient"
    ]
    assert [e[2] for e in reads] == ["v0", "v1", "v2", "v3"]

    # the history: what the patient had to do at each version
    page = html.unescape(a.get(url).text)
    history = page[page.index('id="history"') :]
    assert (
        history.count("Glute bridge: 3 × 12 reps a day") == 1 and history.count("Glute bridge: 2 × 12") == 2
    )
    assert "Save prescription (version 4)" in page
    # the patient page shows it and uses it for adherence
    patient_page = html.unescape(a.get(f"/patients/{world.patient_a}").text)
    assert "Version 3, by Dr A" in patient_page and "Clamshell" in patient_page
    assert (
        "Dose (your prescription)" in patient_page
        and "With your prescription, its dose is per day" in patient_page
    )


def test_refused_posts_store_nothing_and_say_why_on_the_page(world_server: tuple[Server, World]) -> None:
    server, world = world_server
    a, _h, csrf = as_role(server, world, "therapist_a")
    url = f"/patients/{world.patient_a}/prescription"
    before = server.dump()
    bad = {"csrf": csrf or "", "base_version": "0", "ex.glute_bridge.on": "1", "ex.glute_bridge.sets": "50"}
    r = a.post(url, data=bad)
    assert r.status_code == 422
    assert (
        "Not saved." in r.text and "Glute bridge: sets must be at least 1 and at most 20 (not 50)." in r.text
    )
    assert 'name="ex.glute_bridge.sets" value="50"' in r.text  # the typed value is shown again
    r = a.post(url, data={**bad, "ex.glute_bridge.sets": "2", "ex.made_up.on": "1"})
    assert r.status_code == 422 and "Unknown exercise &#39;made_up&#39;" in r.text
    r = a.post(url, data={**bad, "csrf": "0" * 64})
    assert r.status_code == 403
    stale = {**bad, "ex.glute_bridge.sets": "2", "base_version": "7"}
    r = a.post(url, data=stale)
    assert r.status_code == 409 and "changed since this page was opened" in r.text
    assert server.dump() == before  # nothing stored, not even an audit event
    assert fetch(server, world).json()["version"] == 0


def test_export_holds_the_prescription_and_its_history_and_delete_removes_them(
    world_server: tuple[Server, World],
) -> None:
    server, world = world_server
    a, _h, csrf = as_role(server, world, "therapist_a")
    url = f"/patients/{world.patient_a}/prescription"
    for n, sets in enumerate(("2", "4")):
        form = {
            "csrf": csrf or "",
            "base_version": str(n),
            "ex.glute_bridge.on": "1",
            "ex.glute_bridge.sets": sets,
        }
        assert a.post(url, data=form).status_code == 303
    b, _hb, csrf_b = as_role(server, world, "therapist_b")
    form_b = {"csrf": csrf_b or "", "base_version": "0", "ex.clamshell.on": "1"}
    assert b.post(f"/patients/{world.patient_b}/prescription", data=form_b).status_code == 303

    export = a.get(f"/patients/{world.patient_a}/export").json()
    assert export["prescription"]["version"] == 2 and export["prescription"]["exercises"][0]["sets"] == 4
    assert [h["version"] for h in export["prescription_history"]] == [1, 2]
    assert [h["prescription"]["exercises"][0]["sets"] for h in export["prescription_history"]] == [2, 4]
    mine = server.client().get(f"/api/v1/patients/{world.patient_a}/export", headers=bearer(world.token_a))
    assert mine.json()["prescription"] == export["prescription"]
    assert "clamshell" not in str(export)  # patient B's prescription is not in A's export

    r = a.post(f"/patients/{world.patient_a}/delete", data={"csrf": csrf, "confirm": "delete"})
    assert r.status_code == 303
    with server.engine.connect() as conn:
        for table in ("prescriptions", "prescription_versions"):
            n = conn.execute(
                text(f"SELECT count(*) FROM {table} WHERE patient_id = :p"), {"p": world.patient_a}
            ).scalar_one()
            assert n == 0, table
    assert server.count("prescriptions") == 1 and server.count("prescription_versions") == 1  # B's stay


def test_patient_list_counts_against_the_prescription(
    world_server: tuple[Server, World], session_doc: dict[str, Any], specs: dict[str, Any]
) -> None:
    server, world = world_server
    a, _h, csrf = as_role(server, world, "therapist_a")
    now = datetime.now(UTC)
    today = at(session_doc, now - timedelta(minutes=5))
    assert upload(server.client(), world.token_a, world.patient_a, today).status_code == 201
    form = {"csrf": csrf or "", "base_version": "0", "ex.glute_bridge.on": "1", "ex.glute_bridge.sets": "1"}
    assert a.post(f"/patients/{world.patient_a}/prescription", data=form).status_code == 303
    page = html.unescape(a.get("/patients").text)
    row = page[page.index(world.patient_a) :].split("</tr>")[0]
    days = now.weekday() + 1
    reps = specs["glute_bridge"].prescription.reps
    # the world's session and this one (both this week, unless the week began in between)
    sessions = sum(
        1
        for d in (session_doc, today)
        if dashboard.week_start(datetime.fromisoformat(d["created_utc"])) == dashboard.week_start(now)
    )
    done = sessions * session_doc["summary"]["done"]
    target = 1 * reps * days
    plural = "s" if sessions != 1 else ""
    assert f"Glute bridge: {sessions} session{plural}, {done} of {target} ({100 * done / target:.0f}%)" in row
    assert "against prescription v1" in row


def test_two_saves_of_one_version_store_one(world_server: tuple[Server, World]) -> None:
    """Two workers saving from the same version at once: the second finds version 1 taken (the
    history's unique key) and is refused with nothing of its own stored, instead of both becoming
    version 1. The first save's rows are written here behind the app's back, between its check of
    the current version and its commit, as another worker would."""
    from siform.server.models import PrescriptionVersion

    server, world = world_server
    a, _h, csrf = as_role(server, world, "therapist_a")
    other = PatientPrescription(patient_id=world.patient_a, version=1, updated_by="another worker")
    with server.engine.begin() as conn:
        therapist_id = conn.execute(
            text("SELECT therapist_id FROM patients WHERE id = :p"), {"p": world.patient_a}
        ).scalar_one()
        conn.execute(
            PrescriptionVersion.__table__.insert().values(
                patient_id=world.patient_a,
                version=1,
                document=other.model_dump_json(),
                therapist_id=therapist_id,
                created_at=datetime.now(UTC),
                changes="",
            )
        )
    before = server.dump()
    form = {"csrf": csrf or "", "base_version": "0", "ex.glute_bridge.on": "1"}
    r = a.post(f"/patients/{world.patient_a}/prescription", data=form)
    assert r.status_code == 409 and "at the same moment" in r.text
    assert server.dump() == before
