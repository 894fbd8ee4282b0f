"""TOML exercise specs -> :class:`ExerciseSpec`, with errors that name the file and the key.

A therapist who mistypes ``limt`` in ``glute_bridge.toml`` should read
``glute_bridge.toml: checks[1].limt: unknown key`` and nothing else.
"""

from __future__ import annotations

import math
import os
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from siform.errors import SpecError
from siform.specs.model import ExerciseSpec

_SOURCE_ROOT = Path(__file__).resolve().parents[3]

_MESSAGES = {
    "extra_forbidden": "unknown key",
    "missing": "required key is missing",
}


def specs_dir() -> Path:
    """``$SIFORM_SPECS_DIR``, a source checkout's ``exercise_specs/``, or the copy in the wheel."""
    env = os.environ.get("SIFORM_SPECS_DIR")
    if env:
        return Path(env).expanduser()
    checkout = _SOURCE_ROOT / "exercise_specs"
    if checkout.is_dir() and (_SOURCE_ROOT / "pyproject.toml").is_file():
        return checkout
    return Path(str(resources.files("siform").joinpath("_data/exercise_specs")))


def _key_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("function-after", "function-before") or "[" in str(part):
            continue  # pydantic's names for validator wrappers and union members
        else:
            out += f".{part}" if out else str(part)
    return out


def _message(err: Any) -> str:
    """Pydantic's message, or a plainer one where a therapist's likely slip is known."""
    kind, value = err["type"], err.get("input")
    if kind in ("float_type", "int_type") and isinstance(value, str):
        return f"must be a number, not the text {value!r} (numbers are written without quotes)"
    if kind in ("float_type", "int_type") and isinstance(value, bool):
        return f"must be a number, not {str(value).lower()}"
    if kind == "int_type" and isinstance(value, float):
        return f"must be a whole number, not {value!r}"
    return _MESSAGES.get(kind, err["msg"]).removeprefix("Value error, ")


def format_validation_error(filename: str, exc: ValidationError) -> str:
    lines = []
    for err in exc.errors(include_url=False):
        msg = _message(err)
        key = _key_path(tuple(err["loc"]))
        lines.append(f"{filename}: {key}: {msg}" if key else f"{filename}: {msg}")
    return "\n".join(lines)


def _gate_problem(names: list[str], laterality: str) -> str | None:
    """Gate landmarks are read only when a video is analysed: check their names on load instead."""
    from siform.landmarks import NAMES
    from siform.signals.registry import RELATIVE_SIDES

    for i, name in enumerate(names):
        prefix, _, rest = name.partition("_")
        if prefix in ("working", "stance") and laterality != "unilateral":
            return f"gate.landmarks[{i}]: '{name}' only makes sense for a unilateral exercise"
        if (f"left_{rest}" if prefix in RELATIVE_SIDES else name) not in NAMES:
            return f"gate.landmarks[{i}]: unknown landmark '{name}'"
    return None


def _non_finite(value: Any, key: str = "") -> str | None:
    """The key path of the first NaN or infinite number anywhere in a parsed document, or None.

    TOML has ``nan`` and ``inf``; as a limit they would make a check pass or fail every rep without
    a word, so they are refused everywhere, also inside a signal's free-form ``args``.
    """
    if isinstance(value, float) and not math.isfinite(value):
        return key
    items: Any = ()
    if isinstance(value, dict):
        items = ((f"{key}.{k}" if key else str(k), v) for k, v in value.items())
    elif isinstance(value, list):
        items = ((f"{key}[{i}]", v) for i, v in enumerate(value))
    for sub_key, sub in items:
        found = _non_finite(sub, sub_key)
        if found is not None:
            return found
    return None


def parse_spec(data: dict[str, Any], filename: str) -> ExerciseSpec:
    """Validate a parsed TOML document; also checks signal functions and their arguments."""
    from siform.signals.registry import validate_signal_args

    bad = _non_finite(data)
    if bad is not None:
        raise SpecError(f"{filename}: {bad}: must be a finite number (nan and inf are not allowed)")
    try:
        spec = ExerciseSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(format_validation_error(filename, exc)) from None
    for name, signal in spec.signals.items():
        problem = validate_signal_args(signal.fn, signal.args, spec.laterality)
        if problem:
            raise SpecError(f"{filename}: signals.{name}: {problem}")
    problem = _gate_problem(spec.gate.landmarks, spec.laterality)
    if problem:
        raise SpecError(f"{filename}: {problem}")
    expected_stem = Path(filename).stem
    if expected_stem != spec.id and not expected_stem.startswith("_"):
        raise SpecError(f"{filename}: id: '{spec.id}' must match the file name '{expected_stem}'")
    return spec


def load_spec(path: str | Path) -> ExerciseSpec:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"Exercise spec {path} does not exist.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path.name}: cannot be read ({exc}).") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path.name}: not valid TOML: {exc}.") from None
    return parse_spec(data, path.name)


def _specs_folder(directory: Path | None) -> Path:
    """``directory`` (or the default) after checking it is a folder: a mistyped ``--specs`` or
    ``SIFORM_SPECS_DIR`` must say so, not look like a folder without exercises."""
    directory = directory or specs_dir()
    hint = "Give the folder that holds the exercise specs (*.toml), e.g. siform's exercise_specs/."
    if not directory.exists():
        raise SpecError(f"Exercise specs folder {directory}: no such folder.", hint)
    if not directory.is_dir():
        raise SpecError(f"Exercise specs folder {directory}: not a folder.", hint)
    return directory


def load_all(directory: Path | None = None) -> dict[str, ExerciseSpec]:
    """Every spec in the folder, by id; files starting with ``_`` are examples, not exercises."""
    directory = _specs_folder(directory)
    specs: dict[str, ExerciseSpec] = {}
    for path in sorted(directory.glob("*.toml")):
        if path.name.startswith("_"):
            continue
        spec = load_spec(path)
        specs[spec.id] = spec
    if not specs:
        raise SpecError(
            f"Exercise specs folder {directory} holds no exercise specs (*.toml).",
            "Give the folder that holds them, e.g. siform's exercise_specs/.",
        )
    return specs


def find_spec(exercise_id: str, directory: Path | None = None) -> ExerciseSpec:
    directory = _specs_folder(directory)
    path = directory / f"{exercise_id}.toml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in directory.glob("*.toml") if not p.name.startswith("_")))
        raise SpecError(f"No exercise called '{exercise_id}'.", f"Known exercises: {known}.")
    return load_spec(path)
