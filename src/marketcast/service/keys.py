"""API keys: made by ``marketcast keys add``, stored only as hashes, checked in constant time.

The keys file has one key per line, ``NAME SCOPE sha256:HEX`` (``#`` starts a comment). A key is
32 random bytes (``secrets.token_urlsafe``), so a plain SHA-256 is enough to make the stored hash
useless to a reader of the file: there is no password to guess, unlike with a slow KDF's use case.
Scopes: ``read`` (queries, volatility, forecasts, backtest jobs) and ``write`` (also training and
risk jobs). Keys never appear in a log or an error message.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from marketcast.errors import MarketcastError

__all__ = ["ApiKey", "KeyRing", "SCOPES", "add_key", "read_keys", "hash_key", "new_key"]

SCOPES = ("read", "write")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
_LINE = re.compile(r"^(\S+)\s+(read|write)\s+sha256:([0-9a-f]{64})$")
PREFIX = "mc_"


class KeyFileError(MarketcastError):
    http_status = 500


@dataclass(frozen=True)
class ApiKey:
    name: str
    scope: str
    digest: bytes  # SHA-256 of the key

    def allows(self, scope: str) -> bool:
        return self.scope == "write" or scope == "read"


def new_key() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()


def read_keys(path: str | Path) -> list[ApiKey]:
    """The keys of a keys file; a malformed line is an error naming the file and the line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KeyFileError(
            f"{path}: keys file not found (create it with `marketcast keys add NAME --file {path}`)"
        ) from None
    keys = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = _LINE.match(line)
        if not m:
            raise KeyFileError(f"{path}: line {number}: expected 'NAME read|write sha256:HEX'")
        keys.append(ApiKey(m.group(1), m.group(2), bytes.fromhex(m.group(3))))
    return keys


def add_key(path: str | Path, name: str, scope: str) -> str:
    """Append a new key named ``name`` to the keys file (created 0600 if missing); returns the key.

    The file is rewritten to a temporary sibling and renamed, so a failure leaves it as it was.
    """
    from marketcast.errors import DataError

    path = Path(path)
    if scope not in SCOPES:
        raise DataError(f"--scope must be read or write, not '{scope}'")
    if not _NAME.fullmatch(name):
        raise DataError(f"key name '{name}': use letters, digits and . _ @ - (at most 64)")
    existing = read_keys(path) if path.exists() else []
    if any(k.name == name for k in existing):
        raise DataError(f"{path}: a key named '{name}' exists already")
    key = new_key()
    old = path.read_text(encoding="utf-8") if path.exists() else "# marketcast API keys: NAME SCOPE sha256:HEX\n"
    if old and not old.endswith("\n"):
        old += "\n"
    line = f"{name} {scope} sha256:{hash_key(key).hex()}\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    from marketcast.io import atomic_write_text

    atomic_write_text(path, old + line, mode=0o600)  # owner-only from the first byte
    return key


class KeyRing:
    """The keys of a file, re-read when the file changes (checked at most once a second)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._keys = read_keys(self.path)
        self._mtime = self._stat()
        self._checked = time.monotonic()
        self._lock = threading.Lock()

    def _stat(self):
        try:
            st = self.path.stat()
            return (st.st_mtime_ns, st.st_size)
        except OSError:
            return None

    def _refresh(self) -> None:
        now = time.monotonic()
        if now - self._checked < 1.0:
            return
        with self._lock:
            self._checked = now
            stamp = self._stat()
            if stamp is not None and stamp != self._mtime:
                try:
                    self._keys = read_keys(self.path)
                    self._mtime = stamp
                except (KeyFileError, OSError):
                    pass  # keep the last good keys while the file is being edited

    def lookup(self, key: str) -> ApiKey | None:
        """The key's entry, or None. Every stored hash is compared, each in constant time."""
        self._refresh()
        digest = hash_key(key)
        found = None
        for entry in self._keys:
            if hmac.compare_digest(entry.digest, digest):
                found = entry
        return found

    def __len__(self) -> int:
        return len(self._keys)
