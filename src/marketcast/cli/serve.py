"""``marketcast serve``: the HTTP service (FastAPI + uvicorn), see :mod:`marketcast.service`."""

from __future__ import annotations

from pathlib import Path

import typer

from marketcast.cli._app import app


@app.command("serve")
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (0.0.0.0: every interface)."),
    port: int = typer.Option(8000, "--port", help="Port to listen on."),
    workers: int = typer.Option(2, "--workers", help="Worker processes for the requests' CPU work."),
    models_dir: Path | None = typer.Option(
        None, "--models-dir", help="Folder of saved models (default: DATA_DIR/models)."
    ),
    data_dir: Path | None = typer.Option(
        None,
        "--data-dir",
        help="The service's folder: job database, results (default: $MARKETCAST_SERVICE_DIR or the user data folder).",
    ),
    universes_dir: Path | None = typer.Option(
        None,
        "--universes-dir",
        help="Folder of the universes risk jobs may name (default: $MARKETCAST_UNIVERSES_DIR or DATA_DIR/universes).",
    ),
    max_pending: int = typer.Option(64, "--max-pending", help="Calls waiting for or in the workers before 503."),
    job_slots: int = typer.Option(1, "--job-slots", help="Jobs that run at the same time."),
    max_body_mb: float | None = typer.Option(
        None, "--max-body-mb", help="Largest request body (default 10 MB, or $MARKETCAST_MAX_BODY_BYTES)."
    ),
    no_auth: bool = typer.Option(False, "--no-auth", help="Serve without API keys (a trusted machine only)."),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn's log level."),
) -> None:
    """Serve the HTTP API. Keys come from the file named by MARKETCAST_API_KEYS (`marketcast keys add`)."""
    import logging

    import uvicorn

    from marketcast.errors import MarketcastError
    from marketcast.service import create_app
    from marketcast.service.settings import ServiceSettings

    if workers < 1 or max_pending < 1 or job_slots < 1:
        raise MarketcastError("--workers, --max-pending and --job-slots must be at least 1")
    settings = ServiceSettings.from_env(
        data_dir=data_dir,
        models_dir=models_dir,
        universes_dir=universes_dir,
        workers=workers,
        max_pending=max_pending,
        job_slots=job_slots,
        max_body_bytes=int(max_body_mb * 1024 * 1024) if max_body_mb is not None else None,
        auth=not no_auth,
    )
    application = create_app(settings)
    logging.getLogger("marketcast.service").setLevel(logging.INFO)
    if no_auth:
        typer.echo("warning: serving without API keys (--no-auth)", err=True)
    uvicorn.run(
        application,
        host=host,
        port=port,
        log_level=log_level,
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=10,
    )
