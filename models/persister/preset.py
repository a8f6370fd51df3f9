"""The built-in presets: osimertinib on every treatment day, the IGF-1R inhibitor free within
the treatment window under a days-on budget, log10 residual cells at day 100.

``persister`` is model v1 (``models/persister/model.py``); ``persister_v1`` is the same model
and parameters under a name that will not move, kept reproducible (its committed experiment
results regenerate from it) when ``persister`` becomes the next model. ``persister_v2`` is
model v2 (``models/persister/v2.py``): IGF-1R-dependent persisters, a FOXA1 inhibitor and oral
PK in mice."""

from __future__ import annotations

from dataclasses import replace

from models.persister.model import (
    IGF1R_INHIBITOR,
    OSIMERTINIB,
    default_ensemble,
    default_parameters,
    persister_model,
)
from models.persister.outcome import DETECTION_LIMIT_CELLS, cell_summary, outcome
from models.persister.v2 import persister_v2_model, v2_ensemble, v2_parameters
from models.regimen import Regimen
from models.registry import Preset

# NLP step over the drug-free tail (ControlProblem.tail_step): on the default problem, 5-day
# steps from day 45 change the objective by 2e-9 decades and shrink the NLP from 100 to 56
# intervals (bench/README.md).
TAIL_STEP_DAYS = 5.0
REGIMEN = Regimen(fixed=(OSIMERTINIB,), free=(IGF1R_INHIBITOR,), objective="log10_total_cells",
                  treatment_days=40.0, horizon=100.0, grid_step=1.0, tail_step=TAIL_STEP_DAYS,
                  budget_days=10.0)


def persister_preset(name: str = "persister") -> Preset:
    return Preset(
        name=name,
        description="EGFR-mutant, AXL-low NSCLC xenograft under osimertinib (days 0-40) with a "
                    "transient IGF-1R inhibitor (Wang et al. 2020, "
                    "doi:10.1038/s41467-020-18442-4)",
        build_model=persister_model,
        load_parameters=default_parameters,
        load_ensemble=default_ensemble,
        regimen=REGIMEN,
        variants={"glucose": {"glucose": True}},
        auc_parameters={IGF1R_INHIBITOR: "AUC_igf_day"},
        summary=cell_summary,
        outcome=outcome,
        detection_limit=DETECTION_LIMIT_CELLS,
    )


def persister_v1_preset() -> Preset:
    return persister_preset("persister_v1")


# Radau steps of each day, graded towards the dose at its start: absorption and elimination
# take hours in mice (ka 24/day, half-lives of 2-3 h). Scoring the schedule "inhibitor on days
# 3-12" against the scipy check (rtol 1e-10): one step per day is off by more than 1e-3
# decades; steps ending at 1/24, 1/8, 1/4, 1/2, 1 of the day by 3.5e-3; these six by 4.3e-4.
V2_SUBSTEPS = (1 / 48, 1 / 16, 1 / 8, 1 / 4, 1 / 2, 1.0)
V2_REGIMEN = replace(REGIMEN, substeps=V2_SUBSTEPS)


def persister_v2_preset() -> Preset:
    return Preset(
        name="persister_v2",
        description="Model v2 of the EGFR-mutant, AXL-low NSCLC xenograft: persisters survive "
                    "osimertinib through FOXA1-induced IGF-1R signalling; oral PK of "
                    "osimertinib (EGFR occupancy), the IGF-1R inhibitor and a hypothetical "
                    "FOXA1 inhibitor (Wang et al. 2020, doi:10.1038/s41467-020-18442-4)",
        build_model=persister_v2_model,
        load_parameters=v2_parameters,
        load_ensemble=v2_ensemble,
        regimen=V2_REGIMEN,
        variants={"glucose": {"glucose": True}},
        summary=cell_summary,
        outcome=outcome,
        detection_limit=DETECTION_LIMIT_CELLS,
    )


PRESET = persister_preset()


def persister_problem(*args, **options):
    """The built-in problem, ``PRESET.problem`` (see ``optimiser.build.problem_from_preset``)."""
    return PRESET.problem(*args, **options)
