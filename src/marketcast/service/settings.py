"""The service's configuration: command-line options over environment variables over defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ServiceSettings", "KEYS_ENV", "DATA_DIR_ENV", "DASK_ENV"]

#: File of API key hashes (``marketcast keys add`` writes it).
KEYS_ENV = "MARKETCAST_API_KEYS"
#: The service's data folder: its job database and, by default, its model folder.
DATA_DIR_ENV = "MARKETCAST_SERVICE_DIR"
#: Dask scheduler address for risk jobs (none: a local engine).
DASK_ENV = "MARKETCAST_DASK_SCHEDULER"
UNIVERSES_ENV = "MARKETCAST_UNIVERSES_DIR"


def _default_data_dir() -> Path:
    env = os.environ.get(DATA_DIR_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("marketcast")) / "service"


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


@dataclass
class ServiceSettings:
    """Everything the app needs; :meth:`from_env` fills what the caller leaves out.

    ``workers`` processes compute the requests (volatility, forecast, model descriptions);
    at most ``max_pending`` such calls wait or run at once, beyond that a request gets 503 with
    ``Retry-After``. ``job_slots`` jobs run at a time, each in a process of its own (so that a
    cancel can stop it) at a lower CPU priority than the requests; at most ``max_queued_jobs``
    wait for a slot.
    """

    data_dir: Path = field(default_factory=_default_data_dir)
    models_dir: Path | None = None
    keys_file: Path | None = None
    auth: bool = True
    workers: int = 2
    max_pending: int = 64
    job_slots: int = 1
    max_queued_jobs: int = 16
    max_body_bytes: int = 10 * 1024 * 1024
    retry_after_s: int = 1
    store: Path | None = None
    dask_scheduler: str | None = None
    universes_dir: Path | None = None

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir)
        # Risk jobs name universes inside this folder only (never an arbitrary server path).
        self.universes_dir = Path(self.universes_dir) if self.universes_dir is not None else self.data_dir / "universes"
        if self.models_dir is None:
            self.models_dir = self.data_dir / "models"
        self.models_dir = Path(self.models_dir)
        if self.keys_file is not None:
            self.keys_file = Path(self.keys_file)

    @property
    def jobs_db(self) -> Path:
        return self.data_dir / "jobs.duckdb"

    @property
    def results_dir(self) -> Path:
        return self.data_dir / "results"

    @classmethod
    def from_env(cls, **overrides) -> ServiceSettings:
        """Settings from the environment (``MARKETCAST_API_KEYS``, ``MARKETCAST_SERVICE_DIR``,
        ``MARKETCAST_STORE``, ``MARKETCAST_DASK_SCHEDULER``, ``MARKETCAST_UNIVERSES_DIR``,
        ``MARKETCAST_MAX_BODY_BYTES``), then
        ``overrides`` (``None`` values are ignored)."""
        values: dict = {}
        keys = os.environ.get(KEYS_ENV, "").strip()
        if keys:
            values["keys_file"] = Path(keys).expanduser()
        store = os.environ.get("MARKETCAST_STORE", "").strip()
        if store:
            values["store"] = Path(store).expanduser()
        dask = os.environ.get(DASK_ENV, "").strip()
        if dask:
            values["dask_scheduler"] = dask
        universes = os.environ.get(UNIVERSES_ENV, "").strip()
        if universes:
            values["universes_dir"] = Path(universes).expanduser()
        values["max_body_bytes"] = _env_int("MARKETCAST_MAX_BODY_BYTES", cls.max_body_bytes)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)
