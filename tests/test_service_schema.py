"""Property-based tests of the service from its own OpenAPI schema (schemathesis), over every
endpoint, without a key, with a read key and with a write key: no 5xx other than the documented
501 and 503, and every answer matches its documented status, content type and schema.

Bounded so CI stays fast: a few examples per endpoint and key (``MARKETCAST_SCHEMA_EXAMPLES``
raises it locally).
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,
                                               status_code_conformance)
from service_server import Server, make_keys

EXAMPLES = int(os.environ.get("MARKETCAST_SCHEMA_EXAMPLES", "6"))


def no_undocumented_server_error(ctx, response, case):
    """500 is always a bug; 501 (risk jobs not installed) and 503 (busy) are documented answers."""
    if response.status_code >= 500 and response.status_code not in (501, 503):
        raise AssertionError(f"{response.status_code} from {case.method} {case.path}: {response.text[:500]}")


CHECKS = [no_undocumented_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("schema")
    keys, write_key, read_key = make_keys(root)
    srv = Server(root / "data", keys, extra=("--max-body-mb", "1"))
    srv.keys = {"none": None, "read": read_key, "write": write_key}
    yield srv
    srv.stop()
    assert "Traceback" not in srv.log_path.read_text()


def _app_schema() -> dict:
    """The schema the service serves, built by the same code (no server needed at collection time;
    ``test_served_schema_is_the_apps`` checks that the live one is identical)."""
    import tempfile

    from marketcast.service import create_app
    from marketcast.service.settings import ServiceSettings

    with tempfile.TemporaryDirectory() as tmp:
        return create_app(ServiceSettings(data_dir=tmp, auth=False)).openapi()


APP_SCHEMA = _app_schema()
schema = schemathesis.openapi.from_dict(APP_SCHEMA)


def test_served_schema_is_the_apps(server):
    import httpx

    served = httpx.get(server.url + "/openapi.json").json()
    # The only difference a keyless app makes: none. Security schemes come from the routes.
    assert served == APP_SCHEMA


def _run(case, server, who: str) -> None:
    key = server.keys[who]
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    case.call_and_validate(base_url=server.url, headers=headers, checks=CHECKS, timeout=120)


_SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                     suppress_health_check=list(HealthCheck))


@schema.parametrize()
@_SETTINGS
def test_without_a_key(case, server):
    _run(case, server, "none")


@schema.parametrize()
@_SETTINGS
def test_with_a_read_key(case, server):
    _run(case, server, "read")


@schema.parametrize()
@_SETTINGS
def test_with_a_write_key(case, server):
    _run(case, server, "write")
