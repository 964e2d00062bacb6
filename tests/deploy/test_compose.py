"""docker-compose.yml: the Compose specification, settings that exist, mounts that
exist, a start-up order that can happen; and the checks catch what they should."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from fraudstream.deploy import compose

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"


@pytest.fixture(scope="module")
def stack() -> dict[str, Any]:
    return compose.load(COMPOSE)


def test_matches_the_compose_specification() -> None:
    assert compose.schema_problems(COMPOSE) == []


def test_fraudstream_services_name_only_real_settings(stack: dict[str, Any]) -> None:
    assert compose.settings_problems(stack) == []
    checked = [name for name, svc in stack["services"].items() if compose.runs_fraudstream(svc)]
    assert {"scorer", "learner", "archiver", "api", "replay", "airflow-scheduler"} <= set(checked)


def test_every_mounted_path_exists_in_the_repository(stack: dict[str, Any]) -> None:
    assert compose.mount_problems(stack, ROOT) == []


def test_start_up_order_can_happen(stack: dict[str, Any]) -> None:
    assert compose.order_problems(stack) == []


def test_the_whole_stack_is_there(stack: dict[str, Any]) -> None:
    services = stack["services"]
    assert {
        "kafka",
        "topics",
        "redis",
        "mlflow",
        "mlflow-db",
        "airflow-db",
        "airflow-init",
        "airflow-apiserver",
        "airflow-scheduler",
        "airflow-dag-processor",
        "prometheus",
        "grafana",
        "scorer",
        "learner",
        "archiver",
        "api",
        "replay",
    } <= set(services)
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert "controller" in services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]
    assert services["replay"]["profiles"] == ["replay"]
    assert "--backend-store-uri=postgresql://" in " ".join(services["mlflow"]["command"])
    assert "./dags:/opt/airflow/dags:ro" in services["airflow-scheduler"]["volumes"]
    assert services["topics"]["command"] == ["topics"]
    # monitoring: scrape targets by service name, the datasource's URL
    assert (
        "./infra/compose/prometheus-targets:/etc/prometheus/targets:ro"
        in services["prometheus"]["volumes"]
    )
    assert services["grafana"]["environment"]["PROMETHEUS_URL"] == "http://prometheus:9090"
    targets = {
        path.stem: yaml.safe_load(path.read_text())[0]["targets"]
        for path in (ROOT / "infra/compose/prometheus-targets").glob("*.yml")
    }
    for name, port in {"scorer": 8001, "learner": 8002, "archiver": 8003, "api": 8080}.items():
        assert targets[name] == [f"{name}:{port}"]
        assert name in services


def test_long_running_services_have_healthchecks_and_settings_from_env_file(
    stack: dict[str, Any],
) -> None:
    for name, service in stack["services"].items():
        one_shot = service.get("restart") in {"no", None} or str(service["restart"]).startswith(
            "on-failure"
        )
        if not one_shot:
            assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        if compose.runs_fraudstream(service):
            assert service["env_file"] == [{"path": ".env", "required": False}], name
            # inside the network the addresses differ from a developer's .env
            assert service["environment"]["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:29092", name


def _write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "docker-compose.yml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_schema_check_rejects_what_compose_would(tmp_path: Path) -> None:
    bad = _write(
        tmp_path,
        {"services": {"a": {"image": "x", "depends_on": {"b": {"condition": "when_ready"}}}}},
    )
    problems = compose.schema_problems(bad)
    assert len(problems) == 1
    assert "Compose schema" in problems[0]


def test_settings_check_flags_a_misspelt_setting_only_on_fraudstream_services() -> None:
    stack = {
        "services": {
            "scorer": {
                "build": {"context": ".", "target": "runtime"},
                "environment": {"SCORER_HTTP_HOTS": "0.0.0.0", "SCORER_HTTP_HOST": "0.0.0.0"},
            },
            "airflow": {
                "build": {"context": ".", "target": "airflow"},
                "environment": ["API_KYE=x"],
            },
            "kafka": {"image": "apache/kafka", "environment": {"KAFKA_NODE_ID": "1"}},
        }
    }
    assert compose.settings_problems(stack) == [
        "service scorer: environment SCORER_HTTP_HOTS is not a fraudstream setting "
        "(fraudstream.config; .env.example lists them all)",
        "service airflow: environment API_KYE is not a fraudstream setting "
        "(fraudstream.config; .env.example lists them all)",
    ]


def test_mount_check_flags_missing_outside_and_undeclared(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    stack = {
        "services": {
            "a": {
                "build": ".",
                "volumes": [
                    "./conf:/etc/conf:ro",
                    "./missing.yml:/etc/missing.yml",
                    "../elsewhere:/x",
                    "undeclared:/data",
                    "declared:/more",
                ],
                "env_file": [".env", {"path": ".env.local", "required": False}],
            },
            "b": {"build": {"context": "sub"}},
        },
        "volumes": {"declared": None},
    }
    assert compose.mount_problems(stack, tmp_path) == [
        "service a: mounted path ./missing.yml does not exist",
        "service a: mount ../elsewhere is outside the repository",
        "service a: volume 'undeclared' is not declared",
        "service a: env_file .env does not exist",
        "service b: no Dockerfile in build context sub",
    ]


def test_order_check_flags_impossible_waits() -> None:
    stack = {
        "services": {
            "app": {
                "depends_on": {
                    "db": {"condition": "service_healthy"},
                    "init": {"condition": "service_completed_successfully"},
                    "load": {"condition": "service_started"},
                    "ghost": {"condition": "service_started"},
                }
            },
            "db": {"image": "postgres", "healthcheck": {"disable": True}},
            "init": {"image": "x", "restart": "unless-stopped"},
            "load": {"image": "x", "profiles": ["replay"]},
        }
    }
    assert compose.order_problems(stack) == [
        "service app: waits for db to be healthy, which has no healthcheck",
        "service app: waits for init to complete, but init restarts forever",
        "service app: depends on load, which only runs with profile(s) ['replay']",
        "service app: depends on unknown service ghost",
    ]
