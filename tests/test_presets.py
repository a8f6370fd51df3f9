"""Presets: the built-in one by name, a user's by module:function or by entry point, and what a
preset's problem draws on (its own model, parameters and ensemble, never the persister ones)."""


import numpy as np
import pytest

from models.errors import InputError
from models.persister import PRESET, default_ensemble, default_parameters, persister_problem
from models.registry import ENTRY_POINT_GROUP, PresetError, get_preset, preset_names
from optimiser.pipeline import optimise
from optimiser.problem import ProblemError

from .conftest import TOY_PRESET


def test_the_built_in_preset_bundles_model_parameters_ensemble_and_problem():
    preset = get_preset("persister_v1")
    assert "persister" in preset_names()
    assert preset.model.name == "persister"
    assert preset.parameters.digest == default_parameters().digest
    assert preset.ensemble.spreads == default_ensemble().spreads
    problem = preset.problem()
    assert problem.structure_key() == persister_problem().structure_key()
    assert problem.free_names == ["igf1r_inhibitor"] and problem.fixed_names == ["osimertinib"]
    assert problem.constraints[0].limit == 10.0 and problem.horizon == 100.0
    glucose = preset.problem(max_glucose=170.0)
    assert glucose.model.name == "persister+glucose"  # the limit brings in the variant


def test_an_unknown_preset_is_refused_with_the_known_names():
    with pytest.raises(PresetError, match=r"unknown preset 'nope'; give one of \['persister'"):
        get_preset("nope")
    assert issubclass(PresetError, InputError)


def test_a_preset_in_a_users_file_optimises_with_its_own_model(tmp_path):
    path = tmp_path / "toy.py"
    path.write_text(TOY_PRESET)
    preset = get_preset(f"{path}:toy_preset")
    problem = preset.problem()
    assert problem.model.name == "toy_decay" and problem.free_names == ["drug"]
    result = optimise(problem)
    assert result.check.passed, result.check.problems
    days = result.schedule.dosing_days("drug")
    assert len(days) == 4 and max(days) < 10  # the budget, within the treatment window
    # independent: with the drug on, ln N falls at growth - kill * C; 4 days of drug must
    # end below the untreated tumour (log10 1e6 + 20 * 0.1 / ln 10 = 6.87)
    assert result.objective < 6 + 20 * 0.1 / np.log(10) - 0.1
    # it brings no ensemble, so a robust problem is refused instead of using another model's
    with pytest.raises(ProblemError, match=r"no parameter ensemble"):
        problem.robust(4)


def test_a_bad_reference_is_refused_in_one_line(tmp_path):
    with pytest.raises(PresetError, match=r"cannot load preset 'no_such_module:f'"):
        get_preset("no_such_module:f")
    path = tmp_path / "empty.py"
    path.write_text("x = 1\n")
    with pytest.raises(PresetError, match=r"has no 'make'"):
        get_preset(f"{path}:make")
    with pytest.raises(PresetError, match=r"gave a int, not a Preset"):
        get_preset(f"{path}:x")


def test_a_package_registers_a_preset_through_the_entry_point_group(tmp_path, monkeypatch):
    (tmp_path / "toy_presets.py").write_text(TOY_PRESET)
    info = tmp_path / "toy_presets-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-presets\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\ntoy = toy_presets:toy_preset\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "toy" in preset_names()
    assert get_preset("toy").model.name == "toy_decay"
    assert get_preset("persister").name == "persister"


def test_persister_v1_is_the_first_model_under_a_fixed_name():
    """persister_v1 keeps the first model and parameters reproducible: the same compiled
    structure and parameter digest as the experiments' problem, and the first version's main
    job schedule. The default ``persister`` is model v2, the same as ``persister_v2``."""
    v1, default, v2 = (get_preset(name) for name in ("persister_v1", "persister", "persister_v2"))
    assert v1.name == "persister_v1" and "persister_v1" in preset_names()
    assert v1.model.structure_key == PRESET.model.structure_key
    assert v1.parameters.digest == PRESET.parameters.digest
    assert default.name == "persister" and default.model.name == "persister_v2"
    assert default.model.structure_key == v2.model.structure_key
    assert default.parameters.digest == v2.parameters.digest
    result = optimise(v1.problem(budget_days=10))
    assert result.check.passed
    assert result.schedule.dosing_days("igf1r_inhibitor") == [0, 1, 2, 3, 4, 8, 22, 28, 33, 38]
    assert result.objective == pytest.approx(1.7849642032, abs=1e-9)
