"""Observation data (models/observations.py): parsing, units and every refusal with its fix."""

from __future__ import annotations

import csv
import hashlib
import json
import math
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from models.observations import ObservationError, Observations, Subject, read_observations
from models.schedule import Schedule

REPO = Path(__file__).resolve().parent.parent
PDX = REPO / "experiments" / "data" / "pdx_egfr_tki"

HEADER = "subject,arm,day,volume_mm3"


def control_schedule(horizon: int = 24) -> dict:
    """A control arm's schedule JSON, in the format of pdx_egfr_tki/schedules/p11_control.json."""
    return {"schema_version": 1, "time_unit": "day", "grid_step": 1, "horizon": horizon,
            "drugs": {}, "provenance": {"arm": "control", "note": "control arm: no drug given"}}


def drug_schedule(horizon: int = 24, dose: float = 5.0) -> dict:
    """A treated arm's schedule JSON, in the format of p11_dacomitinib.json."""
    return {"schema_version": 1, "time_unit": "day", "grid_step": 1, "horizon": horizon,
            "drugs": {"osimertinib": {"unit": "mg/kg", "blocks": [
                {"start": 0, "stop": horizon, "dose": dose}]}},
            "provenance": {"arm": "tki"}}


@pytest.fixture
def schedules(tmp_path: Path) -> Path:
    directory = tmp_path / "schedules"
    directory.mkdir()
    (directory / "control.json").write_text(json.dumps(control_schedule(), indent=2))
    (directory / "tki.json").write_text(json.dumps(drug_schedule(), indent=2))
    return directory


def write(tmp_path: Path, text: str, name: str = "observations.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def refused(tmp_path: Path, schedules: Path, text: str, *fragments: str,
            volume_unit: str | None = None) -> str:
    """Read ``text`` as a data file; it must be refused with every fragment in the message."""
    path = write(tmp_path, text)
    with pytest.raises(ObservationError) as caught:
        read_observations(path, schedules, volume_unit=volume_unit)
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


GOOD = (
    "# a comment line before the header\n"
    "subject,arm,day,volume_mm3,cage,note\n"
    "c1,control,0,80.5,A,first\n"
    "c1,control,3,105,A,\n"
    "# a comment between the rows\n"
    "c1,control,7.5,1.2e2,A,x\n"
    "t1,tki,0,90,B,y\n"
    "\n"
    "t1,tki,4,60.25,B,z\n"
    "c2,control,0,0,C,zero is kept\n"
    "c2,control,10,33,C,\n"
)


# -- a good file ----------------------------------------------------------------------------------
def test_good_file_parses(tmp_path, schedules):
    path = write(tmp_path, GOOD)
    observations = read_observations(path, schedules)

    assert isinstance(observations, Observations)
    assert all(isinstance(s, Subject) for s in observations.subjects)
    assert [s.name for s in observations.subjects] == ["c1", "t1", "c2"]
    assert [s.arm for s in observations.subjects] == ["control", "tki", "control"]
    assert observations.arms == ["control", "tki"]
    assert observations.n_measurements == 7
    by_name = {s.name: s for s in observations.subjects}
    np.testing.assert_array_equal(by_name["c1"].days, [0.0, 3.0, 7.5])
    np.testing.assert_array_equal(by_name["c1"].volumes, [80.5, 105.0, 120.0])
    np.testing.assert_array_equal(by_name["t1"].days, [0.0, 4.0])
    np.testing.assert_array_equal(by_name["t1"].volumes, [90.0, 60.25])
    np.testing.assert_array_equal(by_name["c2"].volumes, [0.0, 33.0])
    for subject in observations.subjects:
        assert subject.days.dtype.kind == "f" and subject.volumes.dtype.kind == "f"
    assert observations.source == str(path)


def test_schedules_are_read_per_arm(tmp_path, schedules):
    observations = read_observations(write(tmp_path, GOOD), schedules)
    assert set(observations.schedules) == {"control", "tki"}
    control, tki = observations.schedules["control"], observations.schedules["tki"]
    assert isinstance(control, Schedule) and isinstance(tki, Schedule)
    assert dict(control.doses) == {}
    assert control.horizon == 24 and control.grid_step == 1
    np.testing.assert_array_equal(tki.doses["osimertinib"], np.full(24, 5.0))
    assert tki.dose_units["osimertinib"] == "mg/kg"


def test_only_the_arms_in_the_data_need_schedules(tmp_path, schedules):
    (schedules / "tki.json").unlink()
    observations = read_observations(
        write(tmp_path, f"{HEADER}\nc1,control,0,10\nc1,control,1,11\n"), schedules)
    assert list(observations.schedules) == ["control"]


def test_digest_is_the_sha256_prefix_of_the_file_bytes(tmp_path, schedules):
    path = write(tmp_path, GOOD)
    expected = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    assert read_observations(path, schedules).digest == expected
    # one byte more (a trailing comment) changes the digest but not the data
    changed = write(tmp_path, GOOD + "# trailing\n", name="changed.csv")
    other = read_observations(changed, schedules)
    assert other.digest == hashlib.sha256(changed.read_bytes()).hexdigest()[:12]
    assert other.digest != expected
    assert other.n_measurements == 7


def test_columns_may_come_in_any_order(tmp_path, schedules):
    text = "volume_mm3,day,extra,arm,subject\n10,0,q,control,m1\n20,2,q,control,m1\n"
    (subject,) = read_observations(write(tmp_path, text), schedules).subjects
    assert subject.name == "m1" and subject.arm == "control"
    np.testing.assert_array_equal(subject.days, [0.0, 2.0])
    np.testing.assert_array_equal(subject.volumes, [10.0, 20.0])


def test_select_keeps_only_the_named_subjects(tmp_path, schedules):
    observations = read_observations(write(tmp_path, GOOD), schedules)
    chosen = observations.select({"c2", "t1", "not-there"})
    assert [s.name for s in chosen.subjects] == ["t1", "c2"]
    assert chosen.n_measurements == 4
    assert chosen.arms == ["tki", "control"]
    assert chosen.source == observations.source and chosen.digest == observations.digest
    assert chosen.schedules is observations.schedules
    assert observations.select(set()).subjects == ()
    # the original is untouched
    assert len(observations.subjects) == 3


# -- units ----------------------------------------------------------------------------------------
def test_unit_comment_cm3_multiplies_by_1000(tmp_path, schedules):
    text = f"# volume unit: cm^3\n{HEADER}\nm1,control,0,0.25\nm1,control,3,1.5\n"
    (subject,) = read_observations(write(tmp_path, text), schedules).subjects
    np.testing.assert_allclose(subject.volumes, [250.0, 1500.0], rtol=1e-12)
    np.testing.assert_array_equal(subject.days, [0.0, 3.0])


@pytest.mark.parametrize("comment", ["#volume unit=cm^3", "#  Volume Unit :  cm^3  ",
                                     "# VOLUME UNIT: cm**3"])
def test_unit_comment_spellings(tmp_path, schedules, comment):
    text = f"{HEADER}\n{comment}\nm1,control,0,2\n"
    (subject,) = read_observations(write(tmp_path, text), schedules).subjects
    np.testing.assert_allclose(subject.volumes, [2000.0], rtol=1e-12)


def test_unit_argument_overrides_the_comment(tmp_path, schedules):
    text = f"# volume unit: cm^3\n{HEADER}\nm1,control,0,2\n"
    path = write(tmp_path, text)
    (as_mm3,) = read_observations(path, schedules, volume_unit="mm^3").subjects
    np.testing.assert_allclose(as_mm3.volumes, [2.0], rtol=1e-12)
    (as_ml,) = read_observations(path, schedules, volume_unit="mL").subjects
    np.testing.assert_allclose(as_ml.volumes, [2000.0], rtol=1e-12)
    # and the other way round: a mm^3 comment, a cm^3 argument
    plain = write(tmp_path, f"# volume unit: mm^3\n{HEADER}\nm1,control,0,2\n", name="b.csv")
    (as_cm3,) = read_observations(plain, schedules, volume_unit="cm^3").subjects
    np.testing.assert_allclose(as_cm3.volumes, [2000.0], rtol=1e-12)


def test_default_unit_is_mm3(tmp_path, schedules):
    (subject,) = read_observations(write(tmp_path, f"{HEADER}\nm1,control,0,2\n"),
                                   schedules).subjects
    np.testing.assert_array_equal(subject.volumes, [2.0])


def test_unknown_unit_is_refused(tmp_path, schedules):
    message = refused(tmp_path, schedules, f"# volume unit: blorgs\n{HEADER}\nm1,control,0,2\n",
                      "volume unit", "unknown unit 'blorgs'", "use a pint unit such as 'mm^3'")
    assert str(tmp_path / "observations.csv") in message


def test_unit_of_the_wrong_dimension_is_refused(tmp_path, schedules):
    refused(tmp_path, schedules, f"{HEADER}\nm1,control,0,2\n",
            "unit 'mm' cannot be converted to 'mm^3'", "give it in 'mm^3' or a compatible unit",
            volume_unit="mm")
    refused(tmp_path, schedules, f"# volume unit: kg\n{HEADER}\nm1,control,0,2\n",
            "unit 'kg' cannot be converted to 'mm^3'", "compatible unit")


# -- refusals -------------------------------------------------------------------------------------
def test_negative_volume(tmp_path, schedules):
    refused(tmp_path, schedules, f"{HEADER}\nm1,control,0,10\nm1,control,1,-0.5\n",
            "line 3", "volume -0.5 is negative", "give a volume of 0 or more")


@pytest.mark.parametrize("column,text", [("volume", "abc"), ("volume", ""), ("day", "d3")])
def test_non_numeric_value(tmp_path, schedules, column, text):
    row = f"m1,control,1,{text}" if column == "volume" else f"m1,control,{text},5"
    refused(tmp_path, schedules, f"{HEADER}\nm1,control,0,10\n{row}\n",
            "line 3", f"{column} {text!r} is not a number", "give a number")


@pytest.mark.parametrize("column,text", [("volume", "nan"), ("volume", "inf"),
                                         ("volume", "-Infinity"), ("day", "NaN"),
                                         ("day", "inf")])
def test_non_finite_value(tmp_path, schedules, column, text):
    row = f"m1,control,1,{text}" if column == "volume" else f"m1,control,{text},5"
    refused(tmp_path, schedules, f"{HEADER}\nm1,control,0,10\n{row}\n",
            "line 3", f"{column} {text!r} is not finite", "give a finite number")


def test_day_before_zero(tmp_path, schedules):
    refused(tmp_path, schedules, f"{HEADER}\nm1,control,-1,10\n",
            "line 2", "day -1 is before the first treatment day (day 0)",
            "drop pre-treatment rows or shift the days")


def test_days_must_increase_within_a_subject(tmp_path, schedules):
    refused(tmp_path, schedules,
            f"{HEADER}\nm1,control,0,10\nm1,control,5,12\nm2,control,1,3\nm1,control,4,11\n",
            "line 5", "day 4 of subject 'm1' does not follow its day 5",
            "sort each subject's rows by day, one row per day")


def test_duplicate_day_is_refused(tmp_path, schedules):
    refused(tmp_path, schedules, f"{HEADER}\nm1,control,0,10\nm1,control,3,12\nm1,control,3,13\n",
            "line 4", "day 3 of subject 'm1' does not follow its day 3", "one row per day")


def test_interleaved_subjects_with_increasing_days_are_accepted(tmp_path, schedules):
    text = f"{HEADER}\nm1,control,0,10\nm2,control,0,3\nm1,control,2,11\nm2,control,1,4\n"
    subjects = read_observations(write(tmp_path, text), schedules).subjects
    np.testing.assert_array_equal(subjects[0].days, [0.0, 2.0])
    np.testing.assert_array_equal(subjects[1].days, [0.0, 1.0])


def test_subject_in_two_arms(tmp_path, schedules):
    refused(tmp_path, schedules, f"{HEADER}\nm1,control,0,10\nm1,tki,1,12\n",
            "line 3", "subject 'm1' is in arm 'tki' here and in 'control' before",
            "give each subject one arm")


def test_arm_without_a_schedule(tmp_path, schedules):
    message = refused(tmp_path, schedules, f"{HEADER}\nm1,control,0,10\nm2,nope,0,12\n",
                      "arm 'nope' has no schedule", "is missing; add it",
                      "no drugs for a control arm")
    assert str(schedules / "nope.json") in message


def test_schedule_directory_missing(tmp_path, schedules):
    missing = tmp_path / "no_such_dir"
    path = write(tmp_path, f"{HEADER}\nm1,control,0,10\n")
    with pytest.raises(ObservationError) as caught:
        read_observations(path, missing)
    message = str(caught.value)
    assert f"schedule directory {str(missing)!r} does not exist or is not a directory" in message
    assert "give the directory holding <arm>.json files" in message
    # a file where the directory should be is refused the same way
    with pytest.raises(ObservationError, match="does not exist or is not a directory"):
        read_observations(path, path)


def test_missing_column(tmp_path, schedules):
    refused(tmp_path, schedules, "subject,arm,day,volume\nm1,control,0,10\n",
            "missing column(s) ['volume_mm3']",
            "the header needs subject,arm,day,volume_mm3")
    refused(tmp_path, schedules, "arm,volume_mm3\ncontrol,10\n",
            "missing column(s) ['subject', 'day']", "the header needs")


@pytest.mark.parametrize("row,count", [("m1,control,1", 3), ("m1,control,1,5,extra", 5)])
def test_wrong_number_of_fields(tmp_path, schedules, row, count):
    refused(tmp_path, schedules, f"{HEADER}\nm1,control,0,10\n{row}\n",
            "line 3", f"{count} fields for 4 columns", "give one value per column")


@pytest.mark.parametrize("row", [",control,0,10", "  ,control,0,10", "m1,,0,10", "m1, ,0,10"])
def test_empty_subject_or_arm(tmp_path, schedules, row):
    refused(tmp_path, schedules, f"{HEADER}\n{row}\n",
            "line 2", "empty subject or arm", "name both")


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n# and another\n"])
def test_empty_file(tmp_path, schedules, text):
    refused(tmp_path, schedules, text, "no header and no rows",
            "give the columns subject,arm,day,volume_mm3")


def test_header_without_rows(tmp_path, schedules):
    refused(tmp_path, schedules, f"# comment\n{HEADER}\n# another\n\n",
            "no data rows under the header")


def test_data_file_missing(tmp_path, schedules):
    path = tmp_path / "absent.csv"
    with pytest.raises(ObservationError) as caught:
        read_observations(path, schedules)
    assert f"data file {str(path)!r} does not exist" in str(caught.value)
    assert "check the path" in str(caught.value)


def test_data_file_is_a_directory(tmp_path, schedules):
    with pytest.raises(ObservationError) as caught:
        read_observations(tmp_path, schedules)
    assert f"data file {str(tmp_path)!r} is a directory" in str(caught.value)
    assert "give a CSV file" in str(caught.value)


def test_error_names_the_line_counting_comments_and_blank_lines(tmp_path, schedules):
    lines = ["# comment 1", "", HEADER, "m1,control,0,10", "# comment 2", "",
             "m1,control,2,11", "m1,control,3,-4", "m1,control,9,12"]
    path = write(tmp_path, "\n".join(lines) + "\n")
    expected_line = lines.index("m1,control,3,-4") + 1
    assert expected_line == 8
    with pytest.raises(ObservationError) as caught:
        read_observations(path, schedules)
    assert str(caught.value).startswith(f"{path}, line {expected_line}: volume -4 is negative")


def test_first_bad_row_is_the_one_reported(tmp_path, schedules):
    text = f"{HEADER}\nm1,control,0,10\nm1,control,1,x\nm1,control,2,-1\n"
    message = refused(tmp_path, schedules, text, "line 3", "'x' is not a number")
    assert "line 4" not in message


def test_observation_error_is_a_value_error():
    from models.errors import InputError

    assert issubclass(ObservationError, InputError)
    assert issubclass(ObservationError, ValueError)


# -- the shipped dataset ---------------------------------------------------------------------------
def _readme_counts() -> dict[str, tuple[int, int, str]]:
    """The per-arm rows of the README's Counts table: subjects, measurements, days."""
    counts = {}
    for line in (PDX / "README.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 7 and cells[0].startswith("p") and cells[2].isdigit():
            counts[cells[0]] = (int(cells[2]), int(cells[3]), cells[4])
    return counts


def _csv_by_arm() -> dict[str, dict]:
    """Per-arm subjects, measurement count and day range, from the CSV with the csv module."""
    arms: dict[str, dict] = defaultdict(lambda: {"subjects": set(), "n": 0, "days": []})
    with open(PDX / "observations.csv", newline="") as handle:
        rows = csv.DictReader(line for line in handle if not line.startswith("#"))
        for row in rows:
            arm = arms[row["arm"]]
            arm["subjects"].add(row["subject"])
            arm["n"] += 1
            arm["days"].append(float(row["day"]))
    return arms


@pytest.fixture(scope="module")
def shipped() -> Observations:
    return read_observations(PDX / "observations.csv", PDX / "schedules")


def test_shipped_dataset_totals(shipped):
    assert len(shipped.subjects) == 301
    assert shipped.n_measurements == 3546
    assert len(shipped.arms) == 45
    assert set(shipped.schedules) == set(shipped.arms)
    assert all(np.all(s.volumes > 0) for s in shipped.subjects)  # README: no zero volumes
    assert all(np.all(np.diff(s.days) > 0) and s.days[0] >= 0 for s in shipped.subjects)
    raw = (PDX / "observations.csv").read_bytes()
    assert shipped.digest == hashlib.sha256(raw).hexdigest()[:12]


@pytest.mark.parametrize("arm", ["p11_control", "p29_afatinib"])
def test_shipped_dataset_arms_match_the_readme_and_the_csv(shipped, arm):
    subjects, measurements, days = _readme_counts()[arm]
    first, last = (float(d) for d in days.split("-"))
    independent = _csv_by_arm()[arm]
    assert len(independent["subjects"]) == subjects
    assert independent["n"] == measurements
    assert (min(independent["days"]), max(independent["days"])) == (first, last)

    mine = [s for s in shipped.subjects if s.arm == arm]
    assert len(mine) == subjects
    assert {s.name for s in mine} == independent["subjects"]
    assert sum(s.days.size for s in mine) == measurements
    assert min(s.days[0] for s in mine) == first
    assert max(s.days[-1] for s in mine) == last
    # README: a schedule's horizon is the arm's last observation day (ceil, at least 1)
    assert shipped.schedules[arm].horizon == max(1, math.ceil(last))


def test_readme_counts_table_agrees_with_the_csv_for_every_arm(shipped):
    table, independent = _readme_counts(), _csv_by_arm()
    assert len(table) == 45
    assert set(table) == set(independent) == set(shipped.arms)
    assert sum(t[0] for t in table.values()) == 301
    assert sum(t[1] for t in table.values()) == 3546
    for arm, (subjects, measurements, _) in table.items():
        assert (len(independent[arm]["subjects"]), independent[arm]["n"]) == (
            subjects, measurements), arm


def test_shipped_volumes_match_the_csv(shipped):
    with open(PDX / "observations.csv", newline="") as handle:
        rows = list(csv.DictReader(line for line in handle if not line.startswith("#")))
    expected: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        expected[row["subject"]].append(float(row["volume_mm3"]))
    assert {s.name: s.volumes.tolist() for s in shipped.subjects} == dict(expected)


# -- encodings and quoting ------------------------------------------------------------------------
def test_a_byte_order_mark_is_not_part_of_the_header(tmp_path, schedules):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbfsubject,arm,day,volume_mm3\ns1,control,0,10\n")
    observations = read_observations(path, schedules)
    assert [s.name for s in observations.subjects] == ["s1"]
    assert observations.subjects[0].volumes.tolist() == [10.0]


def test_bytes_that_are_not_utf8_are_refused(tmp_path, schedules):
    path = tmp_path / "latin.csv"
    path.write_bytes(b"subject,arm,day,volume_mm3\n\xff\xfe,control,1,3\n")
    with pytest.raises(ObservationError, match="is not UTF-8 text; save the file as UTF-8"):
        read_observations(path, schedules)


def test_a_quoted_line_break_is_refused_with_its_line(tmp_path, schedules):
    refused(tmp_path, schedules, 'subject,arm,day,volume_mm3\ns1,"control\n",0,10\n',
            "line 2", "2 fields for 4 columns", "give one value per column")
