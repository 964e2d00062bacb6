"""Rules for the scorers' identities in Kubernetes manifests.

``SCORER_INSTANCE_ID`` makes a scorer's transactional id and, with
``SCORER_STATIC_MEMBERSHIP``, its group instance id (docs/scoring.md, "Scaling"). It
must differ between replicas and stay the same when a replica is replaced, which is
what the pod's own name gives (downward API ``metadata.name``): unique per pod, and
kept by a StatefulSet's replacement pods (``scorer-0`` stays ``scorer-0``) though not by
a Deployment's. Hence:

- every scorer takes ``SCORER_INSTANCE_ID`` from ``metadata.name``;
- static membership only on a StatefulSet: a Deployment's replacement pod joins under a
  new id, and its predecessor's partitions wait out the session timeout for nothing;
- a StatefulSet's ``serviceName`` names a headless Service of the build that selects
  its pods.
"""

from __future__ import annotations

from collections.abc import Iterator

from fraudstream.deploy.manifests import (
    SCALABLE,
    Manifest,
    command,
    config_maps,
    environment,
    field_ref,
    fraudstream_containers,
    name_of,
    pod_labels,
)

#: The subcommand of the streaming scorer.
SCORER_COMMAND = "score"
INSTANCE_ID = "SCORER_INSTANCE_ID"
STATIC_MEMBERSHIP = "SCORER_STATIC_MEMBERSHIP"
_TRUE = frozenset({"1", "true", "yes", "on"})


def scorer_workloads(docs: list[Manifest]) -> Iterator[tuple[Manifest, Manifest]]:
    """(workload, container) for every container that runs the streaming scorer."""
    for doc in docs:
        if doc.get("kind") in SCALABLE:
            for container in fraudstream_containers(doc):
                if command(container) == SCORER_COMMAND:
                    yield doc, container


def _headless_service_problems(doc: Manifest, docs: list[Manifest]) -> Iterator[str]:
    service = (doc.get("spec") or {}).get("serviceName")
    found = [d for d in docs if d.get("kind") == "Service" and d["metadata"]["name"] == service]
    if not found:
        yield f"{name_of(doc)}: serviceName {service} names no Service here"
        return
    spec = found[0].get("spec") or {}
    selector = dict(spec.get("selector") or {})
    if spec.get("clusterIP") != "None" or not selector.items() <= pod_labels(doc).items():
        yield (
            f"{name_of(doc)}: Service/{service} must be headless (clusterIP: None) and "
            "select its pods"
        )


def identity_problems(docs: list[Manifest]) -> Iterator[str]:
    """Where the scorers' ids would not be unique per replica and stable across its
    replacements."""
    maps = config_maps(docs)
    for doc, container in scorer_workloads(docs):
        where = f"{name_of(doc)}: container {container.get('name')}"
        if field_ref(container, INSTANCE_ID) != "metadata.name":
            yield (
                f"{where}: {INSTANCE_ID} must come from the pod's metadata.name (unique per "
                "replica: it makes the transactional id)"
            )
        static = str(environment(container, maps).get(STATIC_MEMBERSHIP) or "").lower()
        if static in _TRUE and doc.get("kind") != "StatefulSet":
            yield (
                f"{where}: {STATIC_MEMBERSHIP} needs stable pod names: a replaced pod of a "
                f"{doc.get('kind')} rejoins under a new id; run the scorers as a StatefulSet"
            )
        if doc.get("kind") == "StatefulSet":
            yield from _headless_service_problems(doc, docs)
