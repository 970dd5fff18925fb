"""The LocalCluster the universe job starts: its workers' settings."""

from __future__ import annotations

import logging

import pytest

from marketcast.universe.engine import BATCH_CONFIG, THREAD_CAPS, Engine, local_cluster


def _worker_settings() -> dict:
    import logging
    import os

    import dask

    return {
        "config": {key: dask.config.get(key) for key in BATCH_CONFIG},
        "env": {key: os.environ.get(key) for key in THREAD_CAPS},
        "log_levels": [h.level for h in logging.getLogger("distributed").handlers],
    }


def test_the_jobs_local_cluster_runs_batch_settings_with_one_blas_thread():
    pytest.importorskip("distributed")
    from distributed import Client

    with local_cluster(1, "1GiB", worker_logs=logging.CRITICAL) as cluster, Client(cluster) as client:
        (seen,) = client.run(_worker_settings).values()
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
    assert seen["config"] == BATCH_CONFIG  # the profiler off, monitors slowed, in the worker process
    assert seen["env"] == THREAD_CAPS
    assert seen["log_levels"] == [logging.CRITICAL]  # no retried heartbeat's traceback on the terminal


def test_engine_choice_is_exclusive():
    from marketcast.errors import DataError

    assert Engine.choose(local=True).kind == "local"
    assert Engine.choose(workers=2) == Engine("cluster", workers=2)
    with pytest.raises(DataError, match="choose one of"):
        Engine.choose(local=True, workers=2)
