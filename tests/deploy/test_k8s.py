"""deploy/k8s, rendered with `kubectl kustomize` (offline) and checked: commands, settings, probes,
GPU scheduling, autoscaling, security and the prometheus-adapter rule the worker HPAs depend on."""

from __future__ import annotations

import inspect
import re
import shutil
import subprocess
from typing import Any

import dramatiq
import promql_parser
import pytest
import yaml

from tests.support.deploy_checks import (
    ROOT,
    dockerfile_env,
    dockerfile_stages,
    parse_videoapi_args,
    settings_from_env,
)
from videoapi.queue.names import QUEUES

K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ["cpu-only", "gpu"]
SECRET_EXAMPLE = K8S / "base" / "secrets.example.yaml"
ADAPTER_VALUES = K8S / "prometheus-adapter" / "values.yaml"
IMAGE_ENV = dockerfile_env(dockerfile_stages()[-1])


def kubectl() -> str:
    path = shutil.which("kubectl")
    if path is None:
        pytest.fail("kubectl is not installed: these tests render deploy/k8s with `kubectl kustomize`", pytrace=False)
    return path


def render(overlay: str) -> list[dict[str, Any]]:
    out = subprocess.run(
        [kubectl(), "kustomize", str(K8S / "overlays" / overlay)], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, f"kubectl kustomize {overlay} failed:\n{out.stderr}"
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


@pytest.fixture(scope="module", params=OVERLAYS)
def manifests(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return render(request.param)


def of_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def pod_containers(deployment: dict[str, Any]) -> list[dict[str, Any]]:
    spec = deployment["spec"]["template"]["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


def container_env(container: dict[str, Any], docs: list[dict[str, Any]]) -> dict[str, str]:
    """What the container sees: the image's ENV, then envFrom (the example Secret), then env."""
    env = dict(IMAGE_ENV)
    secret_example = yaml.safe_load(SECRET_EXAMPLE.read_text())
    config_maps = of_kind(docs, "ConfigMap")
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(config_maps[source["configMapRef"]["name"]]["data"])
        else:
            assert source["secretRef"]["name"] == secret_example["metadata"]["name"]
            env.update(secret_example["stringData"])
    env.update({e["name"]: e["value"] for e in container.get("env", [])})
    return env


def test_kustomize_renders_each_overlay_into_one_namespace() -> None:
    for overlay in OVERLAYS:
        docs = render(overlay)
        kinds = {d["kind"] for d in docs}
        assert {"Namespace", "ConfigMap", "Deployment", "Service", "PodDisruptionBudget"} <= kinds
        assert {"HorizontalPodAutoscaler"} <= kinds
        assert "Secret" not in kinds, "the Secret is the operator's: the example must not be applied"
        for doc in docs:
            if doc["kind"] != "Namespace":
                assert doc["metadata"]["namespace"] == "videoapi", doc["metadata"]["name"]


def test_only_the_gpu_overlay_runs_gpu_workers() -> None:
    assert set(of_kind(render("cpu-only"), "Deployment")) == {"videoapi-api", "videoapi-worker-cpu"}
    assert set(of_kind(render("gpu"), "Deployment")) == {"videoapi-api", "videoapi-worker-cpu", "videoapi-worker-gpu"}


def test_every_container_runs_a_videoapi_cli_invocation_through_the_image_entrypoint(
    manifests: list[dict[str, Any]],
) -> None:
    for name, deployment in of_kind(manifests, "Deployment").items():
        for container in pod_containers(deployment):
            # `command` would replace the image's ENTRYPOINT (tini + entrypoint.sh): only args are set.
            assert "command" not in container, (name, container["name"])
            call = parse_videoapi_args(container["args"])
            if container["name"] == "migrate":
                assert call.path == ("db", "upgrade")
            if call.path == ("worker",):
                assert set(call.params["queues"].split(",")) <= set(QUEUES)
                ports = {p["containerPort"] for p in container["ports"]}
                assert call.params["metrics_port"] in ports
        # Every pod migrates first, so new code never meets an old schema.
        assert deployment["spec"]["template"]["spec"]["initContainers"][0]["name"] == "migrate"


def test_every_environment_loads_as_settings(manifests: list[dict[str, Any]]) -> None:
    for name, deployment in of_kind(manifests, "Deployment").items():
        for container in pod_containers(deployment):
            settings = settings_from_env(container_env(container, manifests))
            assert settings.server.embedded_workers is False
            assert settings.database_url.startswith("postgresql+asyncpg://"), name
            assert settings.storage.backend == "s3" and settings.queue.broker in ("redis", "rabbitmq")
            assert settings.rate_limit_redis_url, "the rate limiter shares Redis across API replicas"
    for config_map in of_kind(manifests, "ConfigMap").values():
        assert all(key.startswith("VIDEOAPI_") for key in config_map["data"])
        settings_from_env({**config_map["data"], **yaml.safe_load(SECRET_EXAMPLE.read_text())["stringData"]})


def test_external_services_come_from_the_secret_not_the_config_map(manifests: list[dict[str, Any]]) -> None:
    secret_keys = set(yaml.safe_load(SECRET_EXAMPLE.read_text())["stringData"])
    assert {
        "VIDEOAPI_DATABASE__URL",
        "VIDEOAPI_QUEUE__URL",
        "VIDEOAPI_GATEWAY__REDIS_URL",
        "VIDEOAPI_STORAGE__S3_ENDPOINT",
        "VIDEOAPI_STORAGE__S3_ACCESS_KEY",
        "VIDEOAPI_STORAGE__S3_SECRET_KEY",
        "VIDEOAPI_STORAGE__SIGNING_SECRET",
        "VIDEOAPI_WATERMARK__SECRET",
        "VIDEOAPI_DESTINATIONS__ENCRYPTION_KEY",
    } <= secret_keys
    for config_map in of_kind(manifests, "ConfigMap").values():
        assert not secret_keys & set(config_map["data"])


def test_api_probes_health_and_readiness_on_its_serving_port(manifests: list[dict[str, Any]]) -> None:
    api = of_kind(manifests, "Deployment")["videoapi-api"]
    container = api["spec"]["template"]["spec"]["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["http"] == settings_from_env(container_env(container, manifests)).server.port
    assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert container["startupProbe"]["httpGet"]["path"] == "/health"
    service = of_kind(manifests, "Service")["videoapi-api"]
    labels = api["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    pdb = of_kind(manifests, "PodDisruptionBudget")["videoapi-api"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    hpa = of_kind(manifests, "HorizontalPodAutoscaler")["videoapi-api"]
    assert pdb["spec"]["minAvailable"] < hpa["spec"]["minReplicas"], "a drain could never evict an API pod"


def test_gpu_workers_ask_for_a_gpu_on_gpu_nodes() -> None:
    worker = of_kind(render("gpu"), "Deployment")["videoapi-worker-gpu"]
    spec = worker["spec"]["template"]["spec"]
    assert spec["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]
    container = spec["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert parse_videoapi_args(container["args"]).params["queues"] == "gpu"
    assert container["image"] == "videoapi:cuda"
    assert all(
        c["image"] == "videoapi:cpu" for c in pod_containers(of_kind(render("gpu"), "Deployment")["videoapi-api"])
    )
    env = {e["name"]: e["value"] for e in container["env"]}
    models = next(m for m in container["volumeMounts"] if m["name"] == "models")
    assert env["VIDEOAPI_GENERATION__MODELS_DIR"] == models["mountPath"]
    claim = next(v for v in spec["volumes"] if v["name"] == "models")["persistentVolumeClaim"]["claimName"]
    assert claim in of_kind(render("gpu"), "PersistentVolumeClaim")


def test_hpas_scale_existing_deployments_on_cpu_or_their_queue_depth(manifests: list[dict[str, Any]]) -> None:
    deployments = of_kind(manifests, "Deployment")
    hpas = of_kind(manifests, "HorizontalPodAutoscaler")
    assert set(hpas) == set(deployments)
    for hpa in hpas.values():
        assert hpa["apiVersion"] == "autoscaling/v2"
        target = hpa["spec"]["scaleTargetRef"]
        assert target["kind"] == "Deployment" and target["name"] in deployments
        deployment = deployments[target["name"]]
        assert "replicas" not in deployment["spec"], "the HPA owns replicas"
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        call = parse_videoapi_args(container["args"])
        (metric,) = hpa["spec"]["metrics"]
        if call.path == ("serve",):
            assert metric["type"] == "Resource" and metric["resource"]["name"] == "cpu"
            assert "cpu" in container["resources"]["requests"], "CPU utilisation needs a CPU request"
        else:
            assert metric["type"] == "External"
            assert metric["external"]["metric"]["name"] == "videoapi_queue_load"
            assert metric["external"]["metric"]["selector"]["matchLabels"] == {"queue": call.params["queues"]}


def test_workers_get_enough_time_to_drain_on_sigterm(manifests: list[dict[str, Any]]) -> None:
    # `videoapi worker` stops with dramatiq's Worker.stop(), which waits this long for running tasks.
    drain_s = inspect.signature(dramatiq.Worker.stop).parameters["timeout"].default / 1000
    for name, deployment in of_kind(manifests, "Deployment").items():
        if name.startswith("videoapi-worker"):
            assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > drain_s


def test_every_pod_and_container_runs_non_root_on_a_read_only_root(manifests: list[dict[str, Any]]) -> None:
    var_dir = IMAGE_ENV["VIDEOAPI_SERVER__VAR_DIR"]
    uid = int(dockerfile_stages()[-1].last("USER").split(":")[0])  # type: ignore[union-attr]
    for name, deployment in of_kind(manifests, "Deployment").items():
        spec = deployment["spec"]["template"]["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] == uid != 0
        assert spec["automountServiceAccountToken"] is False
        volumes = {v["name"]: v for v in spec["volumes"]}
        for container in pod_containers(deployment):
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, (name, container["name"])
            assert security["readOnlyRootFilesystem"] is True
            assert security["capabilities"]["drop"] == ["ALL"]
            assert security.get("runAsUser", uid) != 0
            writable = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert var_dir in writable and "/tmp" in writable, (name, container["name"])
            assert "emptyDir" in volumes[writable[var_dir]]
            assert "memory" in container["resources"]["limits"], "an unbounded container can starve its node"


def test_pods_carry_prometheus_scrape_annotations_for_their_metrics_port(manifests: list[dict[str, Any]]) -> None:
    for name, deployment in of_kind(manifests, "Deployment").items():
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/path"] == "/metrics"
        ports = {p["containerPort"] for p in deployment["spec"]["template"]["spec"]["containers"][0]["ports"]}
        assert int(annotations["prometheus.io/port"]) in ports, name


def test_prometheus_adapter_serves_queue_load_from_api_pods_summed_over_priority() -> None:
    values = yaml.safe_load(ADAPTER_VALUES.read_text())
    (rule,) = values["rules"]["external"]
    assert rule["name"]["as"] == "videoapi_queue_load"
    assert rule["resources"]["overrides"]["namespace"] == {"resource": "namespace"}
    # The query the adapter sends for `queue=cpu` in namespace videoapi.
    query = rule["metricsQuery"]
    query = query.replace("<<.LabelMatchers>>", 'queue="cpu",namespace="videoapi"')
    expr = promql_parser.parse(query)
    assert isinstance(expr, promql_parser.AggregateExpr) and str(expr.op) == "max"
    assert (
        expr.modifier is not None and str(expr.modifier).startswith("by ") and list(expr.modifier.labels) == ["queue"]
    )
    inner = expr.expr
    assert isinstance(inner, promql_parser.AggregateExpr) and str(inner.op) == "sum"
    # Summed per pod and queue: priority is added up, and replicas are not counted twice (max).
    assert inner.modifier is not None and str(inner.modifier).startswith("by ")
    assert sorted(inner.modifier.labels) == ["pod", "queue"]
    # The load is ready plus running tasks: depth alone reads 0 on a busy queue with no backlog.
    assert '__name__=~"videoapi_queue_depth|videoapi_tasks_running"' in str(inner.expr)
    api_label = of_kind(render("cpu-only"), "Deployment")["videoapi-api"]["spec"]["template"]["metadata"]["labels"]
    component = api_label["app.kubernetes.io/component"]
    selector = f'app_kubernetes_io_component="{component}"'
    assert selector in rule["seriesQuery"] and selector in rule["metricsQuery"]
    assert re.match(r"videoapi_queue_depth\{", rule["seriesQuery"])
