"""A run of ``optimise``, described once: the problem, the search and the outputs.

``RunSpec`` is built from the command line (``RunSpec.from_options``) or read from a TOML run
file (``RunSpec.read``; ``optimise run FILE``), and ``RunSpec.to_toml`` writes the file back
(``optimise --save-spec FILE``). A run file has three tables, each optional, with the options'
names (``--treatment-days`` is ``treatment_days``, ``--search-mode`` is ``mode`` in
``[search]``, ``--json`` is ``json`` in ``[outputs]``)::

    [problem]
    budget = "10d"
    horizon = 100.0

    [search]
    trials = 40

    [outputs]
    json = true

An absent key takes the option's default; an unknown key is refused. Relative paths are taken
from the current directory, as on the command line. ``prepare`` makes every check of a run
(the problem, the dose levels, the study settings and storage, the outputs) before any solve;
a failed check raises one of the library's user errors, with a one-line message.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from models.errors import InputError
from models.parameters import read_toml, toml_value
from models.registry import Preset, get_preset

if TYPE_CHECKING:
    from optimiser.problem import ControlProblem
    from optimiser.search import SearchSettings

TABLES = ("problem", "search", "outputs")


# numpy and Optuna take seeds in [0, 2^32); each worker's sampler adds 1000 to the seed.
SEED_MAX = 2**31 - 1
MAX_DOSE_LEVELS = 16
MAX_STUDY_NAME = 512  # Optuna's indexed string length (its studies table)
MAX_WORKERS = 64  # each worker process compiles and holds its own solver


class SpecError(InputError):
    """A run spec cannot be read or its outputs cannot be written; the message says how."""


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def _text(value: Any) -> Any:
    """A TOML number where the option takes text (a budget of 10, a glucose limit of 180, dose
    levels as a list) is read as the option's text; anything else is left to validation."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, list) and value and all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        return ",".join(str(v) for v in value)
    return value


class ProblemSpec(_Table):
    """What to optimise: ``preset`` names the preset (model, parameters, ensemble, regimen);
    the rest are its options (unset: the preset's own). ``budget`` applies to every free drug;
    ``budgets`` (``drug=10d``) to one each. ``max_final``/``min_final`` (``output=value``)
    bound outputs at the horizon. ``target_cure`` (a probability) means the least exposure of
    the first free drug whose P(cure) reaches it: ``objective = "exposure"`` with
    ``min_final = ["cure_probability=TARGET"]``."""

    preset: str = "persister"
    budget: str | None = None
    budgets: list[str] = Field(default_factory=list)
    free: str | None = None
    objective: str | None = None
    target_cure: float | None = None
    max_final: list[str] = Field(default_factory=list)
    min_final: list[str] = Field(default_factory=list)
    continuous: bool = False
    treatment_days: float | None = None
    horizon: float | None = None
    grid: float | None = None
    max_run: str | None = None
    min_holiday: str | None = None
    max_pulses: int | None = None
    dose_levels: str | None = None
    max_glucose: str | None = None
    robust: int | None = None
    robust_mode: str = "mean"
    seed: int = Field(0, ge=0, le=SEED_MAX)
    parameters: Path | None = None
    ensemble: Path | None = None

    @field_validator("budget", "max_run", "min_holiday", "dose_levels", "max_glucose",
                     mode="before")
    @classmethod
    def numbers_as_text(cls, value: Any) -> Any:
        return _text(value)


class SearchSpec(_Table):
    """The discrete search (an Optuna study); none unless a setting asks for one."""

    trials: int | None = None
    study: str | None = None
    storage: str | None = None
    runs_dir: Path = Path("runs")
    workers: int = 1
    pareto: bool = False
    mode: str = "coupled"
    seed: int = Field(0, ge=0, le=SEED_MAX)
    heartbeat: int = 10
    grace: int = 30


class OutputSpec(_Table):
    """What to write besides the report (``json``: the report as JSON instead of a table)."""

    as_json: bool = Field(False, alias="json")
    out: Path | None = None
    plot: Path | None = None
    export: str | None = None

    @field_validator("plot", mode="before")
    @classmethod
    def plot_is_a_png_file(cls, value: Any) -> Any:
        """The figure is a PNG file: a directory (``newdir/``) or another format's suffix
        (``fig.pdf``) would silently get a file of PNG bytes under that name."""
        if value is None:
            return value
        text = str(value)
        if text.endswith(("/", os.sep)) or Path(text).is_dir():
            raise ValueError(f"--plot {text} is a directory; give a file name ending in .png, "
                             f"e.g. {Path(text) / 'schedule.png'}")
        if Path(text).suffix.lower() != ".png":
            raise ValueError(f"--plot {text}: the figure is a PNG; give a file name ending in "
                             f".png, e.g. {Path(text).with_suffix('.png')}")
        return value


class RunSpec(_Table):
    """One run of ``optimise``: what to optimise, how to search, what to write."""

    problem: ProblemSpec = Field(default_factory=ProblemSpec)
    search: SearchSpec = Field(default_factory=SearchSpec)
    outputs: OutputSpec = Field(default_factory=OutputSpec)

    @classmethod
    def from_options(cls, *, budget: list[str] | str | None = None, preset: str = "persister",
                     free: str | None = None, objective: str | None = None,
                     target_cure: float | None = None,
                     max_final: list[str] | None = None, min_final: list[str] | None = None,
                     continuous: bool = False, treatment_days: float | None = None,
                     horizon: float | None = None, grid: float | None = None,
                     max_run: str | None = None,
                     min_holiday: str | None = None, max_pulses: int | None = None,
                     dose_levels: str | None = None, max_glucose: str | None = None,
                     trials: int | None = None, study: str | None = None,
                     storage: str | None = None, runs_dir: Path = Path("runs"),
                     workers: int = 1, pareto: bool = False, search_mode: str = "coupled",
                     seed: int = 0, heartbeat: int = 10, grace: int = 30,
                     robust: int | None = None, robust_mode: str = "mean",
                     parameters: Path | None = None, ensemble: Path | None = None,
                     as_json: bool = False,
                     out: Path | None = None, plot: Path | str | None = None,
                     export: str | None = None) -> RunSpec:
        """The spec of an ``optimise`` command line (the options by their parameter names;
        ``--seed`` seeds both the problem's draws and the search; ``budget`` entries of the
        form ``drug=10d`` are budgets of one drug each)."""
        entries = [budget] if isinstance(budget, str) else list(budget or [])
        shared = [entry for entry in entries if "=" not in entry]
        if len(shared) > 1:
            raise SpecError(f"--budget given {len(shared)} times without a drug ({shared}); "
                            "give one budget for every free drug, or drug=BUDGET for each")
        return cls.parse({
            "problem": {"preset": preset, "budget": shared[0] if shared else None,
                        "budgets": [entry for entry in entries if "=" in entry],
                        "free": free, "objective": objective, "target_cure": target_cure,
                        "max_final": list(max_final or []), "min_final": list(min_final or []),
                        "continuous": continuous,
                        "treatment_days": treatment_days, "horizon": horizon,
                        "grid": grid, "max_run": max_run, "min_holiday": min_holiday,
                        "max_pulses": max_pulses, "dose_levels": dose_levels,
                        "max_glucose": max_glucose, "robust": robust,
                        "robust_mode": robust_mode, "seed": seed, "parameters": parameters,
                        "ensemble": ensemble},
            "search": {"trials": trials, "study": study, "storage": storage,
                       "runs_dir": runs_dir, "workers": workers, "pareto": pareto,
                       "mode": search_mode, "seed": seed, "heartbeat": heartbeat,
                       "grace": grace},
            "outputs": {"json": as_json, "out": out, "plot": plot, "export": export},
        }, "the command line")

    @classmethod
    def parse(cls, data: Any, source: str) -> RunSpec:
        """Validate ``data`` (as read from ``source``); every error becomes one SpecError."""
        try:
            return cls.model_validate(data)
        except ValidationError as error:
            raise SpecError(_message(error, source)) from None

    @classmethod
    def read(cls, path: Path) -> RunSpec:
        """The spec of a TOML run file."""
        data = read_toml(path, "run file", SpecError, "UTF-8 TOML file")
        return cls.parse(data, f"run file {str(path)!r}")

    def to_toml(self) -> str:
        """The spec as a TOML run file: every table, every key that is set (an unset option,
        None, has no key and reads back as unset)."""
        lines = ["# persister-opt run spec; run it with: optimise run FILE"]
        dumped = self.model_dump(mode="json", by_alias=True)
        for table in TABLES:
            lines += ["", f"[{table}]"]
            lines += [f"{key} = {toml_value(value)}" for key, value in dumped[table].items()
                      if value is not None]
        return "\n".join(lines) + "\n"

    def save(self, path: Path) -> None:
        """Write the run file, atomically; an unwritable path is the user's to change."""
        from optimiser.files import write_text_atomic

        try:
            write_text_atomic(Path(path), self.to_toml())
        except OSError as error:
            raise SpecError(f"cannot write the run spec to {str(path)!r} "
                            f"({error.strerror or error}); choose a writable --save-spec") \
                from None


def _message(error: ValidationError, source: str) -> str:
    """The first validation error as one line, naming the key and the fix."""
    first = error.errors()[0]
    location = ".".join(str(part) for part in first["loc"])
    more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
    if first["type"] == "extra_forbidden":
        table = first["loc"][0] if len(first["loc"]) > 1 else None
        if table in TABLES:
            fields = RunSpec.model_fields[table].annotation.model_fields
            known = ", ".join(f.alias or name for name, f in fields.items())
            return (f"{source}: unknown key {location!r}{more}; remove it, or use one of the "
                    f"keys of [{table}]: {known}")
        return (f"{source}: unknown table or key {location!r}{more}; a run file has the tables "
                f"{', '.join(f'[{t}]' for t in TABLES)}")
    if first["type"] == "value_error":  # a validator's own message names the value and fix
        return f"{source}: {first['ctx']['error']}{more}"
    given = repr(first.get("input"))
    given = given if len(given) <= 60 else given[:57] + "..."
    return (f"{source}: {location or 'the spec'}: {first['msg']} (got {given}){more}; correct "
            "that value")


# -- the checks of a run, in one place ----------------------------------------------------------

@dataclass(frozen=True)
class Plan:
    """A checked run: the spec, the problem it describes, its dose levels (fractions of the
    reference dose) and the study settings (None: no study)."""

    spec: RunSpec
    preset: Preset
    problem: ControlProblem
    dose_levels: tuple[float, ...] | None  # None: continuous doses
    settings: SearchSettings | None


def prepare(spec: RunSpec) -> Plan:
    """Every check of a run before any solve, in this order: the problem and its dose levels,
    the export format, plot extra and their directories, the study settings, the output
    directory, the study storage (whose database file and runs directory are removed again if
    this check creates and then refuses them)."""
    problem, levels = build_problem(spec.problem)
    check_outputs(spec.outputs)
    settings = search_settings(spec.search)
    if levels is None and settings is not None:
        raise SpecError("--continuous returns the relaxed optimum itself, so a discrete search "
                        "(--trials, --study, --pareto, ...) does not apply; leave one out")
    prepare_directory(spec.outputs.out)
    with _removed_on_error(_storage_paths(settings)):
        check_study(problem, settings, levels)  # last: it may create the study database
    return Plan(spec, get_preset(spec.problem.preset), problem, levels, settings)


def _storage_paths(settings: SearchSettings | None) -> list[Path]:
    """The runs directory and SQLite file a study storage would create (none for a server)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    if settings is None:
        return []
    try:
        url = make_url(settings.url)
    except ArgumentError:
        return []
    paths = [settings.runs_dir] if settings.storage is None else []
    if url.drivername.startswith("sqlite") and url.database not in (None, "", ":memory:"):
        paths.append(Path(url.database))
    return paths


@contextlib.contextmanager
def _removed_on_error(paths: list[Path]):
    """Remove those of ``paths`` that the block created, if it fails (files, empty dirs)."""
    new = [path for path in paths if not path.exists()]
    try:
        yield
    except BaseException:
        for path in reversed(new):  # the file before its directory
            with contextlib.suppress(OSError):
                path.rmdir() if path.is_dir() else path.unlink()
        raise


def build_problem(spec: ProblemSpec) -> tuple[ControlProblem, tuple[float, ...] | None]:
    """The problem the spec describes, and the dose levels (fractions of the reference; None
    for continuous doses)."""
    from constraints.budget import is_auc_budget, parse_auc_budget, parse_budget, parse_days
    from constraints.path import parse_glucose
    from models.ensemble import Ensemble
    from optimiser.problem import SCENARIO_MODES

    if spec.robust_mode not in SCENARIO_MODES:  # before the draws, not after
        raise SpecError(f"scenario mode {spec.robust_mode!r} is not one of "
                        f"{list(SCENARIO_MODES)}; give --robust-mode mean or worst")
    if spec.robust is None and spec.robust_mode != "mean":
        raise SpecError(f"--robust-mode needs --robust N (the number of parameter samples); "
                        f"add e.g. --robust 8, or leave out --robust-mode {spec.robust_mode}")
    if spec.continuous and spec.dose_levels is not None:
        raise SpecError("--continuous takes any dose within the bounds, so --dose-levels does "
                        "not apply; leave one of them out")
    preset = get_preset(spec.preset)
    free = _names(spec.free) if spec.free is not None else list(preset.regimen.free)
    options: dict[str, Any] = {}
    if spec.budget is not None and is_auc_budget(spec.budget):
        options["auc_budget"] = parse_auc_budget(spec.budget)
    elif spec.budget is not None:
        options["budget_days"] = parse_budget(spec.budget)
    options["budgets"] = {drug: parse_days(text, f"--budget {drug}") for drug, text in
                          _pairs(spec.budgets, "--budget", "drug=10d").items()} or None
    rules = {"max_run": parse_days(spec.max_run, "--max-run")
             if spec.max_run is not None else None,
             "min_holiday": parse_days(spec.min_holiday, "--min-holiday")
             if spec.min_holiday is not None else None,
             "max_pulses": spec.max_pulses,
             "max_glucose": parse_glucose(spec.max_glucose)
             if spec.max_glucose is not None else None}
    finals = {"max_final": _finals(spec.max_final, "--max-final"),
              "min_final": _finals(spec.min_final, "--min-final")}
    objective = _objective(spec.objective, free)
    if spec.target_cure is not None:
        objective = _target_cure(spec, free, finals["min_final"])
    parameters = (preset.read_parameters(spec.parameters) if spec.parameters
                  else preset.parameters)
    problem = preset.problem(treatment_days=spec.treatment_days, horizon=spec.horizon,
                             grid_step=spec.grid, parameters=parameters, free=free,
                             objective=objective, **options, **rules,
                             **finals)
    if spec.ensemble is not None and spec.robust is None:
        raise SpecError("--ensemble is what --robust N draws from; add --robust N (e.g. 8) or "
                        "leave out --ensemble")
    if spec.robust is not None:
        problem = problem.robust(spec.robust, spec.robust_mode, spec.seed,
                                 Ensemble.from_toml(spec.ensemble) if spec.ensemble else None)
    if spec.continuous:
        return problem, None
    return problem, dose_levels(spec.dose_levels, problem.model.control(problem.free_names[0]))


def _names(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise SpecError(f"--free {text!r} names no drug; give drugs separated by commas")
    return names


def _pairs(entries: list[str], option: str, example: str) -> dict[str, str]:
    """``name=value`` entries as a mapping; a repeated name or a missing ``=`` is refused."""
    pairs: dict[str, str] = {}
    for entry in entries:
        name, sign, value = entry.partition("=")
        name, value = name.strip(), value.strip()
        if not sign or not name or not value:
            raise SpecError(f"{option} {entry!r} is not NAME=VALUE; give e.g. {example}")
        if name in pairs:
            raise SpecError(f"{option} names {name!r} twice; give it once")
        pairs[name] = value
    return pairs


def _finals(entries: list[str], option: str) -> dict[str, float]:
    """``output=value`` limits at the horizon, as numbers."""
    limits = {}
    for name, text in _pairs(entries, option, "log10_total_cells=2").items():
        try:
            limits[name] = float(text)
        except ValueError:
            raise SpecError(f"{option} {name}={text!r}: the limit is not a number; give e.g. "
                            f"{name}=2") from None
        if not math.isfinite(limits[name]):
            raise SpecError(f"{option} {name}={text}: the limit must be finite")
    return limits


def _target_cure(spec: ProblemSpec, free: list[str], min_final: dict[str, float]):
    """``--target-cure P``: the exposure objective with P(cure) >= P at the horizon."""
    from optimiser.objectives import Exposure

    target = spec.target_cure
    if spec.objective is not None:
        raise SpecError(f"--target-cure minimises exposure, so --objective {spec.objective} "
                        "does not apply; leave one of them out")
    if not (math.isfinite(target) and 0 < target < 1):
        raise SpecError(f"--target-cure {target:g} must be a probability strictly between 0 "
                        "and 1, e.g. 0.95")
    if "cure_probability" in min_final:
        raise SpecError("--target-cure and --min-final cure_probability=... say the same; "
                        "give one")
    min_final["cure_probability"] = target
    return Exposure(free[0])


def _objective(text: str | None, free: list[str]):
    """``exposure`` (of the first free drug) or ``exposure:DRUG``, ``integral:OUTPUT``,
    ``cure`` (maximise P(cure)), or an output's name (its value at the horizon); None: the
    preset's."""
    from optimiser.objectives import Cure, Exposure, Integral, Terminal

    if text is None:
        return None
    if text == "cure":
        return Cure()
    kind, _, name = text.partition(":")
    if kind == "exposure":
        return Exposure(name or free[0])
    if kind == "integral":
        if not name:
            raise SpecError("--objective integral needs an output: integral:OUTPUT")
        return Integral(name)
    if name:
        raise SpecError(f"--objective {text!r} is not understood; give an output's name, "
                        "cure, exposure[:DRUG] or integral:OUTPUT")
    return Terminal(text)


def dose_levels(text: str | None, control) -> tuple[float, ...]:
    """Dose levels in the control's unit -> fractions of its reference dose."""
    if text is None:
        return (1.0,)
    try:
        doses = [float(part) for part in text.split(",")]
    except ValueError:
        raise SpecError(f"dose levels {text!r} are not understood; give daily doses in "
                        f"{control.dose_unit} separated by commas, e.g. 6.25,12.5,25") from None
    if len(set(doses)) != len(doses):
        raise SpecError(f"dose levels {text!r} name a dose twice; give each level once")
    if len(doses) > MAX_DOSE_LEVELS:
        raise SpecError(f"{len(doses)} dose levels; give at most {MAX_DOSE_LEVELS} (each one "
                        "multiplies the search space)")
    highest = control.upper * control.reference_dose
    outside = [dose for dose in doses if not 0 < dose <= highest]  # NaN is outside too
    if outside:
        raise SpecError(f"dose levels {outside} {control.dose_unit} must lie in (0, {highest:g}] "
                        f"{control.dose_unit}; give daily doses above 0 and at most {highest:g}")
    return tuple(dose / control.reference_dose for dose in doses)


def search_settings(spec: SearchSpec) -> SearchSettings | None:
    """The study settings, or None when no study was asked for."""
    from optimiser.search import SearchSettings

    asked = (spec.trials is not None or spec.study or spec.storage or spec.workers != 1
             or spec.pareto or spec.mode != "coupled")
    if not asked:
        return None
    if spec.storage is not None:
        _check_storage_url(spec.storage)
    if spec.study is not None and not 0 < len(spec.study) <= MAX_STUDY_NAME:
        raise SpecError(f"--study name of {len(spec.study)} characters; give 1 to "
                        f"{MAX_STUDY_NAME} (what Optuna's storages index)")
    if spec.workers > MAX_WORKERS:
        raise SpecError(f"--workers {spec.workers}: at most {MAX_WORKERS} worker processes (each "
                        f"compiles its own solver; this machine has {os.cpu_count()} cores); "
                        "give fewer")
    return SearchSettings(trials=40 if spec.trials is None else spec.trials,  # 0 is refused
                          study=spec.study, storage=spec.storage, runs_dir=spec.runs_dir,
                          workers=spec.workers, mode=spec.mode, pareto=spec.pareto,
                          seed=spec.seed, heartbeat_s=spec.heartbeat, grace_s=spec.grace)


def _check_storage_url(url: str) -> None:
    """A URL that SQLAlchemy cannot even split (a port that is not a number) is refused here,
    naming only its scheme: the rest may hold a password."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        make_url(url)
    except ArgumentError:  # not a URL at all: open_storage says what a URL looks like
        return
    except ValueError:
        scheme = url.partition("://")[0]
        raise SpecError(f"--storage {scheme}://...: its port is not a number; give e.g. "
                        f"{scheme}://user:password@localhost:5432/db") from None


def check_study(problem: ControlProblem, settings: SearchSettings | None,
                levels: tuple[float, ...]) -> None:
    """Open the study storage (and compare an existing study) before the solve, with what the
    pipeline or the Pareto search will give ``run_study``; a bad storage then fails in seconds."""
    from optimiser.pipeline import with_dose_levels
    from optimiser.search import check_study as check

    if settings is None:
        return
    if settings.pareto:  # pareto_front passes the problem and levels as they are
        check(problem, settings, levels)
    else:  # optimise passes them through with_dose_levels
        with_levels, sorted_levels = with_dose_levels(problem, levels)
        check(with_levels, settings, sorted_levels)


def check_outputs(spec: OutputSpec) -> None:
    """Refuse an unknown export format, a missing export or plot extra or an unwritable
    directory before the solve, not after it."""
    from optimiser.export import require_format
    from optimiser.plots import require

    if spec.export is not None:
        require_format(spec.export)
        prepare_directory(spec.out or Path("."))
    if spec.plot is not None:
        require("matplotlib")
        prepare_directory(spec.plot.parent, "--plot")


def prepare_directory(out: Path | None, option: str = "--out") -> None:
    """Make sure ``out`` is, or can be made, a writable directory before any solve, so a long
    run cannot end in an unwritable output; nothing is created (``option`` names the flag to
    change): the run's files create it when they are written (``files.RunOutputs``)."""
    if out is None:
        return
    absolute = Path(os.path.abspath(out))
    existing = next(p for p in (absolute, *absolute.parents) if p.exists() or p.is_symlink())
    if existing.is_symlink() and not existing.exists():
        reason = f"{str(existing)!r} is a broken symbolic link or a loop of them"
    elif not existing.is_dir():
        reason = f"{str(existing)!r} is a file, not a directory"
    else:
        try:
            with tempfile.NamedTemporaryFile(dir=existing):
                return
        except OSError as error:
            reason = error.strerror or str(error)
    raise SpecError(f"cannot write to output directory {str(out)!r} ({reason}); choose a "
                    f"writable {option}")
