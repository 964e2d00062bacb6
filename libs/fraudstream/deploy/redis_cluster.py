"""Rules for ``REDIS_CLUSTER_NODES`` in Kubernetes manifests.

With ``REDIS_CLUSTER_NODES`` set, the scorer, the API, the learner, the feature
backfill and the console open the Redis Cluster feature store
(:func:`fraudstream.redis_client.build_any_redis`). The other commands that open Redis
(reports, drift, benches) need one Redis (``REDIS_URL``) and stop at start with a
configuration error when they get it (:func:`fraudstream.redis_client.build_redis`).
Hence:

- only the subcommands of :data:`CLUSTER_READY`, and those that open no Redis at all
  (:data:`NO_REDIS`), may get ``REDIS_CLUSTER_NODES``;
- the processes of :data:`CLUSTER_READY` share one feature store: all of them on the
  cluster, or none (the learner reports frauds where the scorer reads them, the API
  and the console read what the scorer records).
"""

from __future__ import annotations

from collections.abc import Iterator

from fraudstream.deploy.manifests import (
    WORKLOADS,
    Manifest,
    command,
    config_maps,
    environment,
    fraudstream_containers,
    name_of,
)

CLUSTER_NODES = "REDIS_CLUSTER_NODES"
#: Subcommands that work on a Redis Cluster: the processes of the feature store.
CLUSTER_READY = frozenset({"score", "serve", "learn", "features", "console"})
#: Subcommands that open no Redis, so ignore the setting.
NO_REDIS = frozenset({"archive", "topics", "replay", "data"})


def cluster_users(docs: list[Manifest]) -> Iterator[tuple[Manifest, Manifest, bool]]:
    """(workload, container, gets a non-empty ``REDIS_CLUSTER_NODES``) for every
    fraudstream container."""
    maps = config_maps(docs)
    for doc in docs:
        if doc.get("kind") in WORKLOADS:
            for container in fraudstream_containers(doc):
                value = environment(container, maps).get(CLUSTER_NODES, "")
                yield doc, container, value is None or bool(value.strip())


def cluster_problems(docs: list[Manifest]) -> Iterator[str]:
    """Processes that would refuse ``REDIS_CLUSTER_NODES`` but get it, and a feature
    store split between one Redis and a cluster."""
    on_cluster: dict[str, list[str]] = {}
    for doc, container, clustered in cluster_users(docs):
        run = command(container)
        if run in CLUSTER_READY:
            on_cluster.setdefault("on the cluster" if clustered else "on one Redis", []).append(
                name_of(doc)
            )
        elif clustered and run not in NO_REDIS:
            yield (
                f"{name_of(doc)}: container {container.get('name')} runs `fraudstream {run}`, "
                f"which needs one Redis and refuses {CLUSTER_NODES}: keep it off that setting"
            )
    if len(on_cluster) > 1:
        split = "; ".join(f"{where}: {', '.join(names)}" for where, names in on_cluster.items())
        yield (
            "the scorer, the API, the learner, the backfill and the console must share one "
            f"feature store, all on the Redis Cluster or none: {split}"
        )
