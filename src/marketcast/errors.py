"""One exception family for everything a user can get wrong.

The CLI turns any :class:`MarketcastError` into one line on stderr and exit status 2;
the service (a later issue) turns it into an HTTP 4xx. Anything else is a bug and keeps
its traceback.
"""

from __future__ import annotations

__all__ = [
    "MarketcastError",
    "DataError",
    "SourceError",
    "RateLimitError",
    "AuthenticationError",
    "ModelError",
    "NotFittedError",
    "MarketcastWarning",
]


class MarketcastError(Exception):
    """Base class: a problem with the user's input, data or request, not a bug."""

    #: HTTP status the service answers with.
    http_status: int = 400


class DataError(MarketcastError, ValueError):
    """Malformed, missing or unusable data. The message names the file and the row or column."""

    http_status = 422


class SourceError(MarketcastError):
    """An online data source failed or answered with an error."""

    http_status = 502


class RateLimitError(SourceError):
    """The source refused the request because of its rate limit."""

    http_status = 429


class AuthenticationError(SourceError):
    """Missing or rejected API key."""

    http_status = 401


class ModelError(MarketcastError, ValueError):
    """Unknown model, bad hyper-parameter or a model that cannot fit the given data."""

    http_status = 422


class NotFittedError(ModelError):
    """A model was asked to predict before it was fitted."""

    http_status = 409


class MarketcastWarning(UserWarning):
    """Something a user should know about a result that is still valid (the CLI prints it as a note)."""
