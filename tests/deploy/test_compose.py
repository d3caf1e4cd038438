"""docker-compose.yml, checked without Docker: valid against the Compose Specification schema, and
wired right (settings, commands, dependencies, volumes, credentials, Prometheus and Grafana files)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import jsonschema
import pytest
import yaml

from tests.support.deploy_checks import (
    ROOT,
    dockerfile_env,
    dockerfile_stages,
    interpolate,
    interpolation_variables,
    parse_videoapi_args,
    settings_from_env,
)
from videoapi.queue.names import QUEUES

COMPOSE_FILE = ROOT / "docker-compose.yml"
# Vendored from github.com/compose-spec/compose-spec, schema/compose-spec.json (commit 00655e2).
SCHEMA = Path(__file__).parent / "fixtures" / "compose-spec.json"
PROMETHEUS = ROOT / "deploy" / "prometheus" / "prometheus.yml"
GRAFANA = ROOT / "deploy" / "grafana" / "provisioning"
# What an operator puts in .env: the required values, as .env.example asks.
DOT_ENV = {
    "POSTGRES_PASSWORD": "pg-secret",
    "MINIO_ROOT_PASSWORD": "minio-secret",
    "VIDEOAPI_SIGNING_SECRET": "sign-secret",
    "VIDEOAPI_WATERMARK_SECRET": "mark-secret",
    "VIDEOAPI_DESTINATIONS_KEY": "dest-secret",
}
RABBITMQ_ENV = {
    **DOT_ENV,
    "VIDEOAPI_BROKER": "rabbitmq",
    "VIDEOAPI_BROKER_URL": "amqp://videoapi:videoapi@rabbitmq:5672/",
}


def _resolve(node: Any, variables: dict[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, variables)
    if isinstance(node, list):
        return [_resolve(item, variables) for item in node]
    if isinstance(node, dict):
        return {key: _resolve(value, variables) for key, value in node.items()}
    return node


def compose(variables: dict[str, str] | None = None) -> dict[str, Any]:
    """The compose file as Compose sees it: YAML anchors merged, then ${...} interpolated."""
    raw = yaml.safe_load(COMPOSE_FILE.read_text())
    return _resolve(raw, DOT_ENV if variables is None else variables)


def image_services(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Services that run the videoapi image (built from this repository)."""
    return {name: svc for name, svc in doc["services"].items() if isinstance(svc.get("build"), dict)}


def container_env(service: dict[str, Any]) -> dict[str, str]:
    """The image's ENV overlaid with the service's environment, as the container sees it."""
    env = dockerfile_env(dockerfile_stages()[-1])
    env.update({k: str(v) for k, v in service.get("environment", {}).items()})
    return env


def depends_on(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """depends_on in its long form (the short list form means `service_started`)."""
    raw = service.get("depends_on", {})
    return raw if isinstance(raw, dict) else {target: {"condition": "service_started"} for target in raw}


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """Short-syntax volumes as {source: container path}."""
    return {m.split(":")[0]: m.split(":")[1] for m in service.get("volumes", [])}


def test_compose_file_is_valid_against_the_compose_specification() -> None:
    schema = json.loads(SCHEMA.read_text())
    # The schema declares draft-07 (under a $schema URL jsonschema does not recognise).
    jsonschema.Draft7Validator.check_schema(schema)
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(compose()), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors)


def test_the_schema_check_catches_a_wrong_compose_file() -> None:
    schema = json.loads(SCHEMA.read_text())
    broken = compose()
    broken["services"]["api"]["depends_on"]["migrate"]["condition"] = "service_finished"
    broken["services"]["api"]["restart_policy"] = "always"
    errors = list(jsonschema.Draft7Validator(schema).iter_errors(broken))
    assert len(errors) >= 2


def test_secrets_are_required_and_every_variable_is_documented_in_env_example() -> None:
    used = interpolation_variables(COMPOSE_FILE.read_text())
    required = {name for name, op in used.items() if op in (":?", "?")}
    assert required == set(DOT_ENV)
    example = (ROOT / ".env.example").read_text()
    for name in used:
        assert f"{name}=" in example, f"{name} is not in .env.example"
    with pytest.raises(KeyError, match="POSTGRES_PASSWORD"):
        compose({k: v for k, v in DOT_ENV.items() if k != "POSTGRES_PASSWORD"})


@pytest.mark.parametrize("variables", [DOT_ENV, RABBITMQ_ENV], ids=["redis", "rabbitmq"])
def test_every_videoapi_environment_loads_as_settings(variables: dict[str, str]) -> None:
    services = image_services(compose(variables))
    assert set(services) == {"migrate", "api", "worker-cpu", "worker-gpu"}
    for name, service in services.items():
        settings = settings_from_env(container_env(service))
        assert settings.server.embedded_workers is False, name
        assert settings.storage.backend == "s3" and settings.database_url.startswith("postgresql+asyncpg://")
        assert settings.queue.broker == ("rabbitmq" if variables is RABBITMQ_ENV else "redis")
        assert settings.rate_limit_redis_url.startswith("redis://redis:6379/"), name


def test_every_command_is_a_videoapi_cli_invocation() -> None:
    services = image_services(compose())
    calls = {name: parse_videoapi_args(svc["command"]) for name, svc in services.items()}
    assert calls["migrate"].path == ("db", "upgrade")
    assert calls["api"].path == ("serve",)
    assert calls["worker-cpu"].params["queues"] == "cpu"
    assert calls["worker-gpu"].params["queues"] == "gpu"
    for name in ("worker-cpu", "worker-gpu"):
        assert calls[name].path == ("worker",)
        assert set(calls[name].params["queues"].split(",")) <= set(QUEUES)
        # The worker healthcheck probes the metrics port the command opens.
        port = calls[name].params["metrics_port"]
        assert f"127.0.0.1:{port}/metrics" in " ".join(services[name]["healthcheck"]["test"])


def test_services_start_in_order_after_migrations_and_healthy_dependencies() -> None:
    services = compose()["services"]
    for name, service in services.items():
        for target, condition in depends_on(service).items():
            assert target in services, f"{name} depends on unknown service {target}"
            if condition["condition"] == "service_healthy":
                assert "healthcheck" in services[target], f"{target} has no healthcheck for {name}"
            if condition["condition"] == "service_completed_successfully":
                assert services[target]["restart"] == "no", f"{target} is a one-shot: restart must be 'no'"
    for name in ("api", "worker-cpu", "worker-gpu"):
        wanted = services[name]["depends_on"]
        assert wanted["migrate"]["condition"] == "service_completed_successfully"
        assert wanted["minio-init"]["condition"] == "service_completed_successfully"
        assert wanted["postgres"]["condition"] == wanted["redis"]["condition"] == "service_healthy"
        # RabbitMQ is waited for only when its profile runs.
        assert wanted["rabbitmq"]["required"] is False
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}


def test_credentials_and_names_agree_between_services() -> None:
    services = compose()["services"]
    env = services["api"]["environment"]
    pg = services["postgres"]["environment"]
    assert env["VIDEOAPI_DATABASE__URL"] == (
        f"postgresql+asyncpg://{pg['POSTGRES_USER']}:{pg['POSTGRES_PASSWORD']}@postgres:5432/{pg['POSTGRES_DB']}"
    )
    minio = services["minio"]["environment"]
    assert env["VIDEOAPI_STORAGE__S3_ACCESS_KEY"] == minio["MINIO_ROOT_USER"]
    assert env["VIDEOAPI_STORAGE__S3_SECRET_KEY"] == minio["MINIO_ROOT_PASSWORD"]
    assert env["VIDEOAPI_STORAGE__S3_ENDPOINT"] == "minio:9000"
    assert services["minio-init"]["environment"]["BUCKET"] == env["VIDEOAPI_STORAGE__S3_BUCKET"]
    assert env["VIDEOAPI_QUEUE__URL"].startswith("redis://redis:6379/")
    rabbit = compose(RABBITMQ_ENV)["services"]
    assert rabbit["api"]["environment"]["VIDEOAPI_QUEUE__URL"].startswith(
        f"amqp://{rabbit['rabbitmq']['environment']['RABBITMQ_DEFAULT_USER']}:"
        f"{rabbit['rabbitmq']['environment']['RABBITMQ_DEFAULT_PASS']}@rabbitmq:5672"
    )
    # Every process shares the secrets that must verify on another process.
    for name in ("migrate", "worker-cpu", "worker-gpu"):
        other = services[name]["environment"]
        for key in (
            "VIDEOAPI_STORAGE__SIGNING_SECRET",
            "VIDEOAPI_WATERMARK__SECRET",
            "VIDEOAPI_DESTINATIONS__ENCRYPTION_KEY",
            "VIDEOAPI_DATABASE__URL",
        ):
            assert other[key] == env[key], (name, key)


def test_optional_parts_are_behind_profiles_and_the_gpu_worker_gets_a_gpu() -> None:
    services = compose()["services"]
    profiles = {name: svc.get("profiles", []) for name, svc in services.items()}
    assert profiles["rabbitmq"] == ["rabbitmq"]
    assert profiles["worker-gpu"] == ["gpu"]
    assert profiles["prometheus"] == profiles["grafana"] == ["monitoring"]
    assert all(not profiles[name] for name in ("postgres", "redis", "minio", "minio-init", "migrate", "api"))
    gpu = services["worker-gpu"]
    assert gpu["build"]["args"]["VARIANT"] == "cuda"
    assert services["api"]["build"]["args"]["VARIANT"] == "cpu"
    assert gpu["deploy"]["resources"]["reservations"]["devices"] == [
        {"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}
    ]
    assert settings_from_env(container_env(gpu)).generation.device == "cuda"


def test_every_named_volume_is_declared_and_stateful_services_keep_their_data() -> None:
    doc = compose()
    declared = set(doc["volumes"])
    used: set[str] = set()
    for name, service in doc["services"].items():
        for source in mounts(service):
            if source.startswith((".", "/")):
                assert (ROOT / source).exists(), f"{name} mounts {source}, which is not in the repository"
            else:
                assert source in declared, f"{name} uses undeclared volume {source}"
                used.add(source)
    assert used == declared, f"declared but unused: {declared - used}"
    data_dirs = {
        "postgres": "/var/lib/postgresql/data",
        "redis": "/data",
        "rabbitmq": "/var/lib/rabbitmq",
        "minio": "/data",
        "prometheus": "/prometheus",
        "grafana": "/var/lib/grafana",
        "worker-gpu": "/var/lib/videoapi",
    }
    for name, path in data_dirs.items():
        assert path in mounts(doc["services"][name]).values(), f"{name} keeps {path} in the container only"


def test_prometheus_scrapes_the_api_and_every_worker_on_their_real_ports() -> None:
    services = compose()["services"]
    config = yaml.safe_load(PROMETHEUS.read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"videoapi-api", "videoapi-worker"}
    assert jobs["videoapi-api"]["static_configs"] == [{"targets": ["api:9100"]}]
    assert jobs["videoapi-api"]["metrics_path"] == "/metrics"
    assert "8000:8000" in services["api"]["ports"]
    api_settings = settings_from_env(container_env(services["api"]))
    assert api_settings.server.port == 8000
    # /metrics has its own listener, on the compose network only: never a published port.
    assert api_settings.metrics.listen_address == ("0.0.0.0", 9100)
    assert not any("9100" in str(port) for port in services["api"]["ports"])
    discovery = jobs["videoapi-worker"]["dns_sd_configs"]
    assert len(discovery) == 1 and discovery[0]["type"] == "A"
    assert sorted(discovery[0]["names"]) == ["worker-cpu", "worker-gpu"]
    for name in discovery[0]["names"]:
        call = parse_videoapi_args(services[name]["command"])
        assert call.path == ("worker",) and call.params["metrics_port"] == discovery[0]["port"]
    for rule_file in config["rule_files"]:
        assert (PROMETHEUS.parent / rule_file).exists(), f"rule file {rule_file} is missing"
    # prometheus.yml and its rule files are mounted together.
    assert "./deploy/prometheus:/etc/prometheus:ro" in services["prometheus"]["volumes"]


def test_grafana_is_provisioned_with_the_prometheus_datasource_and_the_dashboards() -> None:
    services = compose()["services"]
    datasource = yaml.safe_load((GRAFANA / "datasources" / "prometheus.yml").read_text())["datasources"]
    assert [(d["uid"], d["type"], d["url"]) for d in datasource] == [
        ("prometheus", "prometheus", "http://prometheus:9090")
    ]
    assert "9090:9090" in services["prometheus"]["ports"]
    providers = yaml.safe_load((GRAFANA / "dashboards" / "videoapi.yml").read_text())["providers"]
    grafana = mounts(services["grafana"])
    assert grafana["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
    assert [p["options"]["path"] for p in providers] == [grafana["./deploy/grafana/dashboards"]]


@pytest.mark.parametrize(
    "argv",
    [
        ["wroker", "--queues", "cpu"],
        ["worker", "--queue", "cpu"],
        ["worker", "--metrics-port", "nine"],
        ["db"],
        ["db", "upgrade", "head"],
    ],
)
def test_the_command_check_refuses_what_videoapi_would_refuse(argv: list[str]) -> None:
    with pytest.raises(click.UsageError):
        parse_videoapi_args(argv)
