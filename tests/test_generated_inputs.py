"""Generated hostile inputs (issue 18): every option of ``optimise`` and every field of a
schedule or parameter file, given values a hostile user would try (NaN, inf, huge, tiny,
negative, off the grid, malformed units, random text, control characters, FIFOs, directories,
loops of links), is either accepted or refused with one of the library's user errors whose
message is one line; no other exception, and nothing written, ever.

The option cases run in this process up to the end of the run's checks (``spec.prepare``): a
bad input must fail there, before any solve. A sample of them also runs through the real
command in a subprocess, which must exit 2 with one line on stderr and no file left. CI runs
the ``ci`` profile; more cases: ``HYPOTHESIS_MAX_EXAMPLES=2000 python -m pytest -n 0
tests/test_generated_inputs.py``.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from models.parameters import ParameterSet
from models.registry import get_preset
from models.schedule import Schedule
from optimiser.cli import USER_ERRORS
from optimiser.spec import RunSpec, prepare

from .conftest import REPO, run_cli

SPECIAL_FLOATS = [0.0, -1.0, 1e-12, 1e-10, 0.3, 2.5, 1e6, 1e300, math.nan, math.inf, -math.inf]
SPECIAL_INTS = [0, -1, 1, 2, 3, 2**31, 2**63, 10**6, -(2**40)]
SPECIAL_TEXT = ["", " ", "(", "1/(day", "auc:300 (uM*h", "auc:", "10d", "-5d", "1e-12d", "nan",
                "inf", "1e309", "0", "180 (", "10 mmol/L/0", "abc", "x" * 600, "a\x00b", "=",
                "drug=", "=10d", "igf1r_inhibitor=10d", "a,b,,", "6.25,6.25", "1,2,3,4,5,6,7,8,"
                "9,10,11,12,13,14,15,16,17", "sqlite://", "sqlite:///:memory:",
                "postgresql://u:p@h:abc/db", "exposure:nothing", "integral:", "cure"]
floats = st.one_of(st.sampled_from(SPECIAL_FLOATS), st.floats(allow_nan=True))
ints = st.one_of(st.sampled_from(SPECIAL_INTS), st.integers(-(2**70), 2**70))
texts = st.one_of(st.sampled_from(SPECIAL_TEXT), st.text(max_size=30))
PATHS = ["missing.toml", "a_directory", "fifo", "loop1", "empty.toml", "garbage.bin",
         "newdir/", "fig.pdf", "fig.png", "a\x00b", "a_directory/deeper/out", "a_file/inside"]
paths = st.sampled_from(PATHS)

# Every option of the main command, by RunSpec.from_options's name, and what it is given.
OPTIONS = {
    "treatment_days": floats, "horizon": floats, "grid": floats, "target_cure": floats,
    "max_pulses": ints, "trials": ints, "workers": ints, "heartbeat": ints, "grace": ints,
    "robust": ints, "seed": ints,
    "budget": st.lists(texts, min_size=1, max_size=2), "free": texts, "objective": texts,
    "max_run": texts, "min_holiday": texts, "dose_levels": texts, "max_glucose": texts,
    "study": texts, "storage": texts, "search_mode": texts, "robust_mode": texts,
    "export": texts, "max_final": st.lists(texts, max_size=2),
    "min_final": st.lists(texts, max_size=2),
    "parameters": paths, "ensemble": paths, "out": paths, "plot": paths,
}
# Given as files, these become paths in the test's directory.
PATH_OPTIONS = ("parameters", "ensemble", "out", "plot")


def _hostile_directory(root: Path) -> None:
    (root / "a_directory").mkdir()
    os.mkfifo(root / "fifo")
    (root / "loop1").symlink_to(root / "loop2")
    (root / "loop2").symlink_to(root / "loop1")
    (root / "empty.toml").write_text("")
    (root / "garbage.bin").write_bytes(bytes(range(256)))
    (root / "a_file").write_text("not a directory")


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def _one_line(message: str) -> None:
    assert message.strip() and len(message.strip().splitlines()) == 1, message
    assert "Traceback" not in message


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("hostile")
    _hostile_directory(root)
    return root


def _options(draw_options: dict, root: Path) -> dict:
    return {name: (str(root / value) if name in PATH_OPTIONS else value)
            for name, value in draw_options.items()}


@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                 HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(sorted(OPTIONS)), st.none(), min_size=1, max_size=2)
       .flatmap(lambda keys: st.fixed_dictionaries({k: OPTIONS[k] for k in keys})))
def test_every_option_is_accepted_or_refused_in_one_line(hostile, monkeypatch, chosen):
    monkeypatch.chdir(hostile)
    before = _files(hostile)
    options = _options(chosen, hostile)
    try:
        plan = prepare(RunSpec.from_options(**options))
    except USER_ERRORS as error:
        event(f"refused: {type(error).__name__}")
        _one_line(str(error))
        assert _files(hostile) == before, f"a refused input left files: {options}"
        return
    event("accepted")
    assert plan.problem.n_intervals >= 1  # accepted: a problem that can be solved


SCHEDULE = {"schema_version": 1, "time_unit": "day", "grid_step": 1, "horizon": 100,
            "drugs": {"igf1r_inhibitor": {"unit": "mg/kg", "blocks": [
                {"start": 0, "stop": 5, "dose": 25}]}}}
values = st.one_of(floats, ints, texts, st.none(), st.booleans(), st.just([]), st.just({}))


def _schedule_with(path: tuple[str, ...], value) -> dict:
    document = json.loads(json.dumps(SCHEDULE))
    target = document
    for key in path[:-1]:
        target = target[key] if not isinstance(target, list) else target[int(key)]
    target[path[-1] if not isinstance(target, list) else int(path[-1])] = value
    return document


SCHEDULE_FIELDS = [("schema_version",), ("time_unit",), ("grid_step",), ("horizon",),
                   ("drugs",), ("drugs", "igf1r_inhibitor"), ("drugs", "igf1r_inhibitor", "unit"),
                   ("drugs", "igf1r_inhibitor", "blocks"),
                   ("drugs", "igf1r_inhibitor", "blocks", "0", "start"),
                   ("drugs", "igf1r_inhibitor", "blocks", "0", "stop"),
                   ("drugs", "igf1r_inhibitor", "blocks", "0", "dose")]


@settings(deadline=None)
@given(st.sampled_from(SCHEDULE_FIELDS), values)
def test_every_schedule_field_is_accepted_or_refused_in_one_line(field, value):
    text = json.dumps(_schedule_with(field, value), allow_nan=True)
    try:
        schedule = Schedule.from_json(text, origin="s.json")
    except USER_ERRORS as error:
        _one_line(str(error))
        return
    assert schedule.n_intervals >= 1


PARAMETER_TOML = (REPO / "models" / "persister" / "data" / "v2.toml").read_text()
toml_values = st.one_of(st.sampled_from(['"fast"', "nan", "inf", "-1e300", "1e300", "0", "-1",
                                         '"1/(day"', '"10 mmol/L/0"', '""', "[]", "{}", "true",
                                         '"m^"', '"1/day"']),
                        st.floats(allow_nan=False, allow_infinity=False).map(repr))


@settings(deadline=None)
@given(st.sampled_from(["value", "unit", "lower", "upper", "source", "lowr"]), toml_values,
       st.sampled_from(["r_S", "k_P", "alpha", "r_s"]))
def test_every_parameter_field_is_accepted_or_refused_in_one_line(tmp_path_factory, key, value,
                                                                   name):
    preset = get_preset("persister")
    text = re.sub(rf"(\[parameters\.{name}\]\n)", rf"\1{key} = {value}\n", PARAMETER_TOML)
    if name not in preset.parameter_names:
        text += f'\n[parameters.{name}]\nvalue = 1.0\nunit = "1/day"\nsource = "x"\n'
    path = tmp_path_factory.mktemp("p") / "p.toml"
    path.write_text(text)
    try:
        parameters = preset.read_parameters(path)
        preset.model.parameter_vector(parameters)
    except USER_ERRORS as error:
        _one_line(str(error))
        return
    assert isinstance(parameters, ParameterSet)


# Through the real command: exit 2, one line, nothing written (a sample of the classes).
COMMAND_CASES = [("--grid", "1e-3"), ("--horizon", "inf"), ("--seed", "-1"),
                 ("--budget", "auc:300 (uM*h"), ("--plot", "fig.pdf"), ("--parameters", "fifo"),
                 ("--parameters", "loop1"), ("--out", "a_file/inside"),
                 ("--trials", "2", "--study", "x" * 600), ("--max-glucose", "180 (")]


@pytest.mark.parametrize("args", COMMAND_CASES, ids=[" ".join(a)[:30] for a in COMMAND_CASES])
def test_the_command_exits_2_in_one_line_leaving_nothing(args, tmp_path):
    _hostile_directory(tmp_path)
    before = _files(tmp_path)
    out = () if "--out" in args else ("--out", "out")
    completed = run_cli(*args, *out, timeout=120, cwd=tmp_path,
                        env={k: v for k, v in os.environ.items() if k != "PERSISTER_DEBUG"})
    assert completed.returncode == 2, completed.stderr
    _one_line(completed.stderr)
    assert _files(tmp_path) == before
