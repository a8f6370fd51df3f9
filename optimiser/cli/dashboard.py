"""``optimise dashboard --study NAME [--storage URL]``: watch a study in optuna-dashboard."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from optimiser.cli.common import UserError, app, guarded, stdout


@app.command("dashboard")
def dashboard_command(
    ctx: typer.Context,
    study: Annotated[str | None, typer.Option(
        "--study", help="study name, as given to optimise --study")] = None,
    storage: Annotated[str | None, typer.Option(
        "--storage", help="Optuna storage URL (default: SQLite file in --runs-dir)")] = None,
    runs_dir: Annotated[Path | None, typer.Option(
        "--runs-dir", help="directory of the default study file (default: runs)")] = None,
    port: Annotated[int, typer.Option(
        "--port", min=0, max=65535, help="port on 127.0.0.1 (0: any free port)")] = 8080,
) -> None:
    """Serve a study's live dashboard (optuna-dashboard) on 127.0.0.1 until Ctrl-C."""
    outer = ctx.parent.params
    guarded(_run_dashboard)(study or outer.get("study"), storage or outer.get("storage"),
                            runs_dir or outer.get("runs_dir") or Path("runs"), port)


def _run_dashboard(study: str | None, storage: str | None, runs_dir: Path, port: int) -> None:
    from optimiser.dashboard import serve
    from optimiser.search import SearchSettings

    if not study:
        raise UserError("give the study to show: optimise dashboard --study NAME")

    def ready(address: str) -> None:
        stdout.print(f"dashboard of study {study}: {address} (Ctrl-C stops it)",
                     soft_wrap=True, highlight=False)

    serve(SearchSettings(study=study, storage=storage, runs_dir=runs_dir), study, port, ready)
