"""The Helm chart in deploy/helm/marketcast: values against values.schema.json, templates with helm where it exists."""

from __future__ import annotations

import copy
import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is in the dev extra (pip install -e '.[dev]')")
yaml = pytest.importorskip("yaml", reason="PyYAML is in the dev extra (pip install -e '.[dev]')")

CHART = Path(__file__).resolve().parents[1] / "deploy" / "helm" / "marketcast"


@pytest.fixture(scope="module")
def schema() -> dict:
    schema = json.loads((CHART / "values.schema.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)  # helm validates with draft 7
    return schema


@pytest.fixture
def values() -> dict:
    return yaml.safe_load((CHART / "values.yaml").read_text())


def errors(schema, values) -> list[str]:
    return [e.message for e in jsonschema.Draft7Validator(schema).iter_errors(values)]


def keys_line(name: str, scope: str) -> str:
    return f"{name} {scope} sha256:{hashlib.sha256(name.encode()).hexdigest()}"


def test_default_values_match_the_schema(schema, values):
    assert errors(schema, values) == []


def test_chart_versions_follow_the_package():
    from marketcast._version import __version__

    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2" and chart["name"] == "marketcast"
    assert chart["appVersion"] == __version__  # the image tag `make image` gives


@pytest.mark.parametrize(
    "change, field",
    [
        (lambda v: v["podSecurityContext"].update(runAsNonRoot=False), "runAsNonRoot"),
        (lambda v: v["securityContext"].update(allowPrivilegeEscalation=True), "allowPrivilegeEscalation"),
        (lambda v: v["service"].update(port=70000), "port"),
        (lambda v: v["service"].update(type="Ingress"), "type"),
        (lambda v: v["image"].update(pullPolicy="Sometimes"), "pullPolicy"),
        (lambda v: v["settings"].update(workers=0), "workers"),
        (lambda v: v["settings"].update(daskScheduler="dask-scheduler:8786"), "daskScheduler"),
        (lambda v: v["apiKeys"].update(keysFile="ci read mc_plaintextkey\n"), "keysFile"),
        (lambda v: v["apiKeys"].update(keysFile=keys_line("ci", "admin")), "keysFile"),
        (lambda v: v["resources"]["limits"].update(memory="4 GB"), "memory"),
        (lambda v: v["persistence"].update(size="ten"), "size"),
        (lambda v: v.update(replicas=2), "replicas"),  # a misspelt key is an error, not silently ignored
        # one DuckDB job store per pod: no second replica or autoscaling on the same claim
        (lambda v: v.update(replicaCount=2), "replicaCount"),
        (lambda v: v["autoscaling"].update(enabled=True), "autoscaling"),
    ],
)
def test_schema_rejects_bad_values(schema, values, change, field):
    bad = copy.deepcopy(values)
    change(bad)
    found = errors(schema, bad)
    assert found, f"the schema accepted a bad {field}"


def test_schema_accepts_the_documented_variants(schema, values):
    v = copy.deepcopy(values)
    v["apiKeys"]["keysFile"] = "# made by marketcast keys add\n" + keys_line("dash", "read") + "\n" + keys_line("ops", "write") + "\n"
    v["settings"]["daskScheduler"] = "tcp://dask-scheduler:8786"
    v["settings"]["extraEnv"] = {"OMP_NUM_THREADS": "2"}
    assert errors(schema, v) == []
    v["persistence"]["enabled"] = False
    v["autoscaling"]["enabled"] = True
    v["replicaCount"] = 3
    assert errors(schema, v) == []


def test_templates_are_well_formed():
    """Without helm: every action closes, and every if/with/range/define has its end."""
    opening = re.compile(r"^-?\s*(if|with|range|define)\b")
    for path in sorted((CHART / "templates").iterdir()):
        text = path.read_text()
        assert text.count("{{") == text.count("}}"), path.name
        depth = 0
        for action in re.findall(r"\{\{(.*?)\}\}", text, flags=re.S):
            body = action.strip().lstrip("-").strip()
            if opening.match(body):
                depth += 1
            elif re.match(r"end\b", body):
                depth -= 1
                assert depth >= 0, f"{path.name}: an end without its block"
        assert depth == 0, f"{path.name}: a block without its end"


def test_deployment_serves_what_the_image_and_service_expect():
    """The names the chart passes are the ones the image's entrypoint and the service read."""
    text = "\n".join(p.read_text() for p in (CHART / "templates").glob("*.yaml"))
    for path in ("/readyz", "/healthz"):
        assert f"path: {path}" in text
    configmap = (CHART / "templates" / "configmap.yaml").read_text()
    entrypoint = (CHART.parents[2] / "deploy" / "docker" / "entrypoint.sh").read_text()
    for name in ("MARKETCAST_HOST", "MARKETCAST_PORT", "MARKETCAST_WORKERS"):
        assert name in configmap and name in entrypoint
    settings = pytest.importorskip("marketcast.service.settings", reason="the service is not in this checkout")
    for name in (settings.KEYS_ENV, settings.DATA_DIR_ENV, settings.DASK_ENV, "MARKETCAST_STORE",
                 "MARKETCAST_MAX_BODY_BYTES"):
        assert f"{name}:" in configmap


# --- with helm -------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def helm() -> str:
    path = shutil.which("helm")
    if path is None:
        pytest.skip("helm is not installed on this machine (not installable here); the schema tests above still run")
    return path


def render(helm: str, *sets: str) -> list[dict]:
    args = [helm, "template", "mc", str(CHART)]
    for s in sets:
        args += ["--set", s]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def test_helm_lint(helm):
    subprocess.run([helm, "lint", "--strict", str(CHART)], check=True, capture_output=True, text=True)


def test_helm_template_defaults(helm):
    docs = {d["kind"]: d for d in render(helm)}
    assert set(docs) == {"ConfigMap", "Secret", "Service", "PersistentVolumeClaim", "Deployment"}
    pod = docs["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["resources"]["limits"]["memory"] == "4Gi"


def test_helm_template_autoscaling_and_dask(helm):
    docs = render(helm, "persistence.enabled=false", "autoscaling.enabled=true",
                  "settings.daskScheduler=tcp://dask-scheduler:8786")
    kinds = {d["kind"]: d for d in docs}
    assert "HorizontalPodAutoscaler" in kinds and "PersistentVolumeClaim" not in kinds
    assert kinds["ConfigMap"]["data"]["MARKETCAST_DASK_SCHEDULER"] == "tcp://dask-scheduler:8786"


def test_helm_refuses_two_pods_on_one_store(helm):
    result = subprocess.run([helm, "template", "mc", str(CHART), "--set", "replicaCount=2"],
                            capture_output=True, text=True)
    assert result.returncode != 0
