"""infra/k8s: every kustomization builds, matches the Kubernetes schemas (KEDA's
resources match local schemas) and the deployment's rules; the checks catch breakage."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from fraudstream.deploy import kubernetes

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "infra/k8s/base"
OVERLAY = ROOT / "infra/k8s/overlays/example"

Manifest = dict[str, Any]


@pytest.fixture(scope="module")
def base() -> list[Manifest]:
    return kubernetes.build(BASE, ROOT)


@pytest.fixture(scope="module")
def overlay() -> list[Manifest]:
    return kubernetes.build(OVERLAY, ROOT)


def _get(docs: list[Manifest], kind: str, name: str) -> Manifest:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"].startswith(name)]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return copy.deepcopy(found[0])


@pytest.mark.parametrize("directory", [BASE, OVERLAY], ids=["base", "overlay"])
def test_every_file_a_kustomization_names_exists(directory: Path) -> None:
    assert kubernetes.kustomization_problems(directory) == []


@pytest.mark.parametrize("which", ["base", "overlay"])
def test_manifests_match_the_schemas_and_rules(which: str, request: pytest.FixtureRequest) -> None:
    docs: list[Manifest] = request.getfixturevalue(which)
    assert kubernetes.schema_problems(docs, ROOT) == []
    assert kubernetes.policy_problems(docs) == []


def test_the_base_holds_every_process(base: list[Manifest]) -> None:
    kinds = {(d["kind"], d["metadata"]["name"]) for d in base}
    assert {
        ("Deployment", "scorer"),
        ("ScaledObject", "scorer"),
        ("PodDisruptionBudget", "scorer"),
        ("Deployment", "learner"),
        ("Deployment", "archiver"),
        ("Deployment", "api"),
        ("Service", "api"),
        ("Job", "replay"),
        ("Job", "topics"),
    } <= kinds
    assert not any(d["kind"] == "Secret" for d in base)
    trigger = _get(base, "ScaledObject", "scorer")["spec"]["triggers"][0]
    assert trigger["type"] == "kafka"
    learner = _get(base, "Deployment", "learner")["spec"]
    assert (learner["replicas"], learner["strategy"]["type"]) == (1, "Recreate")


def test_deployments_take_config_and_secrets_by_reference(base: list[Manifest]) -> None:
    config = _get(base, "ConfigMap", "fraudstream-config")["metadata"]["name"]
    for name in ("scorer", "learner", "archiver", "api"):
        container = _get(base, "Deployment", name)["spec"]["template"]["spec"]["containers"][0]
        assert container["envFrom"] == [{"configMapRef": {"name": config}}]
        refs = [
            e["valueFrom"]["secretKeyRef"]["name"]
            for e in container["env"]
            if "secretKeyRef" in e.get("valueFrom", {})
        ]
        assert "fraudstream-secrets" in refs, name
    api = _get(base, "Deployment", "api")["spec"]["template"]["spec"]["containers"][0]
    key = next(e for e in api["env"] if e["name"] == "API_KEY")
    assert "optional" not in key["valueFrom"]["secretKeyRef"]  # the API needs its key


def test_overlay_talks_to_managed_kafka_and_redis(overlay: list[Manifest]) -> None:
    config = _get(overlay, "ConfigMap", "fraudstream-config")["data"]
    assert config["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert config["REDIS_URL"].startswith("rediss://")
    scaled = _get(overlay, "ScaledObject", "scorer")["spec"]
    assert scaled["maxReplicaCount"] == int(config["KAFKA_PARTITIONS"])
    assert scaled["triggers"][0]["authenticationRef"] == {"name": "keda-kafka"}
    assert all(
        d["metadata"].get("namespace") == "fraudstream" for d in overlay if d["kind"] != "Namespace"
    )


def test_kustomization_check_flags_missing_and_unlisted_files(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text(
        "resources:\n  - a.yaml\n  - gone.yaml\n  - sub\n"
        "configMapGenerator:\n  - name: c\n    envs: [missing.env]\n"
    )
    (tmp_path / "a.yaml").write_text("kind: ConfigMap\n")
    (tmp_path / "stray.yaml").write_text("kind: ConfigMap\n")
    (tmp_path / "sub").mkdir()
    problems = kubernetes.kustomization_problems(tmp_path)
    assert [p.split(": ", 1)[1] for p in problems] == [
        "gone.yaml does not exist",
        "no kustomization.yaml",
        "missing.env does not exist",
        "stray.yaml is in the folder but not listed",
    ]


def test_schema_check_rejects_unknown_fields(base: list[Manifest]) -> None:
    scorer = _get(base, "Deployment", "scorer")
    scorer["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    scaled = _get(base, "ScaledObject", "scorer")
    scaled["spec"]["maxReplicas"] = 3
    del scaled["spec"]["triggers"]
    problems = kubernetes.schema_problems([scorer, scaled], ROOT)
    assert len(problems) == 2
    assert problems[0].startswith("Deployment/scorer: spec.template.spec.containers.0:")
    assert "readinesProbe" in problems[0]
    assert problems[1].startswith("ScaledObject/scorer: spec:")


def test_schema_check_needs_a_schema_for_custom_resources() -> None:
    doc = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    assert kubernetes.schema_problems([doc], ROOT) == [
        "Widget/w: no local schema infra/k8s/schemas/widget-example-v1.json"
    ]


def test_policy_check_flags_what_the_deployment_relies_on(base: list[Manifest]) -> None:
    docs = copy.deepcopy(base)
    scorer = _get(docs, "Deployment", "scorer")
    container = scorer["spec"]["template"]["spec"]["containers"][0]
    container["livenessProbe"] = {"tcpSocket": {"port": 8001}}
    del container["resources"]["requests"]["cpu"]
    container["env"].append({"name": "REDIS_PASSWORD", "value": "hunter2"})
    container["env"].append({"name": "SCORER_TRESHOLD", "value": "0.7"})
    learner = _get(docs, "Deployment", "learner")
    learner["spec"]["replicas"] = 2
    scaled = _get(docs, "ScaledObject", "scorer")
    scaled["spec"]["maxReplicaCount"] = 50
    scaled["spec"]["triggers"][0]["metadata"]["consumerGroup"] = "other"
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s"},
        "data": {"k": "dg=="},
    }
    config = _get(docs, "ConfigMap", "fraudstream-config")
    config["data"]["API_KEY"] = "abc"
    rest = [
        d
        for d in docs
        if (d["kind"], d["metadata"]["name"])
        not in {("Deployment", "scorer"), ("Deployment", "learner"), ("ScaledObject", "scorer")}
        and d["kind"] != "ConfigMap"
    ]
    problems = kubernetes.policy_problems([*rest, scorer, learner, scaled, secret, config])
    assert problems == [
        "Deployment/scorer: container scorer: livenessProbe is not an HTTP GET of /healthz",
        "Deployment/scorer: container scorer: needs cpu and memory requests and a memory limit",
        "Deployment/scorer: env REDIS_PASSWORD must come from a secretKeyRef",
        "Secret/s: secret values must not be committed; reference a Secret made outside",
        f"ConfigMap/{config['metadata']['name']}: API_KEY looks secret: use a secretKeyRef instead",
        "ScaledObject/scorer: maxReplicaCount 50 exceeds the 6 partitions (KAFKA_PARTITIONS): "
        "extra scorers would stand idle",
        "ScaledObject/scorer: the kafka trigger must watch group scorer on transactions",
        "Deployment/learner: the learner is a single writer: replicas 1, strategy Recreate",
        "Deployment/scorer: env SCORER_TRESHOLD is not a fraudstream setting",
    ]
