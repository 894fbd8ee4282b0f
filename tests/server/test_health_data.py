"""Health-data duties and the pages: audit log, export, deletion, escaping (SQLite and PostgreSQL)."""

from __future__ import annotations

import html
import json
import re
from typing import Any

from sqlalchemy import select

from siform.server.models import AuditEvent

from .conftest import LABEL_A, Server, World, add_patient, as_role, bearer


def events(server: Server, patient_id: str) -> list[tuple[str, str, str]]:
    with server.engine.connect() as conn:
        rows = conn.execute(
            select(AuditEvent.actor_kind, AuditEvent.actor_id, AuditEvent.action)
            .where(AuditEvent.patient_id == patient_id)
            .order_by(AuditEvent.id)
        ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def test_every_view_and_change_is_audited(
    world_server: tuple[Server, World], session_doc: dict[str, Any]
) -> None:
    server, world = world_server
    before = events(server, world.patient_a)
    assert [e[2] for e in before][:2] == ["patient.created", "invite.created"]
    assert "device.paired" in [e[2] for e in before] and "session.uploaded" in [e[2] for e in before]
    a, _h, _c = as_role(server, world, "therapist_a")
    a.get(f"/patients/{world.patient_a}")
    a.get(f"/patients/{world.patient_a}/sessions/{world.session_a}")
    a.get(f"/patients/{world.patient_a}/export")
    api = server.client()
    api.get(f"/api/v1/patients/{world.patient_a}/sessions/{world.session_a}", headers=bearer(world.token_a))
    new = events(server, world.patient_a)[len(before) :]
    therapist_id = new[0][1]
    assert new == [
        ("therapist", therapist_id, "patient.viewed"),
        ("therapist", therapist_id, "session.viewed"),
        ("therapist", therapist_id, "patient.exported"),
        ("patient", world.device_a, "session.viewed"),
    ]
    # the log is on the patient's page for their therapist, and not for anyone else
    page = a.get(f"/patients/{world.patient_a}/audit")
    assert page.status_code == 200
    for action in ("patient.viewed", "session.viewed", "patient.exported", "device.paired", "device.revoked"):
        assert action in page.text
    b, _h, _c = as_role(server, world, "therapist_b")
    assert b.get(f"/patients/{world.patient_a}/audit").status_code == 404
    theirs = b.get("/audit").text
    assert world.patient_b[:8] in theirs and world.patient_a[:8] not in theirs


def test_export_holds_everything_of_the_patient_and_nothing_else(
    world_server: tuple[Server, World], session_doc: dict[str, Any]
) -> None:
    server, world = world_server
    a, _h, _c = as_role(server, world, "therapist_a")
    r = a.get(f"/patients/{world.patient_a}/export")
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    export = r.json()
    assert export["kind"] == "siform.patient_export" and export["patient"]["label"] == LABEL_A
    assert [s["document"] for s in export["sessions"]] == [session_doc]
    assert {d["name"] for d in export["devices"]} == {"laptop", "old laptop", "lost phone"}
    assert "patient.exported" in [e["action"] for e in export["audit"]]
    text = json.dumps(export)
    assert world.patient_b not in text and world.session_b not in text and "token_hash" not in text
    mine = server.client().get(f"/api/v1/patients/{world.patient_a}/export", headers=bearer(world.token_a))
    assert mine.status_code == 200 and [s["document"] for s in mine.json()["sessions"]] == [session_doc]


def test_delete_removes_the_patients_data_and_keeps_the_record_of_it(
    world_server: tuple[Server, World],
) -> None:
    server, world = world_server
    a, _h, csrf = as_role(server, world, "therapist_a")
    unconfirmed = a.post(f"/patients/{world.patient_a}/delete", data={"csrf": csrf, "confirm": "yes"})
    assert unconfirmed.status_code == 422 and server.count("sessions") == 2
    r = a.post(f"/patients/{world.patient_a}/delete", data={"csrf": csrf, "confirm": "delete"})
    assert r.status_code == 303
    assert a.get(f"/patients/{world.patient_a}").status_code == 404
    with server.engine.connect() as conn:
        from sqlalchemy import text

        for table in ("sessions", "devices", "invites", "patients"):
            n = conn.execute(
                text(
                    f"SELECT count(*) FROM {table} WHERE "
                    + ("id" if table == "patients" else "patient_id")
                    + " = :p"
                ),
                {"p": world.patient_a},
            ).scalar_one()
            assert n == 0, table
    assert server.count("sessions") == 1  # patient B's is untouched
    api = server.client()
    assert (
        api.get(f"/api/v1/patients/{world.patient_a}/sessions", headers=bearer(world.token_a)).status_code
        == 401
    )
    assert events(server, world.patient_a)[-1][2] == "patient.deleted"
    log = a.get("/audit").text
    assert "patient.deleted" in log and world.patient_a[:8] in log
    assert LABEL_A not in log  # the record of the deletion keeps no name


def test_pages_escape_what_people_typed(
    world_server: tuple[Server, World], session_doc: dict[str, Any]
) -> None:
    server, world = world_server
    a, _h, csrf = as_role(server, world, "therapist_a")
    hostile = '<script>alert("x")</script> & "Bobby" <img src=x onerror=alert(1)>'
    patient_id, _code = add_patient(a, csrf, hostile)
    for url in ("/patients", f"/patients/{patient_id}", f"/patients/{patient_id}/audit"):
        page = a.get(url).text
        assert "<script>alert" not in page and "<img src=x" not in page
        assert "&lt;script&gt;alert(" in page and "&lt;img src=x onerror=alert(1)&gt;" in page


def test_session_page_shows_the_uploaded_numbers(
    world_server: tuple[Server, World], session_doc: dict[str, Any]
) -> None:
    server, world = world_server
    a, _h, _c = as_role(server, world, "therapist_a")
    page = a.get(f"/patients/{world.patient_a}/sessions/{world.session_a}").text
    summary = session_doc["summary"]
    assert html.escape(session_doc["exercise"]["name"]) in page
    assert f"{summary['done']} of {summary['prescribed']}" in page
    rows = re.findall(r"<tr>\s*<td>(\d+)</td>", page)
    assert len(rows) == len(session_doc["reps"])
    for rep in session_doc["reps"]:
        for check in rep["checks"]:
            if check["scored"] and check["value"] is not None:
                # worded as report.html words it: degrees to 0.1, ratios to 0.001, a change against
                # the patient's own median signed (a 0.087 pelvic offset once read "0.1 ratio" here)
                v = check["value"]
                sign = "+" if check["baseline"] is not None else ""
                shown = {"deg": f"{round(v, 1) + 0.0:{sign}.1f}°", "ratio": f"{round(v, 3) + 0.0:{sign}.3f}"}
                text = shown.get(check["unit"], f"{v:.1f} {check['unit']}")
                if check["baseline"] is not None:
                    text += " from the patient&#39;s median"
                assert f"{html.escape(check['name'])}: {text}" in page
    listing = a.get(f"/patients/{world.patient_a}").text
    if summary["mean_score"] is not None:
        assert f"{summary['mean_score']:.0f} / 100" in listing
