"""The schedule JSON Schema and the reader are one definition: they refuse the same documents.

Documents are generated (valid ones, then up to three mutations: a value replaced by a wrong type,
a number as a string, a negative, NaN, Infinity or an overflowing number, a key deleted or added,
another schema_version ...). Each is judged twice, independently:

* the committed schema, by jsonschema, on the text parsed as I-JSON (RFC 7493: unique names,
  numbers that are finite doubles; NaN and Infinity are not JSON at all), then the grid rules no
  JSON Schema can state, computed here in exact fractions;
* ``Schedule.from_json``, the reader every command uses.

The reader must accept exactly the documents both judgements accept, and refuse every other with
one line that names the file and the field (or, for a grid rule, the drug or the horizon).
``HYPOTHESIS_MAX_EXAMPLES=2000`` runs the long version (tests/conftest.py).
"""

import doctest
import itertools
import json
import math
import re
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import event, given
from hypothesis import strategies as st

import models.schedule
from models.schedule import MAX_GRID_INTERVALS, MAX_HORIZON_DAYS, Schedule, ScheduleError
from optimiser.export.schedule_json import SCHEMA_PATH

from .conftest import ARMS, REPO

jsonschema = pytest.importorskip("jsonschema")
VALIDATOR = jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text()))
COMMITTED = sorted([*ARMS.glob("*.json"),
                    *(REPO / "experiments" / "data").glob("**/schedules/*.json")])

ALPHABET = "abcXYZ019_- é"  # no '.' or ':', so a message's field path parses
NAME = st.text(ALPHABET, max_size=6)
OVERFLOW = "__overflow__"  # written as 1e400: valid JSON text, no finite double
SPECIAL = [None, True, False, "25", "1", "", "day", "hour", [], {}, 0, 1, 1.0, 2, -1, -0.5,
           4000, 1e6, 1e-10, 5e-324, math.nan, math.inf, -math.inf, OVERFLOW]
# Numbers are multiples of 1/8 (exact in binary): on or off a grid of 0.25-2 d without doubt.
EIGHTHS = st.integers(-16, 1000).map(lambda k: k / 8)
BLOCK = st.fixed_dictionaries({"start": EIGHTHS, "stop": EIGHTHS, "dose": EIGHTHS})
VALUES = st.one_of(st.sampled_from(SPECIAL), EIGHTHS, st.integers(-5, 300), NAME, BLOCK,
                   st.fixed_dictionaries({"unit": NAME, "blocks": st.lists(BLOCK, max_size=2)}))


@st.composite
def valid_documents(draw) -> dict:
    """A schedule every rule accepts: disjoint blocks on the grid, in any order."""
    step = draw(st.sampled_from([0.25, 0.5, 1, 2.0]))
    n = draw(st.integers(1, 60))
    drugs = {}
    for name in draw(st.lists(st.text(ALPHABET, min_size=1, max_size=6), min_size=1, max_size=3,
                              unique=True)):
        edges = sorted(draw(st.sets(st.integers(0, n), min_size=1, max_size=6)))
        blocks = [{"start": a * step, "stop": b * step,
                   "dose": draw(st.integers(0, 100) | st.floats(0, 1e6))}
                  for a, b in zip(edges[::2], edges[1::2], strict=False)]
        drugs[name] = {"unit": draw(st.sampled_from(["mg/kg", "g/kg", "ug/kg"])),
                       "blocks": draw(st.permutations(blocks))}
    document = {"schema_version": 1, "grid_step": step, "horizon": n * step, "drugs": drugs}
    if draw(st.booleans()):
        document["time_unit"] = "day"
    provenance = draw(st.sampled_from(["absent", None, {}, {"seed": 3, "scores": [0.5, 2]}]))
    if provenance != "absent":
        document["provenance"] = provenance
    return document


def _nodes(value, loc=()):
    yield loc, value
    items = value.items() if isinstance(value, dict) else (
        enumerate(value) if isinstance(value, list) else ())
    for key, item in items:
        yield from _nodes(item, (*loc, key))


def _node(document, loc):
    for key in loc:
        document = document[key]
    return document


def _replaced(document, loc, value):
    """The document with the node at ``loc`` replaced (the whole document when loc is ())."""
    if not loc:
        return value
    _node(document, loc[:-1])[loc[-1]] = value
    return document


@st.composite
def documents(draw) -> dict:
    """A valid document after 0-3 mutations (replace a value, give a number another number or
    another type, make it NaN, infinite or overflowing, delete a member, add one)."""
    document = draw(valid_documents())
    for _ in range(draw(st.sampled_from([0, 1, 1, 2, 3]))):  # 0: the valid document itself
        nodes = list(_nodes(document))
        kind = draw(st.sampled_from(["replace", "renumber", "renumber", "renumber", "retype",
                                     "not finite", "delete", "add"]))
        numbers = [loc for loc, value in nodes
                   if isinstance(value, int | float) and not isinstance(value, bool)]
        if kind == "renumber" and numbers:  # mostly still schema-valid: the grid rules' turn
            loc = draw(st.sampled_from(numbers))
            value = _node(document, loc)
            near = st.integers(-8, 8).map(lambda k, v=value: v + k / 8)
            document = _replaced(document, loc, draw(
                near | EIGHTHS | st.sampled_from(SPECIAL[10:])))
        elif kind == "retype" and numbers:  # the same number as a string, a bool, null, a list
            loc = draw(st.sampled_from(numbers))
            value = _node(document, loc)
            document = _replaced(document, loc, draw(st.sampled_from(
                [str(value), f"{value:g}", bool(value), None, [value]])))
        elif kind == "not finite" and numbers:  # also where no type is declared: provenance
            document = _replaced(document, draw(st.sampled_from(numbers)),
                                 draw(st.sampled_from([math.nan, math.inf, -math.inf, OVERFLOW])))
        elif kind == "replace":
            document = _replaced(document, draw(st.sampled_from(nodes))[0], draw(VALUES))
        elif kind == "delete" and len(nodes) > 1:
            loc, _ = draw(st.sampled_from(nodes[1:]))
            del _node(document, loc[:-1])[loc[-1]]
        elif kind == "add":
            objects = [value for _, value in nodes if isinstance(value, dict)]
            if objects:
                draw(st.sampled_from(objects))[draw(NAME)] = draw(VALUES)
    return document


def _text(document) -> str:
    return json.dumps(document, allow_nan=True).replace(f'"{OVERFLOW}"', "1e400")


def _i_json(text: str):
    """The text parsed as I-JSON, or None: parse hooks, not the reader's walk."""
    def finite(literal: str) -> float:
        value = float(literal)
        if not math.isfinite(value):
            raise ValueError(literal)
        return value

    def bounded(literal: str) -> int:
        value = int(literal)
        if abs(value) > sys.float_info.max:
            raise ValueError(literal)
        return value

    def not_json(literal: str):
        raise ValueError(literal)

    def unique(pairs):
        if len({key for key, _ in pairs}) < len(pairs):
            raise ValueError("a name twice")
        return dict(pairs)

    try:
        return True, json.loads(text, parse_float=finite, parse_int=bounded,
                                parse_constant=not_json, object_pairs_hook=unique)
    except ValueError:
        return False, None


def _grid_problem(document: dict) -> str | None:
    """What breaks a grid rule, in the reader's order ('horizon' or the drug), or None.
    Exact fractions: the generated numbers are binary fractions, on or off the grid exactly."""
    step = Fraction(document["grid_step"])
    n = Fraction(document["horizon"]) / step
    if n.denominator != 1 or n > MAX_GRID_INTERVALS or document["horizon"] > MAX_HORIZON_DAYS:
        return "horizon"
    for drug, entry in document["drugs"].items():
        spans = sorted((Fraction(block["start"]) / step, Fraction(block["stop"]) / step)
                       for block in entry["blocks"])
        on_grid = all(a.denominator == b.denominator == 1 and a < b <= n for a, b in spans)
        if not on_grid or any(b > a for (_, b), (a, _) in itertools.pairwise(spans)):
            return repr(drug)
    return None


def _names_a_field(location: str, document) -> bool:
    """The message's field is in the document (a missing key: its object is)."""
    if location == "document":
        return True
    key = re.fullmatch(r"(.*) key '(.*)'", location)
    parts = key.group(1).split(".") if key else location.split(".")
    for i, part in enumerate(parts):
        if isinstance(document, dict) and part in document:
            document = document[part]
        elif isinstance(document, list) and part.isdigit() and int(part) < len(document):
            document = document[int(part)]
        else:
            return not key and i == len(parts) - 1 and isinstance(document, dict)
    return not key or key.group(2) in document


@given(documents())
def test_the_reader_refuses_exactly_what_the_schema_and_the_grid_rules_refuse(document):
    text = _text(document)
    parsed, instance = _i_json(text)
    schema_valid = parsed and VALIDATOR.is_valid(instance)
    problem = _grid_problem(instance) if schema_valid else None
    try:
        schedule, message = Schedule.from_json(text, origin="s.json"), None
    except ScheduleError as error:
        schedule, message = None, str(error)
    if not schema_valid:
        event("refused by the schema" if parsed else "refused: not I-JSON")
        assert message is not None, f"the schema refuses, the reader accepts: {text}"
        assert "\n" not in message and message.startswith("s.json: "), message
        assert _names_a_field(message.split(": ")[1], document), (message, text)
    elif problem:
        event("schema-valid, refused by a grid rule")
        assert message is not None, f"{problem} breaks a grid rule, the reader accepts: {text}"
        assert "\n" not in message and message.startswith("s.json: ") and problem in message
    else:
        event("accepted")
        assert message is None, f"the schema and grid rules accept, the reader: {message}"
        written = json.loads(schedule.to_json())
        VALIDATOR.validate(written)
        assert Schedule.from_json(schedule.to_json()).digest == schedule.digest
        for drug, entry in instance["drugs"].items():  # the doses, against the blocks
            given_total = sum(b["dose"] * (b["stop"] - b["start"]) for b in entry["blocks"])
            total = schedule.doses[drug].sum() * schedule.grid_step
            assert total == pytest.approx(given_total, rel=1e-12, abs=1e-300)
            assert schedule.dose_units[drug] == entry["unit"]


@pytest.mark.parametrize(("change", "field"), [
    ({"drugs": {"osimertinib": {"unit": "mg/kg", "blocks": [
        {"start": 0, "stop": 4, "dose": "25"}]}}}, "drugs.osimertinib.blocks.0.dose"),
    ({"schema_version": None}, "schema_version"),
    ({"grid_step": True}, "grid_step"),
])
def test_the_issues_cases_are_refused_by_both(change, field):
    """"dose": "25" was accepted by the reader (lax pydantic) though the schema refused it;
    schema_version was optional in both."""
    document = json.loads((ARMS / "vehicle.json").read_text()) | change
    assert not VALIDATOR.is_valid(document)
    with pytest.raises(ScheduleError, match=rf"^s\.json: {re.escape(field)}: "):
        Schedule.from_json(json.dumps(document), origin="s.json")
    del document["schema_version"]
    assert any("'schema_version' is a required property" in error.message
               for error in VALIDATOR.iter_errors(document))


def _keywords(schema: dict) -> set[str]:
    """Every keyword the schema uses: keys of schema objects, not of property maps or data."""
    found = set(schema)
    for key, value in schema.items():
        if key in ("properties", "$defs", "patternProperties", "dependentSchemas"):
            for sub in value.values():
                found |= _keywords(sub)
        elif key in ("anyOf", "allOf", "oneOf", "prefixItems"):
            for sub in value:
                found |= _keywords(sub)
        elif isinstance(value, dict) and key not in ("const", "default", "examples"):
            found |= _keywords(value)
    return found


def test_the_schema_uses_only_standard_2020_12_keywords():
    """No private "version" keyword: the version is in $id, the title and schema_version."""
    from jsonschema_specifications import REGISTRY

    vocabularies = ("core", "applicator", "unevaluated", "validation", "meta-data",
                    "format-annotation", "content")
    standard = set().union(*(
        REGISTRY[f"https://json-schema.org/draft/2020-12/meta/{name}"].contents["properties"]
        for name in vocabularies))
    schema = json.loads(SCHEMA_PATH.read_text())
    assert _keywords(schema) <= standard, _keywords(schema) - standard
    assert "schema_version" in schema["required"]


@pytest.mark.parametrize("path", COMMITTED, ids=[p.stem for p in COMMITTED])
def test_every_committed_schedule_is_valid_and_read(path: Path):
    document = json.loads(path.read_text())
    VALIDATOR.validate(document)
    schedule = Schedule.read(path)
    assert set(schedule.doses) == set(document["drugs"])
    assert schedule.horizon == document["horizon"]


def test_the_committed_schedules_are_all_found():
    assert len(COMMITTED) == 50  # 5 paper arms, 45 PDX arms


def test_the_documented_pandas_recipe_gives_one_row_per_block():
    """The module docstring's one-line recipe (a doctest) reads drugs as a long table."""
    failed, attempted = doctest.testmod(models.schedule, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert (failed, attempted) == (0, 3)


def test_the_written_json_keeps_zero_dose_drugs_and_units():
    """A drug listed with no blocks survives the round trip (the form keeps a unit per drug)."""
    schedule = Schedule(1.0, 10.0, {"a": np.zeros(10), "b": np.r_[np.ones(3), np.zeros(7)]},
                        {"a": "mg/kg", "b": "g/kg"})
    document = json.loads(schedule.to_json())
    VALIDATOR.validate(document)
    assert document["drugs"] == {"a": {"unit": "mg/kg", "blocks": []},
                                 "b": {"unit": "g/kg", "blocks": [
                                     {"start": 0.0, "stop": 3.0, "dose": 1.0}]}}
