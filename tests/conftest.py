"""Shared fixtures: where the real data and the papers are (../shared beside the repo, or env vars)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_dir() -> Path:
    return Path(os.environ.get("MARKETCAST_SHARED_DIR", REPO.parent / "shared"))


def data_dir() -> Path:
    return Path(os.environ.get("MARKETCAST_DATA_DIR", shared_dir() / "data"))


def data_file(name: str) -> Path:
    path = data_dir() / name
    if not path.exists():
        pytest.skip(f"real data {name} not found in {data_dir()} (set MARKETCAST_DATA_DIR)")
    return path


@pytest.fixture(scope="session")
def vix_path() -> Path:
    return data_file("VIX_History.csv")


@pytest.fixture(scope="session")
def vix(vix_path):
    from marketcast.data import load_series

    return load_series(vix_path)


@pytest.fixture(scope="session")
def vix_paper_text() -> str:
    path = shared_dir() / "seeds" / "004_69f4f85de341541a.txt"
    if not path.exists():
        pytest.skip(f"the VIX paper is not at {path}")
    return path.read_text(encoding="utf-8")


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a socket fails the test (use it where a test must stay offline)."""

    def refuse(*args, **kwargs):
        raise AssertionError("the test tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


@pytest.fixture
def threads():
    """A setter of torch's thread count (the training kernels' row blocks follow it), restored afterwards."""
    import torch

    before = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(before)
