"""Spec loading: every shipped spec loads; every broken one fails naming the file and the key."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from siform.errors import SpecError
from siform.specs.load import find_spec, load_all, load_spec

from conftest import ROOT

SPECS_DIR = ROOT / "exercise_specs"
ALL_SPECS = sorted(SPECS_DIR.glob("*.toml"))
BRIDGE = (SPECS_DIR / "glute_bridge.toml").read_text(encoding="utf-8")


@pytest.mark.parametrize("path", ALL_SPECS, ids=[p.name for p in ALL_SPECS])
def test_every_shipped_spec_loads(path: Path) -> None:
    spec = load_spec(path)
    if not path.name.startswith("_"):
        assert spec.id == path.stem
    assert spec.views and spec.checks is not None
    assert (spec.rep is not None) == (spec.kind == "reps")
    assert (spec.hold is not None) == (spec.kind == "hold")


def test_load_all_skips_examples_and_keys_by_id() -> None:
    specs = load_all(SPECS_DIR)
    assert set(specs) == {p.stem for p in ALL_SPECS if not p.name.startswith("_")}
    assert "glute_bridge" in specs


def edit(header: str | None, key: str, value: str | None, nth: int = 0) -> str:
    """glute_bridge.toml with ``key`` in a table set to ``value`` (None deletes it).

    ``header`` is the table's header line (``"[rep]"``, ``"[[checks]]"`` with ``nth`` picking the
    array entry) or None for the top level. Edits go by key, not by the current values, so the
    spec's numbers can be retuned without touching these tests.
    """
    lines = BRIDGE.splitlines()
    if header is None:
        start = -1
    else:
        starts = [i for i, line in enumerate(lines) if line.strip() == header]
        assert len(starts) > nth, f"glute_bridge.toml has no {header} #{nth}: update this test"
        start = starts[nth]
    stop = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("[")), len(lines))
    at = next((i for i in range(start + 1, stop) if re.match(rf"{re.escape(key)}\s*=", lines[i])), None)
    new = [] if value is None else [f"{key} = {value}"]
    if at is None:
        assert value is not None, f"glute_bridge.toml has no {key} under {header}"
        lines[start + 1 : start + 1] = new
    else:
        lines[at : at + 1] = new
    return "\n".join(lines) + "\n"


def without_table(header: str) -> str:
    lines = BRIDGE.splitlines()
    start = lines.index(header)
    stop = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("["))
    return "\n".join(lines[:start] + lines[stop:]) + "\n"


DATA = tomllib.loads(BRIDGE)
SIGNALS = ", ".join(sorted(DATA["signals"]))
TOP = DATA["rep"]["top"]
BAD_TOML_LINE = len(BRIDGE.splitlines()) + 1

CASES = [
    # A misspelt key is an error, not a silent default.
    pytest.param(
        edit("[[checks]]", "limt", "{ min = 1.0 }"),
        "glute_bridge.toml",
        ["glute_bridge.toml: checks[0].limt: unknown key"],
        id="misspelt_key",
    ),
    # ...and the key it should have been is then missing, which is said too.
    pytest.param(
        edit("[[checks]]", "limit", None),
        "glute_bridge.toml",
        ["glute_bridge.toml: checks[0].limit: required key is missing"],
        id="missing_nested_key",
    ),
    # A required top-level key left out.
    pytest.param(
        edit(None, "name", None),
        "glute_bridge.toml",
        ["glute_bridge.toml: name: required key is missing"],
        id="missing_key",
    ),
    # A number written as text.
    pytest.param(
        edit("[prescription]", "sets", '"two"'),
        "glute_bridge.toml",
        [
            "glute_bridge.toml: prescription.sets: Input should be a valid integer, unable to parse "
            "string as an integer"
        ],
        id="wrong_type",
    ),
    # A table where a number belongs.
    pytest.param(
        edit("[rep]", "top", "{ value = 1 }"),
        "glute_bridge.toml",
        ["glute_bridge.toml: rep.top: Input should be a valid number"],
        id="wrong_type_nested",
    ),
    # Out of range.
    pytest.param(
        edit("[prescription]", "sets", "0"),
        "glute_bridge.toml",
        ["glute_bridge.toml: prescription.sets: Input should be greater than or equal to 1"],
        id="out_of_range",
    ),
    # A closed choice outside its list.
    pytest.param(
        edit(None, "kind", '"rep"'),
        "glute_bridge.toml",
        ["glute_bridge.toml: kind: Input should be 'reps' or 'hold'"],
        id="bad_choice",
    ),
    # A check naming a signal the spec does not define.
    pytest.param(
        edit("[[checks]]", "signal", '"pelvic_dorp"', nth=1),
        "glute_bridge.toml",
        [f"glute_bridge.toml: checks[1].signal: unknown signal 'pelvic_dorp' (defined: {SIGNALS})"],
        id="unknown_signal_in_check",
    ),
    # The driving signal likewise.
    pytest.param(
        edit("[rep]", "signal", '"hip_ext"'),
        "glute_bridge.toml",
        [f"glute_bridge.toml: rep.signal: unknown signal 'hip_ext' (defined: {SIGNALS})"],
        id="unknown_signal_in_rep",
    ),
    # A check naming a view the spec does not define.
    pytest.param(
        edit("[[checks]]", "views", '["top_down"]', nth=1),
        "glute_bridge.toml",
        ["glute_bridge.toml: checks[1].views: unknown view 'top_down'"],
        id="unknown_view",
    ),
    # A signal function siform does not have.
    pytest.param(
        edit("[signals.pelvic_drop]", "fn", '"hip_drop_rato"'),
        "glute_bridge.toml",
        ["glute_bridge.toml: signals.pelvic_drop: fn: unknown signal function 'hip_drop_rato' (known: "],
        id="unknown_function",
    ),
    # An argument the function does not take.
    pytest.param(
        edit("[signals.hip_extension]", "args", '{ side = "near", joint = "hip", deg = 1 }'),
        "glute_bridge.toml",
        [
            "glute_bridge.toml: signals.hip_extension: args.deg: 'joint_angle_deg' takes no argument 'deg' "
            "(allowed: joint, side)"
        ],
        id="unknown_argument",
    ),
    # Not a side.
    pytest.param(
        edit("[signals.hip_extension]", "args", '{ side = "nearest", joint = "hip" }'),
        "glute_bridge.toml",
        ["glute_bridge.toml: signals.hip_extension: args.side: 'nearest' is not a side (use one of "],
        id="bad_side",
    ),
    # A unilateral side in a bilateral exercise.
    pytest.param(
        edit("[signals.hip_extension]", "args", '{ side = "working", joint = "hip" }'),
        "glute_bridge.toml",
        [
            "glute_bridge.toml: signals.hip_extension: args.side: 'working' only makes sense for a "
            "unilateral exercise"
        ],
        id="working_side_in_bilateral",
    ),
    # A joint the angle function does not know.
    pytest.param(
        edit("[signals.hip_extension]", "args", '{ side = "near", joint = "pelvis" }'),
        "glute_bridge.toml",
        ["glute_bridge.toml: signals.hip_extension: args.joint: must be one of "],
        id="bad_joint",
    ),
    # rest above top for direction "up".
    pytest.param(
        edit("[rep]", "rest", str(TOP + 10)),
        "glute_bridge.toml",
        ["glute_bridge.toml: rep: for direction 'up', rest must be below top"],
        id="rest_above_top",
    ),
    # The same thresholds read as a "down" rep are the wrong way round.
    pytest.param(
        edit("[rep]", "direction", '"down"'),
        "glute_bridge.toml",
        ["glute_bridge.toml: rep: for direction 'down', rest must be above top"],
        id="down_wrong_order",
    ),
    # partial outside (rest, top).
    pytest.param(
        edit("[rep]", "partial", str(TOP + 1)),
        "glute_bridge.toml",
        ["glute_bridge.toml: rep: partial must lie between rest and top"],
        id="partial_outside",
    ),
    # Two checks with one id.
    pytest.param(
        edit("[[checks]]", "id", f'"{DATA["checks"][0]["id"]}"', nth=1),
        "glute_bridge.toml",
        [f"glute_bridge.toml: checks[1].id: '{DATA['checks'][0]['id']}' is used twice"],
        id="duplicate_check_id",
    ),
    # A limit with no ends.
    pytest.param(
        edit("[[checks]]", "limit", "{}"),
        "glute_bridge.toml",
        ["glute_bridge.toml: checks[0].limit: give min, max or both"],
        id="empty_limit",
    ),
    # The id must match the file name (find_spec looks files up by id).
    pytest.param(
        BRIDGE,
        "bridge.toml",
        ["bridge.toml: id: 'glute_bridge' must match the file name 'bridge'"],
        id="id_not_file_name",
    ),
    # A hold exercise needs its [hold] table.
    pytest.param(
        edit(None, "kind", '"hold"'),
        "glute_bridge.toml",
        ["glute_bridge.toml: hold: kind 'hold' needs a [hold] table"],
        id="hold_without_hold_table",
    ),
    # A rep exercise needs its [rep] table.
    pytest.param(
        without_table("[rep]"),
        "glute_bridge.toml",
        ["glute_bridge.toml: rep: kind 'reps' needs a [rep] table"],
        id="reps_without_rep_table",
    ),
    # A rep exercise needs a prescribed number of reps.
    pytest.param(
        edit("[prescription]", "reps", None),
        "glute_bridge.toml",
        ["glute_bridge.toml: prescription.reps: required for a rep exercise"],
        id="no_prescribed_reps",
    ),
    # A misspelt gate landmark is caught on load, not when the first video is analysed.
    pytest.param(
        edit("[gate]", "landmarks", '["near_shoulder", "near_hip", "near_kne"]'),
        "glute_bridge.toml",
        ["glute_bridge.toml: gate.landmarks[2]: unknown landmark 'near_kne'"],
        id="bad_gate_landmark",
    ),
    # A unilateral side in a bilateral exercise's gate.
    pytest.param(
        edit("[gate]", "landmarks", '["working_knee"]'),
        "glute_bridge.toml",
        ["glute_bridge.toml: gate.landmarks[0]: 'working_knee' only makes sense for a unilateral exercise"],
        id="working_gate_landmark_in_bilateral",
    ),
    # Broken TOML: the parser's message with the line.
    pytest.param(
        BRIDGE + "oops = = 1\n",
        "glute_bridge.toml",
        [f"glute_bridge.toml: not valid TOML: Invalid value (at line {BAD_TOML_LINE}, column 8)."],
        id="invalid_toml",
    ),
]


@pytest.mark.parametrize(("text", "filename", "expected"), CASES)
def test_broken_spec(tmp_path: Path, text: str, filename: str, expected: list[str]) -> None:
    path = tmp_path / filename
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SpecError) as exc:
        load_spec(path)
    lines = str(exc.value).splitlines()
    for want in expected:
        # Each expected line appears whole (or as the start of a line for long lists).
        assert any(line == want or (want.endswith((" ", "(")) and line.startswith(want)) for line in lines), (
            f"{want!r} not in {lines!r}"
        )
    for line in lines:
        assert line.startswith(f"{filename}: "), line  # every line names the file first


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"does not exist"):
        load_spec(tmp_path / "nope.toml")


def test_find_spec_lists_known_exercises(tmp_path: Path) -> None:
    (tmp_path / "glute_bridge.toml").write_text(BRIDGE, encoding="utf-8")
    (tmp_path / "_example.toml").write_text(BRIDGE, encoding="utf-8")
    assert find_spec("glute_bridge", tmp_path).id == "glute_bridge"
    with pytest.raises(SpecError) as exc:
        find_spec("plank", tmp_path)
    assert str(exc.value) == "No exercise called 'plank'. Known exercises: glute_bridge."
