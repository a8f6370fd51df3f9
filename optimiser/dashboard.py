"""A study's live view: optuna-dashboard (the ``dashboard`` extra) over the study's own
storage, served on this machine only (127.0.0.1), while commands keep running trials on it."""

from __future__ import annotations

from collections.abc import Callable
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from models.errors import InputError
from optimiser import interrupts
from optimiser.search import SearchSettings, masked, open_storage

DASHBOARD_EXTRA = "pip install -e '.[dashboard]'"
HOST = "127.0.0.1"  # loopback only: the dashboard can change a study (notes, tells)


class DashboardError(InputError):
    """optuna-dashboard is missing, the study is not in the storage, or the port is taken."""


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # the browser's open requests do not hold up the stop


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args) -> None:  # one line per request otherwise
        pass


def serve(settings: SearchSettings, study: str, port: int,
          ready: Callable[[str], None]) -> None:
    """Serve the dashboard of ``study`` until Ctrl-C or SIGTERM; ``ready`` gets the study's
    address once the server listens (port 0: a free port, the one in the address)."""
    try:
        import optuna_dashboard
    except ImportError:
        raise DashboardError("optuna-dashboard is not installed; 'optimise dashboard' needs the "
                             f"dashboard extra: {DASHBOARD_EXTRA}") from None
    if settings.storage is None and not (settings.runs_dir / "studies.db").is_file():
        raise DashboardError(f"no study file {str(settings.runs_dir / 'studies.db')!r}; run "
                             f"'optimise --study {study}' first, or give --storage or --runs-dir")
    storage = open_storage(settings)
    try:
        names = [s.study_name for s in storage.get_all_studies()]
        if study not in names:
            raise DashboardError(f"study {study!r} is not in {masked(settings.url)}; it holds "
                                 f"{', '.join(sorted(names)) or 'no study'}")
        study_id = storage.get_study_id_from_name(study)
        try:
            server = make_server(HOST, port, optuna_dashboard.wsgi(storage),
                                 server_class=_Server, handler_class=_Quiet)
        except OSError as error:
            raise DashboardError(f"cannot serve on {HOST}:{port} ({error.strerror}); give "
                                 "another --port") from None
        try:
            ready(f"http://{HOST}:{server.server_port}/dashboard/studies/{study_id}")
            with interrupts.ending(f"dashboard of study {study} stopped"):
                server.serve_forever()
        except KeyboardInterrupt:  # how a dashboard is stopped, not a failure
            pass
        finally:
            server.server_close()
    finally:
        storage.engine.dispose()
