"""Model v2 of EGFR-mutant, AXL-low lung cancer: the mechanisms of Wang et al. 2020
(doi:10.1038/s41467-020-18442-4) with IGF-1R-dependent persister survival, a FOXA1 inhibitor
and oral pharmacokinetics.

What changed from v1 (``models/persister/model.py``) and why (science brief, domain review):

* **Survival through IGF-1R signalling.** The signal is sigma = G (1 - i_igf): the IGF-1R level
  (basal ``g0`` > 0, induced by FOXA1) times the fraction the inhibitor leaves. Under
  osimertinib, persisters die at ``k_P`` times the share of their survival signal that is
  missing (a Hill curve of sigma), so blocking the signal, by the inhibitor or by less IGF-1R,
  raises their death; signalling also drives entry into tolerance (``beta``). Without
  osimertinib persisters do not need the signal, so the inhibitor alone does little.
* **A FOXA1 inhibitor** (hypothetical; PK and potency are assumptions) blunts FOXA1's
  induction of IGF-1R and has no insulin-receptor effect.
* **Oral PK.** Each drug is a gut compartment receiving the dose as a bolus at the start of its
  interval (``Control.bolus_into``) and a plasma compartment (mg/L) with first-order
  absorption and elimination; effects are Hill curves of the concentration. Osimertinib binds
  EGFR covalently: its effect follows target occupancy O, which rises at
  k_inact C / (K_I + C) and falls only as EGFR is re-synthesised (structure after Yates et
  al., Mol Cancer Ther 2016, doi:10.1158/1535-7163.MCT-16-0142).
* **Glucose** (``glucose=True``) is Bergman's minimal model with its remote-insulin
  compartment X (Bergman et al. 1979, doi:10.1152/ajpendo.1979.236.6.E667), written with
  total rather than above-basal insulin action so that blocking the insulin receptor can raise
  glucose from rest: dGlc/dt = R_a - (S_G + X) Glc, dX/dt = p2 (S_I (1 - i_IR) Ins - X), and
  insulin secretion rises with glucose (beta-cell compensation, the hyperinsulinaemia of
  linsitinib in mice). The insulin-receptor inhibition i_IR is a Hill curve of the IGF-1R
  inhibitor's plasma concentration, so its peaks matter.

The same equations serve the mouse xenograft and the human preset; ``Dosing`` gives the dose
units (mg/kg or mg), the reference doses and the volume unit of the parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from types import SimpleNamespace

import casadi as ca

from models.ensemble import Ensemble
from models.model import Control, Model, Parameter, Rates, State
from models.parameters import ParameterSet
from models.persister.model import CELL_PARAMETERS, IGF1R_INHIBITOR, OSIMERTINIB
from models.persister.model import _outputs as cell_outputs

FOXA1_INHIBITOR = "foxa1_inhibitor"
DRUGS = {OSIMERTINIB: "osi", IGF1R_INHIBITOR: "igf", FOXA1_INHIBITOR: "fox"}


@dataclass(frozen=True)
class Dosing:
    """Dose units, reference doses (one dose event each) and the unit of the apparent volumes."""

    dose_unit: str
    volume_unit: str
    reference_doses: dict[str, float]
    descriptions: dict[str, str]


MOUSE = Dosing("mg/kg", "L/kg",
               {OSIMERTINIB: 5.0, IGF1R_INHIBITOR: 25.0, FOXA1_INHIBITOR: 25.0},
               {OSIMERTINIB: "osimertinib, oral gavage, once daily",
                IGF1R_INHIBITOR: "IGF-1R inhibitor (linsitinib), oral gavage, once daily",
                FOXA1_INHIBITOR: "FOXA1 inhibitor (hypothetical), oral, once daily"})
HUMAN = Dosing("mg", "L",
               {OSIMERTINIB: 80.0, IGF1R_INHIBITOR: 150.0, FOXA1_INHIBITOR: 150.0},
               {OSIMERTINIB: "osimertinib 80 mg, oral, once daily",
                IGF1R_INHIBITOR: "linsitinib 150 mg, oral, twice daily",
                FOXA1_INHIBITOR: "FOXA1 inhibitor (hypothetical) 150 mg, oral, twice daily"})


def _parameters(dosing: Dosing) -> tuple[Parameter, ...]:
    volume = dosing.volume_unit
    pk = []
    for drug, tag in DRUGS.items():
        pk += [Parameter(f"ka_{tag}", "1/day", f"{drug} absorption rate constant", positive=True),
               Parameter(f"V_{tag}", volume, f"{drug} apparent volume of distribution (V/F)",
                         positive=True),
               Parameter(f"t_half_{tag}", "day", f"{drug} elimination half-life", positive=True)]
    return (
        *CELL_PARAMETERS,
        Parameter("alpha", "1/day", "S -> P switching at full osimertinib effect, no signal"),
        Parameter("beta", "1", "fold increase of switching at full IGF-1R signal"),
        Parameter("rho", "1/day", "P -> S reversion rate without osimertinib"),
        Parameter("rho_osi", "1/day", "P -> S reversion rate under full osimertinib effect"),
        Parameter("k_P", "1/day", "persister death under full osimertinib effect without "
                                  "IGF-1R survival signal"),
        Parameter("sigma50", "1", "IGF-1R signal giving persisters half their protection",
                  positive=True),
        Parameter("h_sigma", "1", "Hill coefficient of protection by the IGF-1R signal",
                  positive=True),
        Parameter("g0", "1", "basal IGF-1R level (relative to full induction)", positive=True),
        Parameter("theta", "1", "fractional slowing of S growth by full IGF-1R inhibition"),
        Parameter("mu", "1/day", "P -> R transition rate"),
        Parameter("turnover", "1/day", "extra division and death of every cell population "
                                       "alike (changes extinction, not the mean)"),
        Parameter("t_half_F", "day", "half-time of FOXA1 induction/relaxation", positive=True),
        Parameter("t_half_G", "day", "half-time of IGF-1R following FOXA1", positive=True),
        *pk,
        Parameter("k_inact", "1/day", "maximal rate of covalent EGFR binding by osimertinib",
                  positive=True),
        Parameter("K_I", "mg/L", "osimertinib concentration of half-maximal binding rate",
                  positive=True),
        Parameter("t_half_EGFR", "day", "EGFR re-synthesis (turnover) half-life", positive=True),
        Parameter("O50", "1", "EGFR occupancy of half-maximal osimertinib effect",
                  positive=True),
        Parameter("h_osi", "1", "Hill coefficient of the osimertinib effect", positive=True),
        Parameter("IC50_igf", "mg/L", "linsitinib plasma concentration halving IGF-1R signalling",
                  positive=True),
        Parameter("h_igf", "1", "Hill coefficient of IGF-1R inhibition", positive=True),
        Parameter("IC50_fox", "mg/L", "FOXA1 inhibitor concentration halving FOXA1 activity",
                  positive=True),
        Parameter("h_fox", "1", "Hill coefficient of FOXA1 inhibition", positive=True),
    )


GLUCOSE_PARAMETERS = (
    Parameter("G_b", "mg/dL", "basal (fasting) blood glucose", positive=True),
    Parameter("I_b", "microU/mL", "basal (fasting) plasma insulin", positive=True),
    Parameter("S_G", "1/day", "glucose effectiveness (insulin-independent clearance)"),
    Parameter("S_I", "1/day / (microU/mL)", "insulin sensitivity (p3/p2)"),
    Parameter("p2", "1/day", "rate constant of remote insulin action", positive=True),
    Parameter("n_I", "1/day", "insulin clearance rate (secretion follows glucose)",
              positive=True),
    Parameter("q_I", "1", "exponent of insulin secretion in glucose (beta-cell gain)"),
    Parameter("IC50_IR", "mg/L", "linsitinib plasma concentration halving insulin-receptor "
                                 "signalling", positive=True),
    Parameter("h_IR", "1", "Hill coefficient of insulin-receptor inhibition", positive=True),
)


def positive(c, scale):
    """c held smoothly above zero, (c + sqrt(c^2 + eps^2)) / 2 with eps = 1e-12 scale: c itself
    wherever it matters, eps/2 at 0. A kink instead (fmax) made the NLP's derivatives jump
    where an undosed drug's concentration sits at 0, and IPOPT stalled on the human preset."""
    eps = 1e-12 * scale
    return (c + ca.sqrt(c * c + eps * eps)) / 2


def hill(c, c50, h):
    """Fractional effect c^h / (c50^h + c^h). The power is exp(h ln c) for a parameter h, so c
    is held above 0 (``positive``): at c = 0 its derivative would be 0 * inf."""
    ratio = (positive(c, c50) / c50) ** h
    return ratio / (1 + ratio)


def _effects(x: SimpleNamespace, p: SimpleNamespace) -> SimpleNamespace:
    """The drug effects and the IGF-1R survival signal at this state."""
    e_osi = hill(x.O_osi, p.O50, p.h_osi)
    i_igf = hill(x.C_igf, p.IC50_igf, p.h_igf)
    signal = x.G * (1 - i_igf)
    return SimpleNamespace(e_osi=e_osi, i_igf=i_igf, signal=signal,
                           protection=hill(signal, p.sigma50, p.h_sigma),
                           i_fox=hill(x.C_fox, p.IC50_fox, p.h_fox))


def _populations(x: SimpleNamespace, u: SimpleNamespace, p: SimpleNamespace) -> dict:
    """S, P and R: osimertinib kills S and drives S -> P more with more IGF-1R signal; under
    osimertinib persisters die unless the signal protects them."""
    crowding = 1 - (x.S + x.P + x.R) / p.K
    e = _effects(x, p)
    return {
        "S": Rates(birth=p.r_S * (1 - p.theta * e.i_igf) * crowding + p.turnover,
                   death=p.k_S * e.e_osi + p.turnover,
                   transitions={"P": p.alpha * e.e_osi * (1 + p.beta * e.signal)}),
        "P": Rates(birth=p.r_P * crowding + p.turnover,
                   death=p.k_P * e.e_osi * (1 - e.protection) + p.turnover,
                   transitions={"S": p.rho * (1 - e.e_osi) + p.rho_osi * e.e_osi, "R": p.mu}),
        "R": Rates(birth=p.r_R * crowding + p.turnover, death=p.turnover),
    }


def _rhs(x: SimpleNamespace, u: SimpleNamespace, p: SimpleNamespace) -> dict:
    """FOXA1, IGF-1R, the drugs' gut and plasma compartments and EGFR occupancy."""
    ln2 = ca.log(2)
    e = _effects(x, p)
    pk = {}
    for tag in DRUGS.values():
        gut, plasma = getattr(x, f"A_{tag}"), getattr(x, f"C_{tag}")
        ka, volume = getattr(p, f"ka_{tag}"), getattr(p, f"V_{tag}")
        pk[f"A_{tag}"] = -ka * gut
        pk[f"C_{tag}"] = ka * gut / volume - ln2 / getattr(p, f"t_half_{tag}") * plasma
    bound = positive(x.C_osi, p.K_I)
    binding = p.k_inact * bound / (p.K_I + bound)
    return {
        "F": ln2 / p.t_half_F * (e.e_osi - x.F),
        "G": ln2 / p.t_half_G * (p.g0 + (1 - p.g0) * x.F * (1 - e.i_fox) - x.G),
        **pk,
        "O_osi": binding * (1 - x.O_osi) - ln2 / p.t_half_EGFR * x.O_osi,
    }


def _glucose_rhs(x: SimpleNamespace, u: SimpleNamespace, p: SimpleNamespace) -> dict:
    """Bergman's minimal model in total insulin action: at rest X = S_I I_b and glucose is
    produced at the rate its basal clearance needs."""
    receptor_left = 1 - hill(x.C_igf, p.IC50_IR, p.h_IR)
    production = (p.S_G + p.S_I * p.I_b) * p.G_b
    return {**_rhs(x, u, p),
            "Glc": production - (p.S_G + x.X_ins) * x.Glc,
            "X_ins": p.p2 * (p.S_I * receptor_left * x.Ins - x.X_ins),
            "Ins": p.n_I * (p.I_b * (ca.fmax(x.Glc, 0) / p.G_b) ** p.q_I - x.Ins)}


def _initial(p: SimpleNamespace) -> dict:
    return {"S": p.N0 * (1 - p.f_P0), "P": p.N0 * p.f_P0, "R": p.R0, "F": 0, "G": p.g0,
            **{f"{kind}_{tag}": 0 for tag in DRUGS.values() for kind in ("A", "C")},
            "O_osi": 0}


def _glucose_initial(p: SimpleNamespace) -> dict:
    return {**_initial(p), "Glc": p.G_b, "X_ins": p.S_I * p.I_b, "Ins": p.I_b}


def _glucose_outputs(x: SimpleNamespace, p: SimpleNamespace) -> dict:
    return {**cell_outputs(x, p), "glucose": x.Glc, "insulin": x.Ins}


def persister_v2_model(glucose: bool = False, dosing: Dosing = MOUSE) -> Model:
    """Model v2 (see the module docstring); ``glucose`` adds glucose, remote insulin action and
    insulin (the ``glucose`` output in mg/dL, ``insulin`` in microU/mL)."""
    glucose_states = (
        State("Glc", "mg/dL", description="blood glucose"),
        State("X_ins", "1/day", description="remote insulin action (Bergman's X)"),
        State("Ins", "microU/mL", description="plasma insulin"),
    ) if glucose else ()
    pk_states = []
    for drug, tag in DRUGS.items():
        pk_states += [State(f"A_{tag}", dosing.dose_unit, description=f"{drug} in the gut"),
                      State(f"C_{tag}", "mg/L", description=f"{drug} plasma concentration")]
    unit = dosing.dose_unit
    return Model(
        name="persister_v2+glucose" if glucose else "persister_v2",
        description="Sensitive/persister/resistant cells surviving osimertinib through "
                    "FOXA1-induced IGF-1R signalling; oral PK for osimertinib (EGFR "
                    "occupancy), an IGF-1R inhibitor and a FOXA1 inhibitor"
                    + ("; Bergman minimal model of glucose and insulin" if glucose else ""),
        states=(
            State("S", "cell", log=True, description="osimertinib-sensitive cells"),
            State("P", "cell", log=True, description="drug-tolerant persisters"),
            State("R", "cell", log=True, description="resistant cells"),
            State("F", "1", description="FOXA1 induction (0..1)"),
            State("G", "1", description="IGF-1R level (g0..1)"),
            *pk_states,
            State("O_osi", "1", description="EGFR occupancy by osimertinib (0..1)"),
            *glucose_states,
        ),
        controls=tuple(
            Control(drug, 0.0, 1.0, dose_unit=unit, reference_dose=dosing.reference_doses[drug],
                    description=dosing.descriptions[drug], bolus_into=f"A_{tag}",
                    label={OSIMERTINIB: "osimertinib", IGF1R_INHIBITOR: "IGF-1R inhibitor",
                           FOXA1_INHIBITOR: "FOXA1 inhibitor"}[drug])
            for drug, tag in DRUGS.items()),
        parameters=_parameters(dosing) + (GLUCOSE_PARAMETERS if glucose else ()),
        rhs=_glucose_rhs if glucose else _rhs,
        initial=_glucose_initial if glucose else _initial,
        outputs=_glucose_outputs if glucose else cell_outputs,
        populations=_populations,
    )


def persister_human_model(glucose: bool = False) -> Model:
    return persister_v2_model(glucose, HUMAN)


def _data(name: str):
    return files("models.persister") / "data" / name


def v2_parameters() -> ParameterSet:
    return ParameterSet.from_toml(_data("v2.toml"))


def v2_ensemble() -> Ensemble:
    return Ensemble.from_toml(_data("v2_ensemble.toml"))


def human_parameters() -> ParameterSet:
    return ParameterSet.from_toml(_data("human.toml"))


def human_ensemble() -> Ensemble:
    return Ensemble.from_toml(_data("human_ensemble.toml"))
