"""infra/k8s: every kustomization builds, matches the Kubernetes schemas (KEDA's
resources match local schemas) and the deployment's rules; the checks catch breakage."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import pytest

from fraudstream import redis_client
from fraudstream.deploy import kubernetes, redis_cluster
from fraudstream.deploy.manifests import name_of

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "infra/k8s/base"
OVERLAY = ROOT / "infra/k8s/overlays/example"
STATEFUL = ROOT / "infra/k8s/overlays/scorers-statefulset"
CLUSTER = ROOT / "infra/k8s/overlays/redis-cluster"
COMPONENTS = ROOT / "infra/k8s/components"
#: What the StatefulSet component adds to the scorer's environment.
STATIC_SETTINGS = ("SCORER_STATIC_MEMBERSHIP", "SCORER_SESSION_TIMEOUT")
DIRECTORIES = {"base": BASE, "overlay": OVERLAY, "stateful": STATEFUL, "cluster": CLUSTER}

Manifest = dict[str, Any]


@pytest.fixture(scope="module")
def base() -> list[Manifest]:
    return kubernetes.build(BASE, ROOT)


@pytest.fixture(scope="module")
def overlay() -> list[Manifest]:
    return kubernetes.build(OVERLAY, ROOT)


@pytest.fixture(scope="module")
def stateful() -> list[Manifest]:
    return kubernetes.build(STATEFUL, ROOT)


@pytest.fixture(scope="module")
def cluster() -> list[Manifest]:
    return kubernetes.build(CLUSTER, ROOT)


def _get(docs: list[Manifest], kind: str, name: str) -> Manifest:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"].startswith(name)]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return copy.deepcopy(found[0])


def test_every_overlay_is_tested() -> None:
    overlays = {p for p in (ROOT / "infra/k8s/overlays").iterdir() if p.is_dir()}
    assert overlays == set(DIRECTORIES.values()) - {BASE}


@pytest.mark.parametrize("directory", DIRECTORIES.values(), ids=DIRECTORIES.keys())
def test_every_file_a_kustomization_names_exists(directory: Path) -> None:
    assert kubernetes.kustomization_problems(directory) == []


@pytest.mark.parametrize("which", DIRECTORIES.keys())
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
    scorer["spec"]["replicas"] = 1
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
        "Deployment/scorer: KEDA sets its replicas; a count in the manifest would reset them "
        "at every apply",
        "ScaledObject/scorer: maxReplicaCount 50 exceeds the 6 partitions (KAFKA_PARTITIONS): "
        "extra scorers would stand idle",
        "ScaledObject/scorer: the kafka trigger must watch group scorer on transactions",
        "Deployment/learner: the learner is a single writer: replicas 1, strategy Recreate",
        "Deployment/scorer: env SCORER_TRESHOLD is not a fraudstream setting",
    ]


def _container(doc: Manifest) -> Manifest:
    container: Manifest = doc["spec"]["template"]["spec"]["containers"][0]
    return container


def _env(doc: Manifest) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in _container(doc)["env"]}


def _replace(docs: list[Manifest], *changed: Manifest) -> list[Manifest]:
    """``docs`` with the manifests of the same kind and name as ``changed`` swapped."""
    ids = {(d["kind"], d["metadata"]["name"]) for d in changed}
    return [d for d in docs if (d["kind"], d["metadata"]["name"]) not in ids] + list(changed)


def test_stateful_overlay_runs_the_same_scorers_under_stable_names(
    stateful: list[Manifest], overlay: list[Manifest]
) -> None:
    assert not [
        d for d in stateful if d["kind"] == "Deployment" and d["metadata"]["name"] == "scorer"
    ]
    scorers = _get(stateful, "StatefulSet", "scorer")
    spec = scorers["spec"]
    assert (spec["serviceName"], spec["podManagementPolicy"]) == ("scorer", "Parallel")
    service = _get(stateful, "Service", "scorer")
    assert service["spec"]["clusterIP"] == "None"
    assert service["metadata"]["namespace"] == "fraudstream"
    env = _env(scorers)
    assert env["SCORER_INSTANCE_ID"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["SCORER_STATIC_MEMBERSHIP"] == "true"
    # the pod is the example overlay's, plus the static-membership settings
    pod = spec["template"]
    added = [e for e in _container(scorers)["env"] if e["name"] in STATIC_SETTINGS]
    assert [e["name"] for e in added] == list(STATIC_SETTINGS)
    _container(scorers)["env"] = [e for e in _container(scorers)["env"] if e not in added]
    assert pod == _get(overlay, "Deployment", "scorer")["spec"]["template"]
    scaled = _get(stateful, "ScaledObject", "scorer")["spec"]
    assert scaled["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "name": "scorer",
    }
    assert scaled == {
        **_get(overlay, "ScaledObject", "scorer")["spec"],
        "scaleTargetRef": scaled["scaleTargetRef"],
    }


def test_identity_checks_catch_a_broken_stateful_overlay(
    stateful: list[Manifest], overlay: list[Manifest]
) -> None:
    scorers = _get(stateful, "StatefulSet", "scorer")
    container = _container(scorers)
    container["env"] = [e for e in container["env"] if e["name"] != "SCORER_INSTANCE_ID"]
    container["env"].append({"name": "SCORER_INSTANCE_ID", "value": "scorer"})
    scorers["spec"]["serviceName"] = "gone"
    scaled = _get(stateful, "ScaledObject", "scorer")
    scaled["spec"]["scaleTargetRef"] = {"name": "scorer"}  # KEDA's default: a Deployment
    assert kubernetes.policy_problems(_replace(stateful, scorers, scaled)) == [
        "ScaledObject/scorer: scales Deployment/scorer, which is not here",
        "StatefulSet/scorer: container scorer: SCORER_INSTANCE_ID must come from the pod's "
        "metadata.name (unique per replica: it makes the transactional id)",
        "StatefulSet/scorer: serviceName gone names no Service here",
    ]
    service = _get(stateful, "Service", "scorer")
    del service["spec"]["clusterIP"]
    pdb = _get(stateful, "PodDisruptionBudget", "scorer")
    pdb["spec"]["selector"]["matchLabels"] = {"app.kubernetes.io/name": "scorers"}
    assert kubernetes.policy_problems(_replace(stateful, service, pdb)) == [
        "PodDisruptionBudget/scorer: its selector matches no Deployment's or StatefulSet's pods",
        "StatefulSet/scorer: Service/scorer must be headless (clusterIP: None) and select its pods",
    ]
    # static membership on a Deployment: a replaced pod comes back under another name
    deployment = _get(overlay, "Deployment", "scorer")
    _container(deployment)["env"].append({"name": "SCORER_STATIC_MEMBERSHIP", "value": "true"})
    assert kubernetes.policy_problems(_replace(overlay, deployment)) == [
        "Deployment/scorer: container scorer: SCORER_STATIC_MEMBERSHIP needs stable pod "
        "names: a replaced pod of a Deployment rejoins under a new id; run the scorers as a "
        "StatefulSet"
    ]


def _cluster_nodes(docs: list[Manifest]) -> dict[str, bool]:
    return {name_of(doc): clustered for doc, _, clustered in redis_cluster.cluster_users(docs)}


def test_cluster_overlay_gives_the_cluster_to_the_feature_store_processes_only(
    cluster: list[Manifest],
) -> None:
    assert _cluster_nodes(cluster) == {
        "Deployment/api": True,
        "Deployment/archiver": False,
        "Deployment/console": True,
        "Deployment/learner": True,
        "Deployment/scorer": True,
        "Job/features-backfill": True,
        "Job/replay": False,
        "Job/topics": False,
    }
    assert "REDIS_CLUSTER_NODES" not in _get(cluster, "ConfigMap", "fraudstream-config")["data"]
    nodes = _get(cluster, "ConfigMap", "fraudstream-redis-cluster")["data"]["REDIS_CLUSTER_NODES"]
    assert redis_client.cluster_seeds(nodes)
    for kind, name in (
        ("Deployment", "scorer"),
        ("Deployment", "api"),
        ("Deployment", "learner"),
        ("Deployment", "console"),
        ("Job", "features-backfill"),
    ):
        password = _env(_get(cluster, kind, name))["REDIS_PASSWORD"]
        assert password["secretKeyRef"]["key"] == "redis-cluster-password", name


def test_cluster_checks_catch_a_broken_cluster_overlay(
    cluster: list[Manifest], base: list[Manifest]
) -> None:
    # the cluster's address in the map every process reads: all of them on the cluster
    config = _get(base, "ConfigMap", "fraudstream-config")
    config["data"]["REDIS_CLUSTER_NODES"] = "redis-0:6379"
    assert kubernetes.policy_problems(_replace(base, config)) == []
    # a command that needs one Redis, given the cluster: it would stop at start
    console = _get(cluster, "Deployment", "console")
    _container(console)["args"] = ["drift"]
    assert kubernetes.policy_problems(_replace(cluster, console)) == [
        "Deployment/console: container console runs `fraudstream drift`, which needs one "
        "Redis and refuses REDIS_CLUSTER_NODES: keep it off that setting",
    ]
    # the console left on one Redis: it would show another store than the scorers'
    console = _get(cluster, "Deployment", "console")
    _container(console)["envFrom"] = _container(console)["envFrom"][:1]
    assert kubernetes.policy_problems(_replace(cluster, console)) == [
        "the scorer, the API, the learner, the backfill and the console must share one "
        "feature store, all on the Redis Cluster or none: on the cluster: Deployment/api, "
        "Deployment/learner, Deployment/scorer, Job/features-backfill; on one Redis: "
        "Deployment/console"
    ]
    # the learner left on one Redis: the store splits in two
    learner = _get(cluster, "Deployment", "learner")
    _container(learner)["envFrom"] = _container(learner)["envFrom"][:1]
    assert kubernetes.policy_problems(_replace(cluster, learner)) == [
        "the scorer, the API, the learner, the backfill and the console must share one "
        "feature store, all on the Redis Cluster or none: on the cluster: Deployment/api, "
        "Deployment/console, Deployment/scorer, Job/features-backfill; on one Redis: "
        "Deployment/learner"
    ]
    # the component without the overlay's ConfigMap: the pods would not start
    rest = [d for d in cluster if not d["metadata"]["name"].startswith("fraudstream-redis")]
    problems = kubernetes.policy_problems(rest)
    assert len(problems) == 5  # scorer, API, learner, console, backfill Job
    assert all("envFrom names ConfigMap fraudstream-redis-cluster-" in p for p in problems)


def test_both_components_compose_on_one_overlay(tmp_path: Path) -> None:
    def rel(path: Path) -> str:
        return os.path.relpath(path, tmp_path)

    (tmp_path / "kustomization.yaml").write_text(
        "namespace: fraudstream\n"
        f"resources:\n  - {rel(OVERLAY)}\n"
        f"components:\n  - {rel(COMPONENTS / 'redis-cluster')}\n"
        f"  - {rel(COMPONENTS / 'scorer-statefulset')}\n"
        "configMapGenerator:\n  - name: fraudstream-redis-cluster\n"
        "    literals: [REDIS_CLUSTER_NODES=redis-0:6379]\n"
    )
    docs = kubernetes.build(tmp_path, ROOT)
    assert kubernetes.schema_problems(docs, ROOT) == []
    assert kubernetes.policy_problems(docs) == []
    assert _cluster_nodes(docs)["StatefulSet/scorer"]
