"""Offline checks of the kustomize manifests under infra/k8s: every file a
kustomization names exists, the built manifests match the Kubernetes schemas (KEDA's
custom resources match small local schemas), and the rules this deployment relies on
hold (probes on /healthz, resources set, secrets only by reference, a single learner,
scorers bounded by partitions, stable scorer ids, ``REDIS_CLUSTER_NODES`` only where it
works)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import kubernetes_validate
import yaml

from fraudstream.config import KafkaSettings, ScorerSettings
from fraudstream.deploy.manifests import (
    SCALABLE,
    WORKLOADS,
    Manifest,
    config_maps,
    containers,
    missing_config_maps,
    name_of,
    pod_labels,
    pod_spec,
)
from fraudstream.deploy.redis_cluster import cluster_problems
from fraudstream.deploy.scorer_identity import identity_problems
from fraudstream.deploy.settings import unknown_settings
from fraudstream.deploy.tools import find_tool, run_tool

#: Kubernetes version the manifests are validated against.
KUBERNETES_VERSION = "1.33"
#: Local JSON schemas of custom resources, ``<kind>-<group>-<version>.json``.
CRD_SCHEMAS = Path("infra/k8s/schemas")
CONFIG_MAP = "fraudstream-config"
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|(^|_)KEY$", re.IGNORECASE)


def _kustomization(directory: Path) -> Path | None:
    for name in ("kustomization.yaml", "kustomization.yml", "Kustomization"):
        if (directory / name).is_file():
            return directory / name
    return None


def _referenced(kustomization: Manifest) -> Iterator[str]:
    """Local paths a kustomization names: resources, components, patches, generators."""
    for key in ("resources", "components", "crds"):
        yield from (str(item) for item in kustomization.get(key) or [])
    for patch in kustomization.get("patches") or []:
        if isinstance(patch, dict) and "path" in patch:
            yield str(patch["path"])
    for key in ("configMapGenerator", "secretGenerator"):
        for generator in kustomization.get(key) or []:
            for field in ("envs", "files"):
                for item in generator.get(field) or []:
                    yield str(item).split("=", 1)[-1]


def kustomization_problems(directory: Path) -> list[str]:
    """Missing files a kustomization (and the ones it includes) names, and manifests
    in its folder that it does not name."""
    found = _kustomization(directory)
    if found is None:
        return [f"{directory}: no kustomization.yaml"]
    data = yaml.safe_load(found.read_text()) or {}
    problems: list[str] = []
    named: set[Path] = set()
    for ref in _referenced(data):
        if "://" in ref or ref.startswith("github.com/"):
            continue  # remote bases are kustomize's business
        target = (directory / ref).resolve()
        named.add(target)
        if target.is_dir():
            problems += kustomization_problems(target)
        elif not target.is_file():
            problems.append(f"{found}: {ref} does not exist")
    for manifest in sorted(directory.glob("*.yaml")):
        if manifest.resolve() not in named and manifest != found:
            problems.append(f"{found}: {manifest.name} is in the folder but not listed")
    return problems


def build(directory: Path, root: Path) -> list[Manifest]:
    """The manifests ``kustomize build`` renders for ``directory``."""
    code, output = run_tool([str(find_tool("kustomize", root)), "build", str(directory)], root)
    if code != 0:
        raise ValueError(f"kustomize build {directory} failed: {output}")
    return [doc for doc in yaml.safe_load_all(output) if doc]


def schema_problems(docs: list[Manifest], root: Path) -> list[str]:
    """Manifests that do not match their schema (strict: unknown fields are errors)."""
    problems = []
    for doc in docs:
        group, _, version = str(doc.get("apiVersion", "")).rpartition("/")
        custom = "." in group and not group.endswith("k8s.io")
        try:
            if custom:
                local = (
                    CRD_SCHEMAS
                    / f"{str(doc.get('kind')).lower()}-{group.split('.')[0]}-{version}.json"
                )
                if not (root / local).is_file():
                    problems.append(f"{name_of(doc)}: no local schema {local}")
                    continue
                jsonschema.validate(doc, json.loads((root / local).read_text()))
            else:
                kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except jsonschema.ValidationError as exc:
            path = ".".join(str(part) for part in exc.absolute_path)
            problems.append(f"{name_of(doc)}: {path}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            problems.append(f"{name_of(doc)}: {exc.message}")
    return problems


#: Paths each probe may use: liveness always /healthz; readiness /healthz, or /readyz
#: where a process tells "alive" and "ready" apart (the API).
PROBE_PATHS = {"livenessProbe": {"/healthz"}, "readinessProbe": {"/healthz", "/readyz"}}


def _probe_problems(doc: Manifest) -> Iterator[str]:
    for container in pod_spec(doc).get("containers") or []:
        for probe, allowed in PROBE_PATHS.items():
            path = ((container.get(probe) or {}).get("httpGet") or {}).get("path")
            if path not in allowed:
                where = f"{name_of(doc)}: container {container.get('name')}"
                yield f"{where}: {probe} is not an HTTP GET of {' or '.join(sorted(allowed))}"


def _resource_problems(doc: Manifest) -> Iterator[str]:
    for container in containers(doc):
        resources = container.get("resources") or {}
        requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
        if not {"cpu", "memory"} <= set(requests) or "memory" not in limits:
            yield (
                f"{name_of(doc)}: container {container.get('name')}: needs cpu and memory "
                "requests and a memory limit"
            )


def _secret_problems(doc: Manifest) -> Iterator[str]:
    if doc.get("kind") == "Secret" and (doc.get("data") or doc.get("stringData")):
        yield (
            f"{name_of(doc)}: secret values must not be committed; reference a Secret made outside"
        )
    if doc.get("kind") == "ConfigMap":
        for key in doc.get("data") or {}:
            if SECRET_NAME.search(str(key)):
                yield f"{name_of(doc)}: {key} looks secret: use a secretKeyRef instead"
    for container in containers(doc):
        for env in container.get("env") or []:
            if SECRET_NAME.search(str(env.get("name"))) and "secretKeyRef" not in (
                env.get("valueFrom") or {}
            ):
                yield f"{name_of(doc)}: env {env.get('name')} must come from a secretKeyRef"


def _config(docs: list[Manifest]) -> dict[str, str]:
    for doc in docs:
        if doc.get("kind") == "ConfigMap" and str(doc["metadata"]["name"]).startswith(CONFIG_MAP):
            return {str(k): str(v) for k, v in (doc.get("data") or {}).items()}
    return {}


def _scaled_object_problems(doc: Manifest, docs: list[Manifest]) -> Iterator[str]:
    config = _config(docs)
    partitions = int(
        config.get("KAFKA_PARTITIONS", KafkaSettings.model_fields["partitions"].default)
    )
    group = config.get("SCORER_GROUP_ID", ScorerSettings.model_fields["group_id"].default)
    topic = config.get(
        "KAFKA_TRANSACTIONS_TOPIC", KafkaSettings.model_fields["transactions_topic"].default
    )
    spec = doc.get("spec") or {}
    ref = spec.get("scaleTargetRef") or {}
    target = f"{ref.get('kind', 'Deployment')}/{ref.get('name')}"  # KEDA's default kind
    scaled = [d for d in docs if d.get("kind") in SCALABLE and name_of(d) == target]
    if not scaled:
        yield f"{name_of(doc)}: scales {target}, which is not here"
    elif "replicas" in (scaled[0].get("spec") or {}):
        yield (
            f"{target}: KEDA sets its replicas; a count in the manifest would reset them "
            "at every apply"
        )
    if int(spec.get("maxReplicaCount", 100)) > partitions:
        yield (
            f"{name_of(doc)}: maxReplicaCount {spec.get('maxReplicaCount')} exceeds the "
            f"{partitions} partitions (KAFKA_PARTITIONS): extra scorers would stand idle"
        )
    for trigger in spec.get("triggers") or []:
        meta = trigger.get("metadata") or {}
        if trigger.get("type") == "kafka" and (
            meta.get("consumerGroup") != group or meta.get("topic") != topic
        ):
            yield f"{name_of(doc)}: the kafka trigger must watch group {group} on {topic}"


def _disruption_budget_problems(doc: Manifest, docs: list[Manifest]) -> Iterator[str]:
    wanted = ((doc.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    if not any(wanted.items() <= pod_labels(d).items() for d in docs if d.get("kind") in SCALABLE):
        yield f"{name_of(doc)}: its selector matches no Deployment's or StatefulSet's pods"


def _scaling_problems(docs: list[Manifest]) -> Iterator[str]:
    for doc in docs:
        if doc.get("kind") == "ScaledObject":
            yield from _scaled_object_problems(doc, docs)
        if doc.get("kind") == "PodDisruptionBudget":
            yield from _disruption_budget_problems(doc, docs)
    deployments = {d["metadata"]["name"]: d for d in docs if d.get("kind") == "Deployment"}
    learner = deployments.get("learner")
    if learner is not None and (
        learner["spec"].get("replicas", 1) != 1
        or learner["spec"].get("strategy", {}).get("type") != "Recreate"
    ):
        yield f"{name_of(learner)}: the learner is a single writer: replicas 1, strategy Recreate"


def _settings_problems(docs: list[Manifest]) -> Iterator[str]:
    for name, data in config_maps(docs).items():
        if name.startswith("fraudstream-"):
            for key in unknown_settings(data):
                yield f"ConfigMap/{name}: {key} is not a fraudstream setting"
    for doc in docs:
        for container in containers(doc):
            if "fraudstream" in str(container.get("image", "")):
                names = [str(env.get("name")) for env in container.get("env") or []]
                for name in unknown_settings(names):
                    yield f"{name_of(doc)}: env {name} is not a fraudstream setting"


def policy_problems(docs: list[Manifest]) -> list[str]:
    """Where the manifests break the rules this deployment relies on."""
    problems: list[str] = []
    maps = config_maps(docs)
    for doc in docs:
        if doc.get("kind") in SCALABLE:
            problems += _probe_problems(doc)
        if doc.get("kind") in WORKLOADS:
            problems += _resource_problems(doc)
            problems += missing_config_maps(doc, maps)
        problems += _secret_problems(doc)
    problems += _scaling_problems(docs)
    problems += _settings_problems(docs)
    problems += identity_problems(docs)
    problems += cluster_problems(docs)
    return problems


def check(directory: Path, root: Path) -> list[str]:
    """Every problem of the kustomization at ``directory`` (files, schemas, rules)."""
    problems = kustomization_problems(directory)
    if problems:
        return problems
    docs = build(directory, root)
    return schema_problems(docs, root) + policy_problems(docs)
