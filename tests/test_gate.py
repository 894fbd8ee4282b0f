"""Camera-setup gate: classify the view from the image alone and say what to fix, in plain words."""

from __future__ import annotations

import numpy as np
import pytest

from factories_posture import posture_track
from siform.gate import (
    FRONT_MIN_WIDTH_RATIO,
    FRONT_MIN_WIDTH_RATIO_SIDE_LYING,
    POSTURE_HINT,
    RAISED_MIN_WIDTH_RATIO,
    assess_setup,
    classify_view,
    posture_refusal,
    width_ratio,
)
from siform.landmarks import VISIBILITY, Landmark
from siform.pipeline import analyze_track
from siform.pose import PoseTrack
from siform.specs.load import load_spec
from siform.specs.model import ExerciseSpec, ViewSpec

from conftest import ROOT
from factories import bridge_side_view, frame_landmarks, rep_profile, track_from

NAN = float("nan")
SIDE_HOW = (
    "Put the camera 2-3 m to your side, about 1.5 m high, tilted down at your hips (a shelf or tripod works)."
)


@pytest.fixture(scope="module")
def bridge() -> ExerciseSpec:
    return load_spec(ROOT / "exercise_specs" / "glute_bridge.toml")


def front_view(reps: int = 3) -> PoseTrack:
    """A person facing the camera, squatting a little: shoulders and hips ~0.6 torso lengths wide."""
    progress, _spans, _ids = rep_profile(reps)
    rows = []
    for p in progress:
        drop = 40.0 * p
        y_sh, y_hip = 120.0 + drop, 290.0 + drop
        j = {
            "left_shoulder": np.array([380.0, y_sh]),
            "right_shoulder": np.array([260.0, y_sh]),
            "left_hip": np.array([365.0, y_hip]),
            "right_hip": np.array([275.0, y_hip]),
            "left_knee": np.array([360.0, 380.0 + drop / 2]),
            "right_knee": np.array([280.0, 380.0 + drop / 2]),
            "left_ankle": np.array([360.0, 460.0]),
            "right_ankle": np.array([280.0, 460.0]),
        }
        rows.append(frame_landmarks(j))
    return track_from(rows)


def nobody(frames: int = 90) -> PoseTrack:
    return track_from([None] * frames)


def with_visibility(track: PoseTrack, landmarks: list[Landmark], visibility: float) -> PoseTrack:
    image = track.image.copy()
    found = track.found
    for lm in landmarks:
        image[found, lm, VISIBILITY] = visibility
    return PoseTrack(track.t_ms, image, track.world, track.width, track.height)


FEET = [
    Landmark.LEFT_ANKLE,
    Landmark.RIGHT_ANKLE,
    Landmark.LEFT_HEEL,
    Landmark.RIGHT_HEEL,
    Landmark.LEFT_FOOT_INDEX,
    Landmark.RIGHT_FOOT_INDEX,
]


# ---------------------------------------------------------------------------------------------
# classify_view: the two ratios -> facing and elevation
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ratio", "expected"),
    [
        (0.7, ("front", None)),  # shoulders and hips wide apart: facing the camera
        (FRONT_MIN_WIDTH_RATIO, ("front", None)),  # the front threshold itself
        (FRONT_MIN_WIDTH_RATIO - 0.01, ("side", "raised")),  # just under it: side on, seen from above
        (RAISED_MIN_WIDTH_RATIO, ("side", "raised")),  # the raised threshold itself
        (RAISED_MIN_WIDTH_RATIO - 0.01, ("side", "low")),  # under it: near and far sides overlap
        (0.0, ("side", "low")),  # exactly side on, camera level
        (NAN, (None, None)),  # nothing measurable
    ],
)
def test_classify_view(ratio: float, expected: tuple[str | None, str | None]) -> None:
    assert classify_view(ratio) == expected


def test_a_side_lying_person_faces_the_camera_at_a_lower_ratio() -> None:
    # 0.435: a rendered clamshell from a camera tilted 27 degrees, as MediaPipe reads it
    assert classify_view(0.435, FRONT_MIN_WIDTH_RATIO_SIDE_LYING) == ("front", None)
    assert classify_view(0.435) == ("side", "raised")  # standing or supine: side on, from above
    assert classify_view(0.38, FRONT_MIN_WIDTH_RATIO_SIDE_LYING) == ("side", "raised")


@pytest.mark.parametrize(
    ("make", "facing", "elevation"),
    [
        (lambda: bridge_side_view(raised=True)[0], "side", "raised"),  # camera on a shelf
        (lambda: bridge_side_view(raised=False)[0], "side", "low"),  # camera on the floor
        (front_view, "front", None),  # facing the camera
    ],
)
def test_width_ratio_on_synthetic_tracks(make, facing: str, elevation: str | None) -> None:
    track = make()
    assert classify_view(width_ratio(track.image_px()[track.found])) == (facing, elevation)


@pytest.mark.parametrize(
    "fn",
    [
        lambda p: p * 0.5,  # further from the camera
        lambda p: p + np.array([100.0, -50.0]),  # elsewhere in the picture
        lambda p: p * np.array([-1.0, 1.0]),  # mirrored
    ],
)
def test_width_ratio_ignores_scale_position_and_mirror(fn) -> None:
    pts = bridge_side_view(raised=True)[0].image_px().astype(np.float64)
    assert width_ratio(fn(pts)) == pytest.approx(width_ratio(pts))


def test_width_ratio_without_anyone_is_nan() -> None:
    assert np.isnan(width_ratio(nobody().image_px()))


# ---------------------------------------------------------------------------------------------
# assess_setup: verdicts and hints
# ---------------------------------------------------------------------------------------------

GATE = ["left_shoulder", "left_hip", "left_knee", "left_ankle"]  # near_* resolved for a left side view
REQUIRED = ["left_shoulder", "left_hip", "left_knee", "right_hip", "right_knee"]


def assess(spec: ExerciseSpec, track: PoseTrack):
    return assess_setup(spec, track.image, track.image_px(), REQUIRED, GATE)


@pytest.mark.parametrize(
    ("make", "ok", "view", "measured", "hints"),
    [
        # Raised side camera: the recommended view, nothing to say.
        (lambda: bridge_side_view(raised=True)[0], True, "raised_side", "side/raised", ()),
        # Low side camera: accepted as the 'side' view (its checks are handled per check).
        (lambda: bridge_side_view(raised=False)[0], True, "side", "side/low", ()),
        # Facing the camera, for an exercise judged from the side: turn.
        (front_view, False, None, "front", (f"Turn so the camera sees you from the side. {SIDE_HOW}",)),
        # Nobody at all.
        (nobody, False, None, None, ("Nobody is in view: step into the picture so your whole body shows.",)),
        # Feet out of the picture (low visibility): step back.
        (
            lambda: with_visibility(bridge_side_view()[0], FEET, 0.1),
            False,
            "raised_side",
            "side/raised",
            ("Move the camera back (or step away from it) so your feet are in view.",),
        ),
        # The near shoulder hidden: say which part.
        (
            lambda: with_visibility(bridge_side_view()[0], [Landmark.LEFT_SHOULDER], 0.1),
            False,
            "raised_side",
            "side/raised",
            ("The camera cannot see your left shoulder: make sure your whole body is in view.",),
        ),
    ],
)
def test_assess_setup(bridge: ExerciseSpec, make, ok: bool, view, measured, hints) -> None:
    verdict = assess(bridge, make())
    assert (verdict.ok, verdict.view, verdict.facing_measured, verdict.hints) == (ok, view, measured, hints)


def test_front_view_is_chosen_when_the_spec_has_one(bridge: ExerciseSpec) -> None:
    front = ViewSpec(id="front", facing="front", how="Face the camera from 3 m away.")
    spec = bridge.model_copy(update={"views": [*bridge.views, front]})
    verdict = assess(spec, front_view())
    assert (verdict.ok, verdict.view, verdict.facing_measured, verdict.hints) == (True, "front", "front", ())


def test_visibility_is_reported_per_landmark(bridge: ExerciseSpec) -> None:
    verdict = assess(bridge, with_visibility(bridge_side_view()[0], [Landmark.LEFT_KNEE], 0.4))
    assert verdict.visibility["left_knee"] == pytest.approx(0.4)
    assert verdict.visibility["left_hip"] == pytest.approx(0.99)
    assert verdict.visibility["right_hip"] == pytest.approx(0.6)  # far side: seen, less sure


# ---------------------------------------------------------------------------------------------
# through analyze_track: a failed gate scores nothing
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "hint_start"),
    [
        (front_view, "Turn so the camera sees you from the side."),  # wrong view
        (nobody, "Nobody is in view"),  # empty room
    ],
)
def test_wrong_setup_scores_no_reps(bridge: ExerciseSpec, make, hint_start: str) -> None:
    result = analyze_track(make(), bridge)
    assert not result.setup.ok
    assert result.setup.hints[0].startswith(hint_start)
    assert result.view is None
    assert result.reps == [] and result.holds == [] and result.summary is None
    assert {u.check_id: u.reason for u in result.unscored} == {
        c.id: "the camera setup did not allow scoring" for c in bridge.checks
    }


def test_hidden_feet_hint_through_analyze_track(bridge: ExerciseSpec) -> None:
    result = analyze_track(with_visibility(bridge_side_view()[0], FEET, 0.1), bridge)
    assert result.setup.hints == ("Move the camera back (or step away from it) so your feet are in view.",)


def test_low_camera_for_a_raised_only_spec_does_not_score_raised_only_checks(bridge: ExerciseSpec) -> None:
    raised_only = bridge.model_copy(update={"views": [v for v in bridge.views if v.elevation == "raised"]})
    result = analyze_track(bridge_side_view(raised=False)[0], raised_only)
    assert result.setup.facing_measured == "side/low"
    raised_checks = [c.id for c in bridge.checks if c.views == ["raised_side"]]
    assert raised_checks
    for r in result.reps:
        for c in r.checks:
            if c.id in raised_checks:
                assert not c.scored
                assert c.reason and "not visible from this camera height" in c.reason
    assert any("Raise the camera" in h for h in result.setup.hints)


# ---------------------------------------------------------------------------------------------
# Posture: a hard stop when the person's posture rules the exercise out
# ---------------------------------------------------------------------------------------------


_NEAR_LEFT = ["left_shoulder", "left_hip", "left_knee", "left_ankle"]
"""A spec's gate landmarks with the near side resolved to the left."""


def test_standing_person_fails_a_lying_exercise_with_one_line() -> None:
    track = posture_track("standing_front", 15.0)
    spec = load_spec(ROOT / "exercise_specs" / "glute_bridge.toml")
    px = track.image_px()
    verdict = assess_setup(spec, track.image, px, [], _NEAR_LEFT, world=track.world)
    assert not verdict.ok and verdict.view is None
    line = posture_refusal(verdict)
    assert line is not None and line == verdict.hints[0] and len(verdict.hints) == 1
    assert line.startswith(
        "This looks like someone standing, but the glute bridge is done lying on your back."
    )
    assert line.endswith(POSTURE_HINT)
    # without world landmarks there is no posture evidence, so no such stop
    assert posture_refusal(assess_setup(spec, track.image, px, [], _NEAR_LEFT)) is None


def test_matching_posture_passes_the_posture_gate() -> None:
    standing = posture_track("standing_front", 15.0)
    squat = load_spec(ROOT / "exercise_specs" / "ball_squat.toml")
    verdict = assess_setup(squat, standing.image, standing.image_px(), [], _NEAR_LEFT, world=standing.world)
    assert posture_refusal(verdict) is None and verdict.view == "front"
    lying = posture_track("supine_side", 25.0)
    bridge = load_spec(ROOT / "exercise_specs" / "glute_bridge.toml")
    assert (
        posture_refusal(
            assess_setup(bridge, lying.image, lying.image_px(), [], _NEAR_LEFT, world=lying.world)
        )
        is None
    )
    verdict = assess_setup(squat, lying.image, lying.image_px(), [], _NEAR_LEFT, world=lying.world)
    assert (posture_refusal(verdict) or "").startswith(
        "This looks like someone lying on their back, but the ball"
    )


def test_posture_refusal_scores_no_check_even_with_a_forced_view() -> None:
    track = posture_track("standing_front", 15.0)
    spec = load_spec(ROOT / "exercise_specs" / "glute_bridge.toml")
    for view in (None, "raised_side"):
        result = analyze_track(track, spec, view=view)
        assert result.view is None and posture_refusal(result.setup) is not None
        assert result.reps == [] and result.holds == []
        assert {u.check_id for u in result.unscored} == {c.id for c in spec.checks}
