"""The therapist's prescription applied to an exercise spec, and found on the patient's machine.

``apply_prescription`` is checked on the shipped specs and on factory pose tracks run through the
real engine: a limit the therapist changed changes the verdict of the rep it concerns, and nothing
else. ``prescribed_spec`` is checked with real files in a client folder (``SIFORM_CLIENT_DIR``).
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from factories_standing import isometric_squat_side_view
from siform.pipeline import analyze_track
from siform.prescription import (
    ExercisePrescription,
    PatientPrescription,
    PrescriptionError,
    apply_prescription,
    dose_words,
    load_stored,
    prescribed_spec,
    save_stored,
)
from siform.specs.load import find_spec
from siform.specs.model import Bound, ExerciseSpec

from factories import bridge_side_view

UPDATED = "2026-12-01T08:30:00+00:00"


@pytest.fixture(scope="module")
def bridge() -> ExerciseSpec:
    return find_spec("glute_bridge")


def verdicts(result: object, check_id: str) -> list[bool | None]:
    return [next(c.passed for c in rep.checks if c.id == check_id) for rep in result.reps]  # type: ignore[attr-defined]


def test_dose_and_limits_replace_the_specs_own(bridge: ExerciseSpec) -> None:
    wider = Bound(min=-0.05, max=0.05)
    ex = ExercisePrescription(
        exercise="glute_bridge", sets=3, reps=6, rest_s=30, limits={"level_pelvis": wider}
    )
    out = apply_prescription(bridge, ex, UPDATED)
    assert isinstance(out, ExerciseSpec)
    assert (out.prescription.sets, out.prescription.reps, out.prescription.rest_s) == (3, 6, 30.0)
    limits = {c.id: c.limit for c in out.checks}
    assert limits["level_pelvis"] == wider
    assert limits["full_extension"] == next(c.limit for c in bridge.checks if c.id == "full_extension")
    # pure: the loaded spec is as it was, and everything but the dose and that limit is unchanged
    assert bridge == find_spec("glute_bridge") and bridge.prescription.reps != 6
    assert out.model_dump(exclude={"prescription", "checks"}) == bridge.model_dump(
        exclude={"prescription", "checks"}
    )
    # where the dose came from, as session.json's prescription block will say
    assert (out.prescription.source, out.prescription.updated_utc) == ("therapist", UPDATED)
    assert (bridge.prescription.source, bridge.prescription.updated_utc) == ("spec", None)
    assert dose_words(out) == "3 sets x 6 reps, 30 s rest between sets"


def test_fields_left_empty_keep_the_specs_dose(bridge: ExerciseSpec) -> None:
    out = apply_prescription(bridge, ExercisePrescription(exercise="glute_bridge", reps=4))
    assert (out.prescription.sets, out.prescription.reps) == (bridge.prescription.sets, 4)
    assert out.prescription.rest_s == bridge.prescription.rest_s and out.checks == bridge.checks


def test_refusals_say_what_is_wrong(bridge: ExerciseSpec) -> None:
    checks = "full_extension, level_pelvis"
    with pytest.raises(PrescriptionError, match=rf"'pelvis_tilt'.*does not check.*{checks}"):
        apply_prescription(
            bridge, ExercisePrescription(exercise="glute_bridge", limits={"pelvis_tilt": Bound(max=1.0)})
        )
    with pytest.raises(PrescriptionError, match="counts reps, not holds"):
        apply_prescription(bridge, ExercisePrescription(exercise="glute_bridge", hold_s=10))
    with pytest.raises(PrescriptionError, match="cannot be applied to glute_bridge"):
        apply_prescription(bridge, ExercisePrescription(exercise="clamshell", reps=5))
    squat = find_spec("isometric_squat")
    assert squat.hold is not None
    short = squat.hold.min_hold_s / 2
    least = squat.hold.min_hold_s
    with pytest.raises(PrescriptionError, match=f"holds of {short:g} s.*only from {least:g} s"):
        apply_prescription(squat, ExercisePrescription(exercise="isometric_squat", hold_s=short))
    # An override that skipped the wire model's own validation still cannot make an invalid spec:
    # the spec's validation runs again on the result.
    unchecked = ExercisePrescription.model_construct(
        exercise="glute_bridge", sets=0, reps=None, hold_s=None, rest_s=None, side=None, limits={}, note=""
    )
    with pytest.raises(PrescriptionError, match=r"prescription\.sets"):
        apply_prescription(bridge, unchecked)


def test_a_limit_override_changes_the_verdict_of_the_rep_it_concerns(bridge: ExerciseSpec) -> None:
    track, truth = bridge_side_view(reps=5, drop_rep=2)
    before = analyze_track(track, bridge)
    pelvis = verdicts(before, "level_pelvis")
    assert pelvis.count(False) == 1  # the factory's one dropped pelvis (truth.faults), at the spec's limit
    faulty = pelvis.index(False)
    dropped = next(c.value for c in before.reps[faulty].checks if c.id == "level_pelvis")
    # the therapist allows this patient a little more than that drop: the rep passes, nothing else moves
    wider = Bound(min=-(abs(dropped) + 0.01), max=abs(dropped) + 0.01)
    ex = ExercisePrescription(exercise="glute_bridge", limits={"level_pelvis": wider})
    after = analyze_track(track, apply_prescription(bridge, ex))
    assert verdicts(after, "level_pelvis") == [True] * len(pelvis)
    assert verdicts(after, "full_extension") == verdicts(before, "full_extension")
    assert after.reps[faulty].score > before.reps[faulty].score
    # a stricter hip extension than any rep reached: every rep now fails it, as it should
    reached = max(next(c.value for c in r.checks if c.id == "full_extension") for r in before.reps)
    strict = ExercisePrescription(
        exercise="glute_bridge", limits={"full_extension": Bound(min=reached + 1.0)}
    )
    assert verdicts(analyze_track(track, apply_prescription(bridge, strict)), "full_extension") == [False] * 5
    assert truth.faults  # the factory's own record of the fault it drew


def test_a_prescribed_hold_time_is_the_target_holds_are_judged_against() -> None:
    squat = find_spec("isometric_squat")
    track, _ = isometric_squat_side_view(holds_s=(7.0, 6.0, 6.0, 6.0), lean_hold=None, bob_hold=None,
                                         shallow_hold=None)  # fmt: skip
    spec_default = analyze_track(track, squat)
    held = [h.held_s for h in spec_default.holds]
    assert held and squat.prescription.hold_s is not None and min(held) < squat.prescription.hold_s
    assert spec_default.summary.holds_short == len(held)  # 30 s asked, about 6 s held
    target = float(int(min(held)))  # the therapist asks for what this patient can hold
    assert squat.hold is not None and target >= squat.hold.min_hold_s
    ex = ExercisePrescription(exercise="isometric_squat", reps=len(held), hold_s=target)
    prescribed = analyze_track(track, apply_prescription(squat, ex))
    assert [h.held_s for h in prescribed.holds] == held
    assert prescribed.summary.holds_short == 0
    assert prescribed.summary.prescribed == len(held)


# -- the stored prescription on the patient's machine -----------------------------------------------------


def paired(folder: Path, patient_id: str = "p" * 32) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    pairing = {"server": "http://127.0.0.1:9", "patient_id": patient_id, "device_id": "d",
               "token": "sfd_x", "expires_utc": "2027-06-01T00:00:00+00:00"}  # fmt: skip
    (folder / "server.json").write_text(json.dumps(pairing))


def stored(**exercise: object) -> PatientPrescription:
    return PatientPrescription(
        patient_id="p" * 32, version=2, updated_utc=UPDATED, updated_by="Dr T",
        exercises=[ExercisePrescription.model_validate(exercise)],
    )  # fmt: skip


def test_prescribed_spec_follows_pairing_and_stored_file(
    bridge: ExerciseSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "client"
    monkeypatch.setenv("SIFORM_CLIENT_DIR", str(folder))
    assert prescribed_spec(bridge).spec is bridge  # not paired: the spec as it is, nothing said
    assert prescribed_spec(bridge).lines == ()
    paired(folder)
    unsynced = prescribed_spec(bridge)
    assert unsynced.spec is bridge and "siform sync" in unsynced.lines[0]
    rx = stored(exercise="glute_bridge", sets=1, reps=4, note="Slow down.")
    path = save_stored(rx)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and load_stored() == rx
    used = prescribed_spec(bridge)
    assert used.prescribed and used.spec.prescription.reps == 4 and used.side is None
    assert "1 Dec 2026" in used.lines[0] and "1 set x 4 reps" in used.lines[0]
    assert used.lines[1] == 'Your therapist says: "Slow down."'
    assert prescribed_spec(bridge, use=False).spec is bridge  # --no-prescription
    clam = find_spec("clamshell")
    missing = prescribed_spec(clam)
    assert missing.spec is clam and "does not include Clamshell" in missing.lines[0]
    save_stored(stored(exercise="clamshell", side="right", reps=8))
    sided = prescribed_spec(clam)
    assert sided.side == "right" and "x 8 reps on the right side only" in sided.lines[0]
    save_stored(stored(exercise="glute_bridge", limits={"no_such_check": {"max": 1.0}}))
    with pytest.raises(PrescriptionError, match=r"no_such_check.*--no-prescription"):
        prescribed_spec(bridge)
    paired(folder, patient_id="q" * 32)  # paired again, for someone else: the old file is not theirs
    assert prescribed_spec(bridge).spec is bridge
    path.write_text("{not json")
    paired(folder)
    broken = prescribed_spec(bridge)
    assert broken.spec is bridge and "cannot be read" in broken.lines[0] and "siform sync" in broken.lines[0]
