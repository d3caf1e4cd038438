"""The Grafana dashboard and the Prometheus alert rules name only metrics the code exports.

Exported names come from the exposition text of a running API and of a worker-side registry (a GPU
worker, through a stand-in NVML); every PromQL expression of deploy/ is parsed (promql-parser, so a
syntax error fails too) and each metric it names must be among them, or be Prometheus's own `up`.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.app import running_app
from tests.support.fake_nvml import FakeGpu, fake_pynvml
from videoapi.observability.collectors import install_collectors
from videoapi.observability.metrics import REGISTRY
from videoapi.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "videoapi.json"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
PROMETHEUS_OWN = {"up"}

# ---- the extractor -----------------------------------------------------------------------------

# Words of PromQL that are not metric names when they are not followed by "(": binary and set
# operators, vector-matching and aggregation modifiers, `offset`, `bool`, number words.
_KEYWORDS = {
    "and", "or", "unless", "atan2", "by", "without", "on", "ignoring", "group_left", "group_right",
    "offset", "bool", "inf", "nan",
}  # fmt: skip
_STRINGS = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
_NAME_MATCHER = re.compile(r'__name__\s*=\s*"([^"]+)"')
_LABEL_LISTS = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", re.IGNORECASE)
_GRAFANA_LABEL_VALUES = re.compile(r"^\s*label_values\s*\((.*),\s*[a-zA-Z_]\w*\s*\)\s*$", re.DOTALL)
_NUMBERS = re.compile(r"(?<![\w:])\d[\w.]*")  # numbers, durations (5m, 1h30m), 1e3, 0x1f
_IDENTIFIER = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression (or a Grafana `label_values(expr, label)` query).

    Identifiers that are not followed by "(" (functions and aggregations are), once string literals,
    label matchers `{...}`, ranges `[...]`, label lists of by/without/on/ignoring/group_left/right,
    numbers and durations are removed, less PromQL's own words.
    """
    grafana = _GRAFANA_LABEL_VALUES.match(expr)
    if grafana:
        expr = grafana.group(1)  # its last argument is a label name
    names = set(_NAME_MATCHER.findall(expr))
    text = _STRINGS.sub('""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = _LABEL_LISTS.sub(" ", text)
    text = _NUMBERS.sub(" ", text)
    for match in _IDENTIFIER.finditer(text):
        word = match.group(0)
        if re.match(r"\s*\(", text[match.end() :]) or word.lower() in _KEYWORDS:
            continue
        names.add(word)
    return names


def parsed_names(expr: str) -> set[str]:
    """The same names read from promql-parser's syntax tree (raises on a syntax error)."""
    grafana = _GRAFANA_LABEL_VALUES.match(expr)
    source = grafana.group(1) if grafana else expr
    # Grafana's variables: a range like [$__rate_interval] and values inside label matchers.
    source = re.sub(r"\$__\w+", "5m", source)
    source = re.sub(r"\$\{?\w+\}?", "x", source)
    names: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            if node.name:
                names.add(node.name)
            names.update(m.value for m in node.matchers.matchers if m.name == "__name__")
        for attr in ("expr", "lhs", "rhs", "vector_selector", "param"):
            child = getattr(node, attr, None)
            if child is not None and not isinstance(child, str | int | float):
                walk(child)
        for arg in getattr(node, "args", None) or []:
            walk(arg)

    walk(promql_parser.parse(source))
    return names


def unknown_metrics(exprs: dict[str, str], exported: set[str]) -> dict[str, set[str]]:
    """{where: names not exported} for every expression naming a metric that does not exist."""
    found = {where: metric_names(expr) - exported - PROMETHEUS_OWN for where, expr in exprs.items()}
    return {where: names for where, names in found.items() if names}


# ---- the expressions of deploy/ ----------------------------------------------------------------


def all_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from all_panels(panel.get("panels", []))  # a collapsed row holds its panels


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(ALERTS.read_text(encoding="utf-8"))["groups"] for rule in group["rules"]]


def dashboard_exprs(board: dict[str, Any]) -> dict[str, str]:
    exprs = {}
    for panel in all_panels(board["panels"]):
        for target in panel.get("targets", []):
            exprs[f"panel {panel['id']} {panel['title']!r} target {target['refId']}"] = target["expr"]
    for var in board["templating"]["list"]:
        if var["type"] == "query":
            query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
            exprs[f"variable {var['name']}"] = query
    return exprs


def alert_exprs() -> dict[str, str]:
    return {f"alert {rule['alert']}": rule["expr"] for rule in alert_rules()}


# ---- what the code exports ---------------------------------------------------------------------


def exposition_names(text: str) -> set[str]:
    """Every name a query may use: sample names, and for families without samples yet (a labelled
    metric nothing has touched) the names its type implies."""
    forms = {
        "counter": ("_total",),
        "histogram": ("_bucket", "_sum", "_count"),
        "summary": ("", "_sum", "_count"),
        "info": ("_info",),
    }
    names = set()
    for family in text_string_to_metric_families(text):
        names.update(sample.name for sample in family.samples)
        names.update(family.name + suffix for suffix in forms.get(family.type, ("",)))
    return names


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    settings = load_settings(
        environ={
            "VIDEOAPI_SERVER__VAR_DIR": str(tmp_path_factory.mktemp("catalogue") / "var"),
            "VIDEOAPI_SERVER__ENVIRONMENT": "test",
            "VIDEOAPI_SERVER__PUBLIC_URL": "http://testserver.local",
        }
    )
    with running_app(settings) as api:
        api_text = api.client.get("/metrics").text
    # A GPU worker's registry: the same metrics, plus what its NVML collector reads.
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(sys.modules, "pynvml", fake_pynvml([FakeGpu("NVIDIA H100", 1 << 30, 80 << 30, 50)]))
        install_collectors(settings)
        worker_text = generate_latest(REGISTRY).decode()
    install_collectors(settings)  # back to the real NVML module (no driver here: no GPU series)
    return exposition_names(api_text) | exposition_names(worker_text)


# ---- tests ---------------------------------------------------------------------------------------


def test_the_extractor_skips_functions_labels_keywords_durations_and_strings() -> None:
    expr = (
        'sum by (queue, priority) (rate(videoapi_a_total{job="x", route=~"/v1/.*"}[5m] offset 1h))'
        " / on (queue) group_left (priority) max without (le) (videoapi_b)"
        ' > bool 0.5 unless ignoring (instance) absent(up{job="videoapi-worker"}) or vector(1e3)'
        " and predict_linear(videoapi_c[1h30m], 6 * 3600) < 0"
        " and histogram_quantile(0.95, sum(rate(videoapi_d_bucket[$__rate_interval])) by (le))"
        ' or {__name__="videoapi_e"} or sum (videoapi_f) by (kind) or max_over_time(videoapi_g[5m:30s])'
    )
    assert metric_names(expr) == {
        "videoapi_a_total",
        "videoapi_b",
        "up",
        "videoapi_c",
        "videoapi_d_bucket",
        "videoapi_e",
        "videoapi_f",
        "videoapi_g",
    }
    assert metric_names(expr) == parsed_names(expr)
    assert metric_names("label_values(videoapi_queue_depth{job='x'}, queue)") == {"videoapi_queue_depth"}


def test_a_panel_naming_a_missing_metric_is_reported() -> None:
    exported = {"videoapi_tasks_finished_total"}
    exprs = {
        "good": 'sum by (status) (rate(videoapi_tasks_finished_total{status="failed"}[5m]))',
        "typo": "sum(rate(videoapi_task_finished_total[5m])) by (kind)",
        "gone": 'up{job="videoapi-api"} == 0 and videoapi_no_such_gauge > 1',
    }
    assert unknown_metrics(exprs, exported) == {
        "typo": {"videoapi_task_finished_total"},
        "gone": {"videoapi_no_such_gauge"},
    }


@pytest.mark.parametrize("source", ["dashboard", "alerts"])
def test_every_metric_named_in_deploy_is_exported_by_the_code(source: str, exported: set[str]) -> None:
    exprs = dashboard_exprs(dashboard()) if source == "dashboard" else alert_exprs()
    assert len(exprs) >= (30 if source == "dashboard" else 9)
    for where, expr in exprs.items():
        assert metric_names(expr) == parsed_names(expr), where  # parses, and both readings agree
    assert unknown_metrics(exprs, exported) == {}


def test_the_exported_names_include_every_family_the_deploy_files_rely_on(exported: set[str]) -> None:
    # The fixture itself must see labelled metrics nothing has touched yet, and the GPU collector.
    assert {
        "videoapi_queue_depth",
        "videoapi_task_latency_seconds_bucket",
        "videoapi_webhook_deliveries_total",
        "videoapi_moderation_blocks_total",
        "videoapi_model_load_seconds_count",
        "videoapi_gpu_utilization_ratio",
        "videoapi_disk_free_bytes",
        "videoapi_build_info",
        "process_resident_memory_bytes",
    } <= exported
    assert "videoapi_nothing_total" not in exported


def test_alert_rules_are_complete_prometheus_rules() -> None:
    rules = alert_rules()
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names))
    assert {
        "QueueStuck",
        "QueueBacklogGrowing",
        "HighTaskErrorRate",
        "HighHttp5xxRate",
        "WorkersGone",
        "ApiDown",
        "DiskFilling",
        "WebhookDeliveriesExhausted",
        "GpuMemoryNearlyFull",
    } <= set(names)
    for rule in rules:
        assert {"alert", "expr", "for", "labels", "annotations"} <= rule.keys(), rule["alert"]
        assert re.fullmatch(r"(\d+[smhdwy])+", rule["for"]), rule["alert"]
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, rule["alert"]
        assert {"summary", "description", "runbook"} <= rule["annotations"].keys(), rule["alert"]
    by_name = {rule["alert"]: rule for rule in rules}
    assert 'up{job="videoapi-api"}' in by_name["ApiDown"]["expr"]
    assert 'up{job="videoapi-worker"}' in by_name["WorkersGone"]["expr"]
    assert "predict_linear" in by_name["DiskFilling"]["expr"]


def test_the_dashboard_is_a_grafana_dashboard_with_a_datasource_variable() -> None:
    board = dashboard()
    assert board["schemaVersion"] == 39 and board["uid"] and board["title"]
    variables = {var["name"]: var for var in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    panels = list(all_panels(board["panels"]))
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    rows = [panel["title"] for panel in panels if panel["type"] == "row"]
    assert rows == ["Overview", "Queues", "Tasks", "Workers", "GPU", "Models", "Webhooks", "Moderation", "Disk"]
    for panel in panels:
        if panel["type"] == "row":
            continue
        where = f"panel {panel['id']} {panel['title']!r}"
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, where
        assert panel["targets"], where
        assert {"h", "w", "x", "y"} <= panel["gridPos"].keys(), where
        refs = [target["refId"] for target in panel["targets"]]
        assert len(refs) == len(set(refs)), where
        assert all(target["expr"].strip() for target in panel["targets"]), where


def test_a_dashboard_with_a_bad_expression_fails_the_check(exported: set[str]) -> None:
    board = dashboard()
    board["panels"][-1].setdefault("panels", []).append(
        {"id": 999, "title": "broken", "targets": [{"refId": "A", "expr": "rate(videoapi_queue_dept[5m])"}]}
    )
    assert unknown_metrics(dashboard_exprs(board), exported) == {"panel 999 'broken' target A": {"videoapi_queue_dept"}}
    with pytest.raises(ValueError):
        parsed_names("sum(rate(videoapi_queue_depth[5m])")
