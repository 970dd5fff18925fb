"""API keys: `marketcast keys add` prints the key alone on its last line and stores only its hash."""

from __future__ import annotations

import hashlib
import stat

import pytest
from service_server import cli

from marketcast.errors import MarketcastError
from marketcast.service.keys import KeyRing, add_key, read_keys


def test_keys_add_prints_the_key_last_and_stores_its_hash(tmp_path):
    path = tmp_path / "keys"
    done = cli("keys", "add", "dashboard", "--scope", "read", "--file", str(path))
    assert done.returncode == 0, done.stderr
    key = done.stdout.strip().splitlines()[-1]
    assert done.stdout.strip() == key and key.startswith("mc_") and len(key) > 40
    text = path.read_text()
    assert key not in text
    assert f"dashboard read sha256:{hashlib.sha256(key.encode()).hexdigest()}" in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    listed = cli("keys", "list", "--file", str(path))
    assert listed.stdout.strip() == "dashboard\tread" and key not in listed.stdout


def test_keys_add_errors(tmp_path):
    path = tmp_path / "keys"
    assert cli("keys", "add", "a", "--file", str(path)).returncode == 0
    for args, words in ((("a",), "exists already"), (("b", "--scope", "admin"), "read or write"),
                        (("bad name",), "key name")):
        done = cli("keys", "add", *args, "--file", str(path))
        assert done.returncode == 2 and words in done.stderr and "Traceback" not in done.stderr
    done = cli("keys", "add", "c", env={"MARKETCAST_API_KEYS": ""})
    assert done.returncode == 2 and "MARKETCAST_API_KEYS" in done.stderr


def test_keyring_lookup_and_scopes(tmp_path):
    path = tmp_path / "keys"
    write = add_key(path, "w", "write")
    read = add_key(path, "r", "read")
    ring = KeyRing(path)
    assert ring.lookup(write).name == "w" and ring.lookup(write).allows("write")
    assert ring.lookup(read).allows("read") and not ring.lookup(read).allows("write")
    assert ring.lookup(read + "x") is None and ring.lookup("") is None
    assert len(read_keys(path)) == 2


def test_malformed_keys_file(tmp_path):
    path = tmp_path / "keys"
    path.write_text("someone admin sha256:abc\n")
    with pytest.raises(MarketcastError, match="line 1"):
        read_keys(path)
    with pytest.raises(MarketcastError, match="not found"):
        read_keys(tmp_path / "missing")
