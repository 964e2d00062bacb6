"""Reading built Kubernetes manifests: names, pod specs, containers, and the
environment a container gets from its ``env`` and its ConfigMaps.

>>> pod = {
...     "containers": [
...         {
...             "name": "scorer",
...             "image": "fraudstream",
...             "args": ["score"],
...             "envFrom": [{"configMapRef": {"name": "cfg"}}],
...             "env": [
...                 {
...                     "name": "SCORER_INSTANCE_ID",
...                     "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
...                 }
...             ],
...         }
...     ]
... }
>>> doc = {
...     "kind": "StatefulSet",
...     "metadata": {"name": "scorer"},
...     "spec": {"template": {"spec": pod}},
... }
>>> cfg = {"kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"REDIS_URL": "r"}}
>>> name_of(doc), command(containers(doc)[0])
('StatefulSet/scorer', 'score')
>>> environment(containers(doc)[0], config_maps([doc, cfg]))
{'REDIS_URL': 'r', 'SCORER_INSTANCE_ID': None}
>>> field_ref(containers(doc)[0], "SCORER_INSTANCE_ID")
'metadata.name'
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

Manifest = dict[str, Any]

#: Kinds that run pods.
WORKLOADS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"})
#: Kinds whose pods keep running and that a ScaledObject or a PodDisruptionBudget aims at.
SCALABLE = frozenset({"Deployment", "StatefulSet"})


def name_of(doc: Manifest) -> str:
    """``Kind/name`` of a manifest, as problems name it."""
    return f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"


def pod_spec(doc: Manifest) -> Manifest:
    """The pod spec of a workload (empty for other kinds)."""
    spec: Manifest = doc.get("spec") or {}
    if doc.get("kind") == "CronJob":
        spec = spec.get("jobTemplate", {}).get("spec", {})
    return dict(spec.get("template", {}).get("spec") or {})


def pod_labels(doc: Manifest) -> dict[str, str]:
    """The labels of a workload's pods."""
    template = (doc.get("spec") or {}).get("template") or {}
    return dict((template.get("metadata") or {}).get("labels") or {})


def containers(doc: Manifest) -> list[Manifest]:
    """Init containers, then containers, of a workload."""
    spec = pod_spec(doc)
    return list(spec.get("initContainers") or []) + list(spec.get("containers") or [])


def fraudstream_containers(doc: Manifest) -> Iterator[Manifest]:
    """The containers of ``doc`` that run the fraudstream image."""
    for container in containers(doc):
        if "fraudstream" in str(container.get("image", "")):
            yield container


def command(container: Manifest) -> str:
    """The fraudstream subcommand a container runs (its first argument)."""
    args = container.get("args") or container.get("command") or [""]
    return str(args[0])


def config_maps(docs: list[Manifest]) -> dict[str, dict[str, str]]:
    """Name -> data of every ConfigMap in ``docs``."""
    return {
        str(doc["metadata"]["name"]): {str(k): str(v) for k, v in (doc.get("data") or {}).items()}
        for doc in docs
        if doc.get("kind") == "ConfigMap"
    }


def environment(container: Manifest, maps: dict[str, dict[str, str]]) -> dict[str, str | None]:
    """The variables a container gets and their values (``None``: from ``valueFrom``).

    As Kubernetes resolves them: ``envFrom`` ConfigMaps in order (a later one wins),
    then ``env`` over all of them. Keys of ``envFrom`` Secrets are not known here.
    """
    found: dict[str, str | None] = {}
    for source in container.get("envFrom") or []:
        ref = source.get("configMapRef") or {}
        found.update(maps.get(str(ref.get("name")), {}))
    for env in container.get("env") or []:
        found[str(env.get("name"))] = None if "valueFrom" in env else str(env.get("value", ""))
    return found


def field_ref(container: Manifest, name: str) -> str | None:
    """The pod field the variable ``name`` is taken from (downward API), if any."""
    for env in container.get("env") or []:
        if env.get("name") == name:
            ref = (env.get("valueFrom") or {}).get("fieldRef") or {}
            return str(ref["fieldPath"]) if "fieldPath" in ref else None
    return None


def missing_config_maps(doc: Manifest, maps: dict[str, dict[str, str]]) -> Iterator[str]:
    """ConfigMaps a workload's containers take whole (``envFrom``, not optional) that
    are not in the build: its pods would not start."""
    for container in containers(doc):
        for source in container.get("envFrom") or []:
            ref = source.get("configMapRef") or {}
            if ref and not ref.get("optional") and str(ref.get("name")) not in maps:
                yield (
                    f"{name_of(doc)}: container {container.get('name')}: envFrom names "
                    f"ConfigMap {ref.get('name')}, which is not here"
                )
