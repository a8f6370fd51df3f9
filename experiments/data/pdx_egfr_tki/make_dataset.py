"""Build the vendored NSCLC PDX EGFR-TKI panel from KuLGaP's ``alldata_new.csv``.

Why: fitting the model's EGFR-TKI kill (the ``osimertinib`` control) and growth needs real
xenograft curves. This keeps the subset we use (every PDX model with a single-agent EGFR-TKI arm:
those arms plus the model's Control arm) reproducible from the published file (pykulgap 0.0.13
sdist, MIT), converted to our long observation format with one schedule JSON per arm. README.md
beside this file gives the source, every convention checked here and the assumptions.

Run from the repository root (pandas and numpy only; deterministic)::

    python experiments/data/pdx_egfr_tki/make_dataset.py /path/to/alldata_new.csv
"""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
OBSERVATIONS = HERE / "observations.csv"
SCHEDULES = HERE / "schedules"

SOURCE = "pykulgap 0.0.13 sdist (PyPI), data/alldata_new.csv"
# Source drug label (after the '*' of temp_name) -> generic name. Exact labels only: combinations,
# the 'Dacomitinib' label (P39) and the stop-treatment variants (P34 C2, P35 C2) are left out.
TKI_DRUGS = {"Erlotinib": "erlotinib", "Gefitinib": "gefitinib", "Afatinib": "afatinib",
             "PF299": "dacomitinib"}
CONTROL = "Control"
MODEL_DRUG_KEY = "osimertinib"  # the model's only EGFR-TKI control
STAND_IN_DOSE = 5  # mg/kg per day, the osimertinib reference dose
DOSE_UNIT = "mg/kg"
HEADER = ["subject", "arm", "day", "volume_mm3", "pdx_model", "drug", "replicate"]
COMMENTS = [
    "NSCLC patient-derived-xenograft tumour volumes: every PDX model with a single-agent "
    "EGFR-TKI arm (erlotinib, gefitinib, afatinib, dacomitinib = PF299), those arms and the "
    "model's control arm; one row per mouse (subject) and measurement.",
    f"Source: {SOURCE}, converted by make_dataset.py; see README.md.",
    "Publication: Ortmann J. et al., Sci Transl Med 13(620):eabf4969 (2021), "
    "doi:10.1126/scitranslmed.abf4969.",
    "Licence: MIT (see LICENSE beside this file).",
    "volume_mm3: tumour volume in mm^3 (0 = below detection, a censored value; {zeros}).",
    "day: days since the first treatment day of the PDX model (day 0 = first treatment day; "
    "control arms use the same origin); measurements before day 0 are dropped.",
]
_DAY = re.compile(r"^\[\s*(-?\d+(?:\.\d*)?)\s*\]$")


def parse_day(text: str) -> float:
    """'[13.]' -> 13.0 (the source writes each day as a one-element array)."""
    match = _DAY.match(str(text))
    if match is None:
        raise ValueError(f"day {text!r} is not of the form '[13.]'")
    return float(match.group(1))


def load(path: Path) -> pd.DataFrame:
    raw = pd.read_csv(path, index_col=0)
    raw["source_day"] = raw["day"].map(parse_day)
    raw["label"] = raw["temp_name"].str.rpartition("*")[2]
    return raw


def check_source(raw: pd.DataFrame) -> None:
    """The conventions README.md relies on; stop if the file breaks one."""
    if not (raw.groupby("patient")["drug_start_day"].nunique() == 1).all():
        raise ValueError("drug_start_day differs within a patient")
    arms = raw.groupby(["patient", "category"], sort=False)
    if not (arms[["measurement_start", "measurement_end"]].nunique() == 1).all().all():
        raise ValueError("measurement_start/end differ within an arm")
    is_control = raw["category"] == CONTROL
    if not ((raw["control"] == 1) == is_control).all() or not (
            (raw["label"] == CONTROL) == is_control).all():
        raise ValueError("category 'Control', control == 1 and label 'Control' disagree")
    if (raw["volume"] < 0).any() or raw["volume"].isna().any():
        raise ValueError("negative or missing volumes")
    for (patient, category), arm in arms:
        days = [tuple(g["source_day"]) for _, g in arm.groupby("replicate", sort=False)]
        if len(set(days)) != 1 or np.any(np.diff(days[0]) <= 0):
            raise ValueError(f"{patient} {category}: replicates do not share one increasing "
                             "day array")
        volumes = np.array([g["volume"].to_numpy() for _, g in arm.groupby("replicate")])
        positive = volumes > 0
        if not positive.any(axis=1).all():
            raise ValueError(f"{patient} {category}: a mouse has no positive volume")
        last = positive.shape[1] - 1 - np.argmax(positive[:, ::-1], axis=1)
        if arm["measurement_end"].iloc[0] != last.min():
            raise ValueError(f"{patient} {category}: measurement_end is not the last index at "
                             "which every mouse is still measured")


def select(raw: pd.DataFrame) -> pd.DataFrame:
    patients = raw.loc[raw["label"].isin(TKI_DRUGS), "patient"].unique()
    keep = raw[raw["patient"].isin(patients)
               & (raw["label"].isin(TKI_DRUGS) | (raw["category"] == CONTROL))].copy()
    for patient, rows in keep.groupby("patient"):
        arrays = rows.groupby("category")["source_day"].apply(lambda s: tuple(s.unique()))
        if arrays.nunique() != 1:
            raise ValueError(f"{patient}: control and TKI arms have different day arrays")
        if rows.groupby("category")["label"].first().duplicated().any():
            raise ValueError(f"{patient}: two arms with the same drug label")
    keep["drug"] = keep["label"].map(TKI_DRUGS).fillna("control")
    keep["pdx_model"] = keep["patient"]
    keep["arm"] = keep["patient"].str.lower() + "_" + keep["drug"]
    keep["subject"] = keep["arm"] + "_" + keep["replicate"].str.lower()
    return keep


def drop_padding(keep: pd.DataFrame) -> pd.DataFrame:
    """Drop each mouse's trailing zeros (removed mouse, arrays padded to a common length)."""
    keep = keep.sort_index()  # source order: days increase within a mouse
    positive = (keep["volume"] > 0).astype(int)
    # a row is kept if it or a later row of the same mouse has a positive volume
    later = positive.iloc[::-1].groupby(keep["subject"].iloc[::-1]).cummax().iloc[::-1]
    return keep[later.astype(bool)]


def convert(keep: pd.DataFrame) -> pd.DataFrame:
    obs = drop_padding(keep)
    obs = obs.assign(day=obs["source_day"] - obs["drug_start_day"], volume_mm3=obs["volume"])
    obs = obs[obs["day"] >= 0]
    obs = obs.drop_duplicates(["subject", "day", "volume_mm3"])
    if obs.duplicated(["subject", "day"]).any():
        raise ValueError("a mouse has two different volumes on one day")
    counts = obs.groupby("subject")["day"].transform("size")
    obs = obs[counts >= 2]
    obs = obs.sort_values(["arm", "subject", "day"], kind="mergesort")
    return obs[HEADER].reset_index(drop=True)


def format_day(day: float) -> str:
    return str(int(day)) if float(day).is_integer() else repr(float(day))


def write_observations(obs: pd.DataFrame) -> None:
    table = obs.assign(day=obs["day"].map(format_day))
    with OBSERVATIONS.open("w", newline="") as handle:
        zeros = int((obs["volume_mm3"] == 0).sum())
        comments = [line.format(zeros=f"{zeros} such rows") for line in COMMENTS]
        handle.writelines(f"# {line}\n" for line in comments)
        table.to_csv(handle, index=False, lineterminator="\n")


def schedule(arm: pd.DataFrame, keep: pd.DataFrame) -> dict[str, Any]:
    first = arm.iloc[0]
    source = keep[keep["arm"] == first["arm"]].iloc[0]
    horizon = max(1, math.ceil(arm["day"].max()))
    where = f"{SOURCE}, {source['patient']} {source['category']} ({source['label']!r})"
    if first["drug"] == "control":
        drugs: dict[str, Any] = {}
        provenance: dict[str, Any] = {
            "drug": "none", "pdx_model": first["pdx_model"], "arm": first["arm"],
            "note": "control arm: no drug given", "source": where}
    else:
        drugs = {MODEL_DRUG_KEY: {"unit": DOSE_UNIT, "blocks": [
            {"start": 0, "stop": horizon, "dose": STAND_IN_DOSE}]}}
        provenance = {
            "drug": first["drug"], "pdx_model": first["pdx_model"], "arm": first["arm"],
            "stands_in_for": "the model's EGFR-TKI control (osimertinib key); its kill rate "
                             "is fitted per drug",
            "treatment_end_day": horizon,
            "dosing": "assumption: once daily at the osimertinib reference dose of 5 mg/kg on "
                      "every day from day 0 (first treatment day) to the arm's last "
                      "observation; the source gives no dose, frequency or stop day, and its "
                      "measurement_end marks the last day all mice were still measured, not "
                      "the end of dosing",
            "source": where}
    return {"schema_version": 1, "time_unit": "day", "grid_step": 1, "horizon": horizon,
            "drugs": drugs, "provenance": provenance}


def write_schedules(obs: pd.DataFrame, keep: pd.DataFrame) -> None:
    SCHEDULES.mkdir(exist_ok=True)
    arms = sorted(obs["arm"].unique())
    for stale in SCHEDULES.glob("*.json"):
        if stale.stem not in arms:
            stale.unlink()
    for name in arms:
        document = schedule(obs[obs["arm"] == name], keep)
        (SCHEDULES / f"{name}.json").write_text(json.dumps(document, indent=2) + "\n")


def summary(obs: pd.DataFrame, keep: pd.DataFrame) -> str:
    """The README's count table (Markdown)."""
    lines = ["| arm | source arm | subjects | measurements | days | treatment end | "
             "all mice measured to |",
             "|---|---|---|---|---|---|---|"]
    for name, arm in obs.groupby("arm"):
        rows = keep[keep["arm"] == name]
        source = rows.iloc[0]
        days = np.sort(rows["source_day"].unique())
        window_end = days[source["measurement_end"]] - source["drug_start_day"]
        control = arm["drug"].iloc[0] == "control"
        end = "-" if control else f"{math.ceil(arm['day'].max())}"
        label = "" if control else f" {source['label']}"
        lines.append(
            f"| {name} | {source['patient']} {source['category']}{label} | "
            f"{arm['subject'].nunique()} | {len(arm)} | {format_day(arm['day'].min())}-"
            f"{format_day(arm['day'].max())} | {end} | {format_day(window_end)} |")
    lines.append(f"| **total** | | {obs['subject'].nunique()} | {len(obs)} | | | |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    raw = load(Path(argv[0]))
    check_source(raw)
    keep = select(raw)
    obs = convert(keep)
    write_observations(obs)
    write_schedules(obs, keep)
    print(f"{obs['arm'].nunique()} arms, {obs['subject'].nunique()} subjects, {len(obs)} rows")
    print(summary(obs, keep))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
