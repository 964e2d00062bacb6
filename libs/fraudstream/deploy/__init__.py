"""Offline checks of the deployment files: Dockerfile, docker-compose.yml, the
Kubernetes manifests under infra/k8s and the GitHub workflows.

No Docker engine or cluster is needed: each check reads files (and runs hadolint,
check-jsonschema, kustomize and actionlint) and returns the problems it found, as
one message each that names the file and the place. ``make validate-deploy``
(``python -m fraudstream.deploy``) runs them all; tests/deploy runs them too.
"""
