"""One HTTP GET with retries, and the frame shape, shared by the online sources.

Policy (the same for every source):

* up to ``retries`` retries (default 4, so at most 5 requests), after HTTP 429, any 5xx, a
  timeout or a connection error, and after a source-specific "slow down" answer that the
  caller recognises with ``retry_if`` (Alpha Vantage answers its per-minute limit with
  HTTP 200 and a ``Note``);
* the waits are 1, 2, 4, 8 ... seconds times ``backoff``; a ``Retry-After`` header
  (seconds or an HTTP date) replaces the computed wait, capped at :data:`MAX_WAIT` seconds;
* when the retries are spent: :class:`~marketcast.errors.RateLimitError` for 429 and for
  ``retry_if`` answers, :class:`~marketcast.errors.SourceError` otherwise; any other 4xx
  fails at once with a SourceError (unless the caller lists it in ``accept_status`` to
  read the body itself).

Every message is one line naming the source, and never contains the API key: ``apikey=``
values and the values of secret parameters are replaced by ``***``.

Tests (and the CLI tests) inject the network: pass ``client=`` built on
``httpx.MockTransport``, or monkeypatch :func:`make_client`, which every source calls when
no client is given.
"""

from __future__ import annotations

import email.utils
import logging
import re
import time
from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any

from marketcast._version import __version__
from marketcast.errors import RateLimitError, SourceError

if TYPE_CHECKING:  # httpx is imported lazily: `marketcast --help` must not pay for it
    import httpx

__all__ = ["get_with_retries", "make_client", "redact", "canonical_frame", "CANONICAL_COLUMNS", "USER_AGENT"]

log = logging.getLogger(__name__)

USER_AGENT = f"marketcast/{__version__}"
#: Seconds for connecting and for each read.
TIMEOUT_S = 30.0
#: Longest single wait, also for a ``Retry-After`` header.
MAX_WAIT = 120.0
_SECRET_PARAMS = ("apikey", "api_key", "token", "access_key")
_APIKEY_RE = re.compile(r"((?:apikey|api_key|token|access_key)=)[^&\s'\"]+", re.IGNORECASE)


def make_client() -> httpx.Client:
    """The client used when a fetch function gets none (a seam the tests monkeypatch)."""
    import httpx

    return httpx.Client(timeout=TIMEOUT_S, follow_redirects=True, headers={"User-Agent": USER_AGENT})


def redact(text: str, secrets: Collection[str] = ()) -> str:
    """``text`` with ``apikey=...`` values and each of ``secrets`` replaced by ``***``."""
    out = _APIKEY_RE.sub(r"\1***", str(text))
    for secret in secrets:
        if secret and len(secret) >= 3:
            out = out.replace(secret, "***")
    return out


def _secrets_of(params: Mapping[str, Any] | None) -> list[str]:
    return [str(v) for k, v in (params or {}).items() if k.lower() in _SECRET_PARAMS and v]


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def _one_line(text: str, limit: int = 200) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def get_with_retries(
    client: httpx.Client | None,
    url: str,
    params: Mapping[str, Any] | None = None,
    *,
    source: str,
    retries: int = 4,
    backoff: float = 1.0,
    sleep: Callable[[float], None] | None = None,
    retry_if: Callable[[httpx.Response], str | None] | None = None,
    accept_status: Collection[int] = (),
) -> httpx.Response:
    """GET ``url`` with ``params``, retrying as described in the module docstring.

    Parameters
    ----------
    client
        An ``httpx.Client``; ``None`` makes one with :func:`make_client` (closed afterwards).
    source
        Name used at the start of every error message (``'alphavantage'``).
    sleep
        Called with each wait in seconds; default ``time.sleep`` (looked up at call time).
    retry_if
        Called with each 2xx response; a returned reason (e.g. the source's rate-limit
        note) makes the call retry like a 429, and ends in a RateLimitError with that reason.
    accept_status
        Non-2xx statuses returned to the caller instead of raising (to read an error body).
    """
    import httpx

    secrets = _secrets_of(params)
    own = client is None
    client = make_client() if client is None else client
    headers = {"User-Agent": USER_AGENT}
    try:
        attempt = 0
        while True:
            wait_hint: float | None = None
            try:
                response = client.get(url, params=params, headers=headers)
            except httpx.TimeoutException:
                problem, limited = "the request timed out", False
            except httpx.TransportError as exc:
                problem = f"cannot connect ({type(exc).__name__}: {redact(_one_line(str(exc)), secrets)})"
                limited = False
            else:
                status = response.status_code
                if status == 429:
                    problem, limited = "rate limit reached (HTTP 429 Too Many Requests)", True
                    wait_hint = _retry_after(response)
                elif status >= 500:
                    problem, limited = f"server error (HTTP {status} {response.reason_phrase})", False
                    wait_hint = _retry_after(response)
                elif 200 <= status < 300:
                    reason = retry_if(response) if retry_if is not None else None
                    if reason is None:
                        return response
                    problem, limited = redact(_one_line(reason, 300), secrets), True
                elif status in accept_status:
                    return response
                else:
                    raise SourceError(f"{source}: HTTP {status} {response.reason_phrase} from {redact(url, secrets)}")
            if attempt >= retries:
                tries = f"{attempt + 1} attempt" + ("s" if attempt else "")
                if limited:
                    raise RateLimitError(f"{source}: {problem}; gave up after {tries}, try again later")
                raise SourceError(f"{source}: {problem}; gave up after {tries}")
            delay = backoff * (2.0**attempt)
            if wait_hint is not None:
                delay = wait_hint
            delay = min(delay, MAX_WAIT)
            log.warning("%s: %s; retrying in %.0f s", source, problem, delay)
            (time.sleep if sleep is None else sleep)(delay)
            attempt += 1
    finally:
        if own:
            client.close()


#: Canonical column order of every source frame (see :mod:`marketcast.data.files`).
CANONICAL_COLUMNS = ("open", "high", "low", "close", "adj_close", "volume", "split_factor", "dividend")


def canonical_frame(columns: Mapping[str, Any], dates: Any) -> Any:
    """A source frame: float columns in canonical order, tz-naive ``DatetimeIndex`` named ``date``.

    Rows are sorted by date; when a date occurs twice (a live bar next to the day's bar)
    the last occurrence wins.
    """
    import numpy as np
    import pandas as pd

    index = pd.DatetimeIndex(dates, name="date")
    if index.tz is not None:
        index = index.tz_localize(None)
    index = index.normalize().as_unit("us")
    data = {c: np.asarray(columns[c], dtype=np.float64) for c in CANONICAL_COLUMNS if c in columns}
    frame = pd.DataFrame(data, index=index)
    frame = frame[~frame.index.duplicated(keep="last")]
    return frame.sort_index(kind="stable")
