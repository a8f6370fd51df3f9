"""Exports of a schedule (and, for SBML, the model) that other simulators read.

==========  ==========================================  ===========================================
format      written                                     read by
==========  ==========================================  ===========================================
json        schedule JSON + ``provenance.export``       ``Schedule.read``; any tool, with
                                                        ``schemas/schedule-v1.schema.json``
nonmem      event table CSV + ``<name>.json`` sidecar   NONMEM, mrgsolve (zero-order daily inputs)
sbml        SBML L3V2: model, parameters, dose events   libroadrunner, COPASI, any SBML simulator
physicell   directory: ``<drug>_dose_schedule.csv``     PhysiCell with PhysiPKPD
            per drug + ``physipkpd_dosing.xml``
==========  ==========================================  ===========================================

Every file is written atomically (temporary file beside it, then ``os.replace``) and only once
all of an export's files are ready, so an error leaves nothing half-written. The committed JSON
Schema is regenerated with ``python -m optimiser.export.schedule_json``.
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path

from models.model import Model
from models.parameters import ParameterError, ParameterSet
from models.schedule import Schedule
from optimiser.export.common import ExportError, write_files

__all__ = ["FORMATS", "ExportError", "default_name", "export_schedule", "require_format"]

# format: (default file or directory name, module with ``render``); modules load on first use,
# so ``python -m optimiser.export.schedule_json`` runs without a half-imported package.
_EXPORTERS = {
    "json": ("schedule.v1.json", "schedule_json"),
    "nonmem": ("events.csv", "event_table"),
    "sbml": ("model.sbml.xml", "sbml"),
    "physicell": ("physicell", "physicell"),
}
FORMATS: tuple[str, ...] = tuple(_EXPORTERS)


def default_name(fmt: str) -> str:
    """File (directory for physicell) that ``optimise --export FMT --out DIR`` writes in DIR;
    none of them is a name the CLI itself writes there (``schedule.json``)."""
    return _exporter(fmt)[0]


def require_format(fmt: str) -> None:
    """Refuse an unknown format, or one whose extra is not installed, up front: ``optimise
    --export`` exports last, and must not find out after the solve and the other outputs."""
    _exporter(fmt)
    if fmt == "sbml":
        from optimiser.export.sbml import _libsbml

        _libsbml()


def export_schedule(schedule: Schedule, model: Model, parameters: ParameterSet, fmt: str,
                    out: Path) -> list[Path]:
    """Write ``schedule`` (under ``model`` and ``parameters``) as ``fmt`` to ``out`` (a file, or
    a directory for physicell) and return every file written."""
    render = import_module(f"optimiser.export.{_exporter(fmt)[1]}").render
    out = Path(out)
    if fmt != "physicell" and out.is_dir():
        raise ExportError(f"--out {str(out)!r} is a directory; give a file name for {fmt}, e.g. "
                          f"{str(out / default_name(fmt))!r}")
    if fmt == "physicell" and out.exists() and not out.is_dir():
        raise ExportError(f"--out {str(out)!r} is a file; physicell writes a directory of files,"
                          " give a directory")
    try:
        files = render(schedule, model, parameters, out)
    except ParameterError as error:  # e.g. the parameter set lacks a model parameter
        raise ExportError(f"{error}") from None
    return write_files(files)


def _exporter(fmt: str) -> tuple[str, str]:
    if fmt not in _EXPORTERS:
        raise ExportError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return _EXPORTERS[fmt]
