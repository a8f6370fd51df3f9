"""The built-in presets: osimertinib on every treatment day, the IGF-1R inhibitor free within
the treatment window under a days-on budget, log10 residual cells at day 100.

``persister`` is model v2 (``models/persister/v2.py``): IGF-1R-dependent persisters, a FOXA1
inhibitor and oral PK in mice; ``persister_v2`` is the same under a name that will not move.
``persister_v1`` is model v1 (``models/persister/model.py``) with its parameters, kept
reproducible: the committed experiment results regenerate from it (``PRESET``)."""

from __future__ import annotations

from dataclasses import replace
from functools import partial

from models.persister.model import (
    IGF1R_INHIBITOR,
    OSIMERTINIB,
    default_ensemble,
    default_parameters,
    persister_model,
)
from models.persister.outcome import (
    CLINICAL_DETECTION_LIMIT_CELLS,
    DETECTION_LIMIT_CELLS,
    cell_summary,
    outcome,
    progression_summary,
)
from models.persister.v2 import (
    human_ensemble,
    human_parameters,
    persister_human_model,
    persister_v2_model,
    v2_ensemble,
    v2_parameters,
)
from models.regimen import Regimen
from models.registry import Preset

# NLP step over the drug-free tail (ControlProblem.tail_step): on the default problem, 5-day
# steps from day 45 change the objective by 2e-9 decades and shrink the NLP from 100 to 56
# intervals (bench/README.md).
TAIL_STEP_DAYS = 5.0
REGIMEN = Regimen(fixed=(OSIMERTINIB,), free=(IGF1R_INHIBITOR,), objective="log10_total_cells",
                  treatment_days=40.0, horizon=100.0, grid_step=1.0, tail_step=TAIL_STEP_DAYS,
                  budget_days=10.0)


def persister_v1_preset() -> Preset:
    return Preset(
        name="persister_v1",
        description="Model v1 of the EGFR-mutant, AXL-low NSCLC xenograft under osimertinib "
                    "(days 0-40) with a transient IGF-1R inhibitor (Wang et al. 2020, "
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


# Radau steps of each day, graded towards the dose at its start: absorption and elimination
# take hours in mice (ka 24/day, half-lives of 2-3 h). Scoring the schedule "inhibitor on days
# 3-12" against the scipy check (rtol 1e-10): one step per day is off by more than 1e-3
# decades; steps ending at 1/24, 1/8, 1/4, 1/2, 1 of the day by 3.5e-3; these six by 4.3e-4.
V2_SUBSTEPS = (1 / 48, 1 / 16, 1 / 8, 1 / 4, 1 / 2, 1.0)
V2_REGIMEN = replace(REGIMEN, substeps=V2_SUBSTEPS)


def persister_v2_preset(name: str = "persister_v2") -> Preset:
    return Preset(
        name=name,
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


# Patients: a 4-week course of osimertinib 80 mg once daily with linsitinib 150 mg twice daily
# free in it (a half-day grid), then follow-up to 12 months in 14-day NLP steps: the transient
# combination of the xenograft study, asked of patients. A course rather than osimertinib until
# progression keeps the NLP small (56 half-day intervals, then 24 tail steps): the relaxed solve
# takes 12 IPOPT iterations, 4 s. An 8-week course did not converge in 300 iterations (a flat,
# non-convex objective: 1 s an iteration, creeping). Half-day intervals are graded as the
# mouse's days are in hours (linsitinib's 3 h half-life sets the scale).
HUMAN_SUBSTEPS = (1 / 24, 1 / 8, 1 / 4, 1 / 2, 1.0)
HUMAN_REGIMEN = Regimen(fixed=(OSIMERTINIB,), free=(IGF1R_INHIBITOR,),
                        objective="log10_total_cells", treatment_days=28.0, horizon=365.0,
                        grid_step=0.5, tail_step=14.0, budget_days=10.0,
                        substeps=HUMAN_SUBSTEPS, dose_every=((OSIMERTINIB, 1.0),))


def persister_human_preset() -> Preset:
    return Preset(
        name="persister_human",
        description="Model v2 in patients with EGFR-mutant, AXL-low NSCLC: osimertinib 80 mg "
                    "once daily for 4 weeks, linsitinib 150 mg twice daily within it, human "
                    "population PK and growth kinetics, follow-up to 12 months; progression "
                    "is the tumour back at 1e9 cells (about 1 cm^3)",
        build_model=persister_human_model,
        load_parameters=human_parameters,
        load_ensemble=human_ensemble,
        regimen=HUMAN_REGIMEN,
        variants={"glucose": {"glucose": True}},
        summary=progression_summary,
        outcome=partial(outcome, summary=progression_summary),
        detection_limit=CLINICAL_DETECTION_LIMIT_CELLS,
    )


def persister_preset() -> Preset:
    """The default preset: model v2."""
    return persister_v2_preset("persister")


# Model v1: the experiments and the tests that pin v1's numbers build their problems from it.
PRESET = persister_v1_preset()


def persister_problem(*args, **options):
    """Model v1's problem, ``PRESET.problem`` (see ``optimiser.build.problem_from_preset``)."""
    return PRESET.problem(*args, **options)
