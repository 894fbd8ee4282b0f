"""Red flags in exercise specs: every exercise asks the emergencies, its own flags load, mistakes in
a [[red_flags]] entry name the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from siform.errors import SpecError
from siform.specs.load import load_all, load_spec
from siform.specs.model import GENERAL_RED_FLAGS

from conftest import ROOT

SPECS_DIR = ROOT / "exercise_specs"
BRIDGE = (SPECS_DIR / "glute_bridge.toml").read_text(encoding="utf-8")
EMERGENCIES = {"bladder_bowel", "saddle_numbness"}


def with_flags(tmp_path: Path, flags: str) -> Path:
    path = tmp_path / "glute_bridge.toml"
    path.write_text(BRIDGE.rstrip("\n") + "\n\n" + flags, encoding="utf-8")
    return path


def test_every_exercise_asks_the_emergencies_and_the_leg_signs() -> None:
    specs = load_all(SPECS_DIR)
    assert len(specs) >= 16
    general = {f.id for f in GENERAL_RED_FLAGS}
    assert {"leg_numbness", "leg_weakness", "pain_worsening"} | EMERGENCIES <= general
    for spec in specs.values():
        flags = spec.checkin_red_flags()
        ids = [f.id for f in flags]
        assert len(ids) == len(set(ids)), spec.id
        assert general <= set(ids), spec.id
        assert {f.id for f in flags if f.urgent} >= EMERGENCIES, spec.id
        # the exercise's own come first, so the questions about this exercise are asked first
        assert ids[: len(spec.red_flags)] == [f.id for f in spec.red_flags]
        for f in flags:
            assert f.ask.endswith("?") and len(f.ask) < 200, (spec.id, f.id)


def test_stretches_that_pull_on_the_sciatic_nerve_ask_about_it() -> None:
    """Where the exercise itself can provoke a nerve symptom, its spec says so in its own question."""
    specs = load_all(SPECS_DIR)
    for name in ("piriformis_stretch", "lying_glute_stretch", "hamstring_stretch"):
        own = {f.id: f for f in specs[name].red_flags}
        assert "stretch_shoots_down_leg" in own, name
        assert "leg" in own["stretch_shoots_down_leg"].ask
    for name in ("pelvic_list", "band_adduction", "standing_thigh_stretch"):  # standing on one leg
        assert "leg_gives_way" in {f.id for f in specs[name].red_flags}, name
    assert load_all(SPECS_DIR)["glute_bridge"].red_flags == []  # the general ones are enough there


def test_a_spec_may_reword_a_general_flag(tmp_path: Path) -> None:
    spec = load_spec(
        with_flags(
            tmp_path, '[[red_flags]]\nid = "leg_numbness"\nask = "Does your leg tingle when you lift?"\n'
        )
    )
    flags = spec.checkin_red_flags()
    assert [f.ask for f in flags if f.id == "leg_numbness"] == ["Does your leg tingle when you lift?"]
    assert len(flags) == len(GENERAL_RED_FLAGS)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            '[[red_flags]]\nid = "x"\nquestion = "Sore?"\n',
            "glute_bridge.toml: red_flags[0].question: unknown key",
        ),
        ('[[red_flags]]\nid = "x"\n', "glute_bridge.toml: red_flags[0].ask: required key is missing"),
        (
            '[[red_flags]]\nid = "x"\nask = "Sore?"\nurgent = "yes"\n',
            "glute_bridge.toml: red_flags[0].urgent",
        ),
        ('[[red_flags]]\nid = "Bad Id"\nask = "Sore?"\n', "glute_bridge.toml: red_flags[0].id"),
        (
            '[[red_flags]]\nid = "x"\nask = "Sore?"\n\n[[red_flags]]\nid = "x"\nask = "Worse?"\n',
            "red_flags[1].id: 'x' is used twice",
        ),
    ],
    ids=["misspelt_key", "no_question", "urgent_not_bool", "bad_id", "duplicate_id"],
)
def test_broken_red_flag_names_file_and_key(tmp_path: Path, flags: str, message: str) -> None:
    with pytest.raises(SpecError) as err:
        load_spec(with_flags(tmp_path, flags))
    assert message in str(err.value)
