"""Spec loading: every shipped spec loads; every broken one fails naming the file and the key."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from siform.errors import SpecError
from siform.specs.load import find_spec, load_all, load_spec
from siform.specs.model import MAX_CUTOFF_HZ

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
            "glute_bridge.toml: prescription.sets: must be a number, not the text 'two' (numbers are "
            "written without quotes)"
        ],
        id="wrong_type",
    ),
    # A number in quotes is refused, not quietly read as a number (strict mode).
    pytest.param(
        edit("[[checks]]", "limit", '{ max = "8" }'),
        "glute_bridge.toml",
        [
            "glute_bridge.toml: checks[0].limit.max: must be a number, not the text '8' (numbers are "
            "written without quotes)"
        ],
        id="quoted_number_limit",
    ),
    pytest.param(
        edit("[rep]", "top", f'"{TOP}"'),
        "glute_bridge.toml",
        [
            f"glute_bridge.toml: rep.top: must be a number, not the text '{TOP}' (numbers are written "
            "without quotes)"
        ],
        id="quoted_number_threshold",
    ),
    pytest.param(
        edit("[prescription]", "sets", "2.5"),
        "glute_bridge.toml",
        ["glute_bridge.toml: prescription.sets: must be a whole number, not 2.5"],
        id="fractional_count",
    ),
    pytest.param(
        edit("[filter]", "cutoff_hz", "true"),
        "glute_bridge.toml",
        ["glute_bridge.toml: filter.cutoff_hz: must be a number, not true"],
        id="boolean_number",
    ),
    # NaN and infinity, anywhere: a nan limit would pass or fail every rep without a word.
    pytest.param(
        edit("[[checks]]", "limit", "{ max = nan }"),
        "glute_bridge.toml",
        ["glute_bridge.toml: checks[0].limit.max: must be a finite number (nan and inf are not allowed)"],
        id="nan_limit",
    ),
    pytest.param(
        edit("[[checks]]", "limit", "{ min = -inf }", nth=1),
        "glute_bridge.toml",
        ["glute_bridge.toml: checks[1].limit.min: must be a finite number (nan and inf are not allowed)"],
        id="infinite_limit",
    ),
    pytest.param(
        edit("[rep]", "rest", "+inf"),
        "glute_bridge.toml",
        ["glute_bridge.toml: rep.rest: must be a finite number (nan and inf are not allowed)"],
        id="infinite_threshold",
    ),
    pytest.param(
        edit("[signals.hip_extension]", "args", '{ side = "near", joint = "hip", scale = nan }'),
        "glute_bridge.toml",
        [
            "glute_bridge.toml: signals.hip_extension.args.scale: must be a finite number (nan and inf are "
            "not allowed)"
        ],
        id="nan_in_signal_args",
    ),
    pytest.param(
        BRIDGE + "\n[weights]\nmajor = nan\nminor = 1.0\n",
        "glute_bridge.toml",
        ["glute_bridge.toml: weights.major: must be a finite number (nan and inf are not allowed)"],
        id="nan_weight",
    ),
    # Weights: a negative or zero weight would turn a passed check into a penalty or a 0/0 score.
    pytest.param(
        edit("[[checks]]", "weight", "-1.0"),
        "glute_bridge.toml",
        ["glute_bridge.toml: checks[0].weight: Input should be greater than 0"],
        id="negative_check_weight",
    ),
    pytest.param(
        BRIDGE + "\n[weights]\nmajor = 2.0\nminor = -1.0\n",
        "glute_bridge.toml",
        ["glute_bridge.toml: weights.minor: Input should be greater than 0"],
        id="negative_severity_weight",
    ),
    # The review's low-pass cutoff: above zero and at most MAX_CUTOFF_HZ.
    pytest.param(
        edit("[filter]", "cutoff_hz", "0.0"),
        "glute_bridge.toml",
        ["glute_bridge.toml: filter.cutoff_hz: Input should be greater than 0"],
        id="zero_cutoff",
    ),
    pytest.param(
        edit("[filter]", "cutoff_hz", "-2.0"),
        "glute_bridge.toml",
        ["glute_bridge.toml: filter.cutoff_hz: Input should be greater than 0"],
        id="negative_cutoff",
    ),
    pytest.param(
        edit("[filter]", "cutoff_hz", f"{MAX_CUTOFF_HZ + 0.5}"),
        "glute_bridge.toml",
        [f"glute_bridge.toml: filter.cutoff_hz: Input should be less than or equal to {MAX_CUTOFF_HZ:g}"],
        id="cutoff_too_high",
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


def test_highest_cutoff_loads(tmp_path: Path) -> None:
    path = tmp_path / "glute_bridge.toml"
    path.write_text(edit("[filter]", "cutoff_hz", f"{MAX_CUTOFF_HZ}"), encoding="utf-8")
    assert load_spec(path).filter.cutoff_hz == MAX_CUTOFF_HZ


def test_whole_numbers_are_accepted_where_decimals_are(tmp_path: Path) -> None:
    """Strict mode refuses text, not a therapist's ``top = 160`` for ``160.0``."""
    path = tmp_path / "glute_bridge.toml"
    path.write_text(edit("[rep]", "top", str(int(TOP))), encoding="utf-8")
    assert load_spec(path).rep.top == int(TOP)  # type: ignore[union-attr]


@pytest.mark.parametrize("loader", [load_all, lambda d: find_spec("glute_bridge", d)], ids=["all", "one"])
def test_missing_specs_folder_says_so(tmp_path: Path, loader: Any) -> None:
    with pytest.raises(SpecError) as exc:
        loader(tmp_path / "my_specs")
    assert str(exc.value).startswith(f"Exercise specs folder {tmp_path / 'my_specs'}: no such folder.")
    not_a_folder = tmp_path / "specs.txt"
    not_a_folder.write_text("glute_bridge\n", encoding="utf-8")
    with pytest.raises(SpecError, match="not a folder"):
        loader(not_a_folder)


def test_folder_without_specs_says_so(tmp_path: Path) -> None:
    (tmp_path / "_example.toml").write_text(BRIDGE, encoding="utf-8")
    with pytest.raises(SpecError, match="holds no exercise specs"):
        load_all(tmp_path)
