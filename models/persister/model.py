"""The persister model of EGFR-mutant, AXL-low lung cancer under osimertinib and IGF-1R inhibition.

Mechanisms (science brief; Wang et al., Nat Commun 2020, doi:10.1038/s41467-020-18442-4):

* sensitive cells ``S`` grow logistically and are killed by osimertinib;
* osimertinib drives ``S -> P`` (drug-tolerant persisters) at a rate that grows with IGF-1R ``G``;
* osimertinib induces FOXA1 ``F`` which induces IGF-1R ``G`` (two first-order delays); both relax
  when osimertinib stops;
* the IGF-1R inhibitor kills persisters at a rate proportional to ``G``; without osimertinib ``G``
  is low, so the inhibitor alone only slows growth a little;
* without osimertinib, persisters revert to ``S`` and regrow; under osimertinib a slow reversion
  remains (state switching is bidirectional), which also bounds the ratio of the compartments;
* persisters seed resistant cells ``R`` at a low rate; ``R`` grows whatever the drugs.

With ``glucose=True`` two states follow blood glucose and insulin (relative to basal), after the
structure of Bergman's minimal model (Bergman et al., Am J Physiol 1979,
doi:10.1152/ajpendo.1979.236.6.E667): glucose is produced at its basal rate and cleared partly
independently of insulin and partly by insulin action; insulin secretion follows glucose. The
IGF-1R inhibitor also inhibits the insulin receptor (cross-inhibition), which lowers insulin action
and raises glucose: the toxicity behind the exposure budget (science brief, point 6).

Drug exposure per drug is an effect compartment ``C`` (relative to the steady state of the
reference daily dose) with an Emax effect.
"""

from __future__ import annotations

from importlib.resources import files
from types import SimpleNamespace

import casadi as ca

from models.ensemble import Ensemble
from models.model import Control, Model, Parameter, Rates, State
from models.parameters import ParameterSet

OSIMERTINIB = "osimertinib"
IGF1R_INHIBITOR = "igf1r_inhibitor"

# The cell parameters models v1 and v2 share (v2 imports them).
CELL_PARAMETERS = (
    Parameter("N0", "cell", "tumour cells at the start of treatment", positive=True),
    Parameter("f_P0", "1", "persister fraction before treatment", positive=True),
    Parameter("R0", "cell", "expected resistant cells before treatment", positive=True),
    Parameter("K", "cell", "carrying capacity", positive=True),
    Parameter("r_S", "1/day", "growth rate of sensitive cells"),
    Parameter("r_P", "1/day", "growth rate of persisters (slow-cycling)"),
    Parameter("r_R", "1/day", "growth rate of resistant cells"),
    Parameter("k_S", "1/day", "osimertinib kill rate of sensitive cells at full effect"),
)
PARAMETERS = (
    *CELL_PARAMETERS,
    Parameter("alpha", "1/day", "S -> P switching rate at full osimertinib effect, IGF-1R low"),
    Parameter("beta", "1", "fold increase of switching at full IGF-1R induction"),
    Parameter("rho", "1/day", "P -> S reversion rate without osimertinib"),
    Parameter("rho_osi", "1/day", "P -> S reversion rate under full osimertinib effect"),
    Parameter("k_P", "1/day", "IGF-1R inhibitor kill rate of persisters at full effect and G=1"),
    Parameter("theta", "1", "fractional slowing of S growth by the IGF-1R inhibitor alone"),
    Parameter("mu", "1/day", "P -> R transition rate"),
    Parameter("t_half_F", "day", "half-time of FOXA1 induction/relaxation", positive=True),
    Parameter("t_half_G", "day", "half-time of IGF-1R following FOXA1", positive=True),
    Parameter("t_half_osi", "day", "osimertinib effect-compartment half-life", positive=True),
    Parameter("t_half_igf", "day", "IGF-1R inhibitor effect-compartment half-life", positive=True),
    Parameter("EC50_osi", "1",
              "osimertinib exposure for half effect (rel. to reference dose)", positive=True),
    Parameter("EC50_igf", "1",
              "IGF-1R inhibitor exposure for half effect (rel. to reference)", positive=True),
    Parameter("turnover", "1/day", "extra division and death of every cell population alike "
                                   "(changes extinction, not the mean)"),
    Parameter("AUC_igf_day", "micromolar * hour",
              "plasma AUC of one reference daily dose of the IGF-1R inhibitor (for AUC budgets)"),
)
GLUCOSE_PARAMETERS = (
    Parameter("G_b", "mg/dL", "basal (fasting) blood glucose", positive=True),
    Parameter("S_G", "1/day", "glucose effectiveness at basal insulin (total clearance)"),
    Parameter("phi_I", "1", "fraction of basal glucose clearance that works through insulin"),
    Parameter("n_I", "1/day", "rate at which insulin follows glucose (secretion and clearance)"),
    Parameter("IC50_IR", "1", "IGF-1R inhibitor exposure for half insulin-receptor inhibition "
                              "(rel. to reference dose)", positive=True),
)


def _effects(x: SimpleNamespace, p: SimpleNamespace) -> tuple:
    """Emax effects of the two drugs, equal to 1 at C = 1 (the reference dose's steady
    state)."""
    e_osi = (1 + p.EC50_osi) * x.C_osi / (p.EC50_osi + x.C_osi)
    e_igf = (1 + p.EC50_igf) * x.C_igf / (p.EC50_igf + x.C_igf)
    return e_osi, e_igf


def _populations(x: SimpleNamespace, u: SimpleNamespace, p: SimpleNamespace) -> dict:
    """S, P and R as a branching process: crowding slows division, the drugs kill, cells switch
    S <-> P and P -> R; ``turnover`` adds as much division as death (the mean is unchanged)."""
    crowding = 1 - (x.S + x.P + x.R) / p.K
    e_osi, e_igf = _effects(x, p)
    return {
        "S": Rates(birth=p.r_S * (1 - p.theta * e_igf) * crowding + p.turnover,
                   death=p.k_S * e_osi + p.turnover,
                   transitions={"P": p.alpha * e_osi * (1 + p.beta * x.G)}),
        "P": Rates(birth=p.r_P * crowding + p.turnover,
                   death=p.k_P * e_igf * x.G + p.turnover,
                   transitions={"S": p.rho * (1 - e_osi) + p.rho_osi * e_osi, "R": p.mu}),
        "R": Rates(birth=p.r_R * crowding + p.turnover, death=p.turnover),
    }


def _rhs(x: SimpleNamespace, u: SimpleNamespace, p: SimpleNamespace) -> dict:
    """FOXA1, IGF-1R and the drugs' effect compartments (the cells follow from
    ``_populations``)."""
    ln2 = ca.log(2)
    e_osi, _ = _effects(x, p)
    return {
        "F": ln2 / p.t_half_F * (e_osi - x.F),
        "G": ln2 / p.t_half_G * (x.F - x.G),
        "C_osi": ln2 / p.t_half_osi * (u.osimertinib - x.C_osi),
        "C_igf": ln2 / p.t_half_igf * (u.igf1r_inhibitor - x.C_igf),
    }


def _glucose_rhs(x: SimpleNamespace, u: SimpleNamespace, p: SimpleNamespace) -> dict:
    """Glucose ``Glc`` and insulin ``Ins``, both relative to basal (so 1 at rest)."""
    receptor_inhibition = x.C_igf / (p.IC50_IR + x.C_igf)
    insulin_action = p.phi_I * (1 - receptor_inhibition) * x.Ins
    return {**_rhs(x, u, p),
            "Glc": p.S_G * (1 - (1 - p.phi_I + insulin_action) * x.Glc),
            "Ins": p.n_I * (x.Glc - x.Ins)}


def _initial(p: SimpleNamespace) -> dict:
    return {"S": p.N0 * (1 - p.f_P0), "P": p.N0 * p.f_P0, "R": p.R0,
            "F": 0, "G": 0, "C_osi": 0, "C_igf": 0}


def _glucose_initial(p: SimpleNamespace) -> dict:
    return {**_initial(p), "Glc": 1, "Ins": 1}


def _outputs(x: SimpleNamespace, p: SimpleNamespace) -> dict:
    total = x.S + x.P + x.R
    return {"total_cells": total, "log10_total_cells": ca.log10(total)}


def _glucose_outputs(x: SimpleNamespace, p: SimpleNamespace) -> dict:
    return {**_outputs(x, p), "glucose": p.G_b * x.Glc}


def persister_model(glucose: bool = False) -> Model:
    """The built-in model; reference doses follow the xenograft protocols (see parameter file).
    ``glucose`` adds the glucose-insulin states and the ``glucose`` output (mg/dL), needed for a
    glucose limit and left out otherwise (two stiff states the tumour does not depend on)."""
    glucose_states = (
        State("Glc", "1", description="blood glucose rel. to basal"),
        State("Ins", "1", description="insulin rel. to basal"),
    ) if glucose else ()
    return Model(
        name="persister+glucose" if glucose else "persister",
        description="Sensitive/persister/resistant cells with FOXA1 -> IGF-1R induction"
                    + (", with insulin-receptor cross-inhibition raising glucose" if glucose
                       else ""),
        states=(
            State("S", "cell", log=True, description="osimertinib-sensitive cells"),
            State("P", "cell", log=True, description="drug-tolerant persisters"),
            State("R", "cell", log=True, description="resistant cells"),
            State("F", "1", description="FOXA1 induction (0..1)"),
            State("G", "1", description="IGF-1R level in persisters (0..1)"),
            State("C_osi", "1", description="osimertinib exposure rel. to reference dose"),
            State("C_igf", "1", description="IGF-1R inhibitor exposure rel. to reference dose"),
            *glucose_states,
        ),
        controls=(
            Control(OSIMERTINIB, 0.0, 1.0, dose_unit="mg/kg", reference_dose=5.0,
                    description="osimertinib, oral, once daily", label="osimertinib"),
            Control(IGF1R_INHIBITOR, 0.0, 1.0, dose_unit="mg/kg", reference_dose=25.0,
                    description="IGF-1R inhibitor (linsitinib), oral, once daily",
                    label="IGF-1R inhibitor"),
        ),
        parameters=PARAMETERS + (GLUCOSE_PARAMETERS if glucose else ()),
        rhs=_glucose_rhs if glucose else _rhs,
        initial=_glucose_initial if glucose else _initial,
        outputs=_glucose_outputs if glucose else _outputs,
        populations=_populations,
    )


def default_parameters() -> ParameterSet:
    return ParameterSet.from_toml(files("models.persister") / "data" / "default.toml")


def default_ensemble() -> Ensemble:
    return Ensemble.from_toml(files("models.persister") / "data" / "ensemble.toml")
