"""Presets by name: a model, its parameter set and ensemble, and a regimen, as one bundle.

The built-in presets and those of other installed packages are registered in the entry-point
group ``persister_opt.presets`` (each entry point names a function returning a ``Preset``); a
preset in a user's file is ``path/to/file.py:function`` or ``package.module:function``.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any

from models.branching import LINEAGE_OUTPUTS
from models.ensemble import Ensemble
from models.errors import InputError
from models.model import Model
from models.parameters import ParameterSet
from models.regimen import Regimen
from models.tumour_volume import CLEARANCE, VOLUME_PARAMETERS

if TYPE_CHECKING:  # pragma: no cover
    from optimiser.problem import ControlProblem

ENTRY_POINT_GROUP = "persister_opt.presets"


class PresetError(InputError):
    """A preset cannot be found or loaded; the message says what to give instead."""


@dataclass(frozen=True, eq=False)
class Preset:
    """``build_model(**variant)`` gives the model; ``variants`` maps an output that only a
    variant has (``glucose``) to that variant's keyword arguments, so a limit on it brings the
    variant in. ``auc_parameters`` names, per drug, the parameter holding the plasma AUC of one
    reference dose (for AUC budgets). ``summary(trajectory)`` and ``outcome(trajectory,
    schedule)`` are the preset's outcome figures for reports and simulations (``outcome`` takes
    ``detection_limit`` as its third argument)."""

    name: str
    description: str
    build_model: Callable[..., Model]
    load_parameters: Callable[[], ParameterSet]
    regimen: Regimen
    load_ensemble: Callable[[], Ensemble] | None = None
    variants: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    auc_parameters: Mapping[str, str] = field(default_factory=dict)
    summary: Callable[[Any], dict] | None = None
    outcome: Callable[[Any, Any, float | None], dict] | None = None
    detection_limit: float | None = None  # cells: "no regrowth" below it, drawn in figures

    @cached_property
    def model(self) -> Model:
        return self.build_model()

    def model_with(self, outputs: tuple[str, ...] = ()) -> Model:
        """The model, or the variant that has every output in ``outputs`` (lineage outputs
        come with any model that declares populations)."""
        lineage = LINEAGE_OUTPUTS if self.model.population_names else {}
        missing = [o for o in outputs if o not in self.model.output_names and o not in lineage]
        if not missing:
            return self.model
        arguments: dict[str, Any] = {}
        for output in missing:
            if output not in self.variants:
                raise PresetError(f"preset {self.name!r} has no output {output!r}; its outputs "
                                  f"are {self.model.output_names + sorted(self.variants)}"
                                  + (f" and {sorted(lineage)}" if lineage else ""))
            arguments.update(self.variants[output])
        return self.build_model(**arguments)

    @cached_property
    def parameters(self) -> ParameterSet:
        return self.load_parameters()

    @cached_property
    def parameter_names(self) -> frozenset[str]:
        """Every parameter the model, one of its variants or the tumour-volume observation
        model (whose parameters 'optimise fit' writes into fitted sets) declares."""
        names = {p.name for p in (*self.model.parameters, *VOLUME_PARAMETERS, CLEARANCE)}
        for arguments in self.variants.values():
            names |= {p.name for p in self.build_model(**arguments).parameters}
        return frozenset(names)

    def read_parameters(self, path: str | Path) -> ParameterSet:
        """A parameter file for this preset; a name that neither the model nor a variant
        declares is a misspelling (it would otherwise be silently ignored)."""
        parameters = ParameterSet.from_toml(path)
        unknown = sorted(set(parameters.values) - self.parameter_names)
        if unknown:
            close = difflib.get_close_matches(unknown[0], self.parameter_names, n=1)
            hint = f"did you mean {close[0]!r}?" if close else "check the spelling"
            raise PresetError(f"parameter file {str(path)!r}: {unknown} not parameters of "
                              f"preset {self.name!r}; {hint} (or remove the table)")
        return parameters

    @cached_property
    def ensemble(self) -> Ensemble | None:
        return self.load_ensemble() if self.load_ensemble is not None else None

    def problem(self, *args: Any, **options: Any) -> ControlProblem:
        """The preset's ControlProblem; ``options`` as ``optimiser.build.problem_from_preset``
        takes them (budgets, rules, limits, objective, which drugs are free, ...)."""
        # The one import of a higher layer (ignored in the import contract): a preset is data
        # until a problem is asked of it.
        from optimiser.build import problem_from_preset

        return problem_from_preset(self, *args, **options)


def preset_names() -> list[str]:
    return sorted(point.name for point in entry_points(group=ENTRY_POINT_GROUP))


def get_preset(name: str) -> Preset:
    """A registered preset by name, or ``module:function`` / ``file.py:function``."""
    if ":" in name:
        return _from_reference(name)
    points = [point for point in entry_points(group=ENTRY_POINT_GROUP) if point.name == name]
    if not points:
        raise PresetError(f"unknown preset {name!r}; give one of {preset_names()} or "
                          "module:function (a function returning a Preset)")
    return _checked(points[0].load()(), name)


def _from_reference(reference: str) -> Preset:
    location, _, function = reference.rpartition(":")
    try:
        if location.endswith(".py") or Path(location).is_file():
            spec = importlib.util.spec_from_file_location(Path(location).stem, location)
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot load {location}")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(location)
    except (ImportError, OSError, SyntaxError) as error:
        raise PresetError(f"cannot load preset {reference!r} ({type(error).__name__}: "
                          f"{error}); give module:function or path/to/file.py:function") from None
    target = getattr(module, function, None)
    if target is None:
        raise PresetError(f"preset {reference!r}: {location} has no {function!r}; name the "
                          "function that returns the Preset")
    return _checked(target() if callable(target) else target, reference)


def _checked(preset: object, reference: str) -> Preset:
    if not isinstance(preset, Preset):
        raise PresetError(f"preset {reference!r} gave a {type(preset).__name__}, not a Preset")
    preset.regimen.validate(preset.model)
    return preset
