"""Schedule JSON (the project's own format) and its versioned JSON Schema.

The export is ``Schedule.to_json()`` with the export provenance in its ``provenance`` field, so
``Schedule.read`` reads it back unchanged. The schema is generated from the pydantic model
(``models.schedule.ScheduleDocument``, which ``Schedule.from_json`` validates with) and committed
at ``schemas/schedule-v1.schema.json`` so that tools without Python can validate schedules; a
test fails if the two drift apart. After changing ``ScheduleDocument``, rewrite the committed
file with (and the report schema, which embeds it, with ``python -m optimiser.report``)::

    python -m optimiser.export.schedule_json
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from models.model import Model
from models.parameters import ParameterSet
from models.schedule import SCHEDULE_SCHEMA_VERSION, Schedule, ScheduleDocument
from optimiser.export.common import model_doses, provenance

FORMAT_VERSION = f"schedule-v{SCHEDULE_SCHEMA_VERSION}"
SCHEMA_ID = f"urn:persister-opt:schema:schedule:v{SCHEDULE_SCHEMA_VERSION}"
SCHEMA_PATH = Path(__file__).with_name("schemas") / f"{FORMAT_VERSION}.schema.json"


def schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the schedule document, generated from pydantic: the
    reader validates with the same model, so the two refuse the same documents. Only standard
    keywords: the version is in ``$id``, the title and ``schema_version``'s ``const``."""
    generated = ScheduleDocument.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID,
            **generated, "title": f"persister-opt schedule, version {SCHEDULE_SCHEMA_VERSION}"}


def schema_text() -> str:
    """The committed file's exact text (stable key order, trailing newline)."""
    return json.dumps(schema(), indent=2) + "\n"


def render(schedule: Schedule, model: Model, parameters: ParameterSet,
           out: Path) -> dict[Path, str]:
    """Doses stay in the schedule's own units (the format carries a unit per drug); the model
    only vets them, as the optimiser would."""
    model_doses(schedule, model)
    record = provenance(schedule, model, parameters, "json", FORMAT_VERSION)
    return {out: replace(schedule, provenance=record).to_json() + "\n"}


def main() -> None:
    SCHEMA_PATH.write_text(schema_text())
    print(f"wrote {SCHEMA_PATH}")


if __name__ == "__main__":
    main()
