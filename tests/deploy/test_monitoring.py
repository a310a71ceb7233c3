"""Prometheus and Grafana files: promtool validates the scrape config and every dashboard query's
PromQL; the metric names the dashboard uses are checked against what the server really exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import yaml

from tests.deploy.conftest import DEPLOY, unavailable

PROMETHEUS = DEPLOY / "prometheus" / "prometheus.yml"
DASHBOARDS = DEPLOY / "grafana" / "dashboards"
DATASOURCES = DEPLOY / "grafana" / "provisioning" / "datasources"
PROVIDERS = DEPLOY / "grafana" / "provisioning" / "dashboards"


def promtool() -> str:
    found = shutil.which("promtool") or (Path("/usr/bin/promtool").exists() and "/usr/bin/promtool")
    if not found:
        unavailable("promtool", "apt-get install prometheus (Debian ships promtool in it)")
    return found


def dashboards() -> list[Path]:
    return sorted(DASHBOARDS.glob("*.json"))


def panels(dashboard: dict) -> list[dict]:
    out = []
    for panel in dashboard.get("panels", []):
        out.append(panel)
        out.extend(panel.get("panels", []))  # rows
    return out


def queries(dashboard: dict) -> list[str]:
    return [t["expr"] for p in panels(dashboard) for t in p.get("targets", []) if t.get("expr")]


def concrete(expr: str) -> str:
    """Grafana variables replaced by values, so that promtool can parse the query."""
    return (expr.replace("$__rate_interval", "1m").replace("$__interval", "1m")
            .replace("${model}", ".*").replace("$model", ".*"))


def server_metric_names() -> set[str]:
    """Every sample name the server really exports: a scrape of Metrics after one of each event."""
    from service.core.batch_results import Result
    from service.core.metrics import Metrics

    m = Metrics()
    m.observer("m", "1").on_batch(2, 0.001)
    m.observer("m", "1").on_queue_depth(1)
    m.record_success("m", "1", Result({}, queue_s=0.001, compute_s=0.001, batch_rows=2), total_s=0.003)
    m.record_failure("m", "1", "400", 0.001)
    m.set_model_info("m", "1", "CPUExecutionProvider")
    m.rejected.labels("inflight_limit").inc()
    # Read the names off the text itself: prometheus_client's parser re-adds `_total` to counters.
    text = m.render().decode()
    return set(re.findall(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]", text, re.MULTILINE))


def test_promtool_checks_the_scrape_config():
    result = subprocess.run([promtool(), "check", "config", str(PROMETHEUS)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_dashboard_query_is_valid_promql(tmp_path):
    exprs = [concrete(e) for d in dashboards() for e in queries(json.loads(d.read_text()))]
    assert exprs
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query_{i}:check", "expr": e} for i, e in enumerate(exprs)
    ]}]}
    path = tmp_path / "dashboard-queries.rules.yml"
    path.write_text(yaml.safe_dump(rules, sort_keys=False))
    result = subprocess.run([promtool(), "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboard_metrics_exist_in_the_server():
    exposed = server_metric_names()
    for path in dashboards():
        dashboard = json.loads(path.read_text())
        texts = queries(dashboard) + [json.dumps(v.get("query", "")) for v in dashboard["templating"]["list"]]
        for expr in texts:
            for name in re.findall(r"\b((?:ortserve|nv)_[a-z0-9_]+)\b", expr):
                assert name in exposed, f"{path.name}: {name} is not a metric of service/core/metrics.py"


def test_dashboard_covers_the_questions_an_operator_asks():
    dashboard = json.loads((DASHBOARDS / "ortserve.json").read_text())
    exprs = queries(dashboard)
    joined = "\n".join(exprs)
    assert re.search(r"histogram_quantile\(0\.5,.*ortserve_request_duration_seconds_bucket", joined)
    assert re.search(r"histogram_quantile\(0\.99,.*ortserve_request_duration_seconds_bucket", joined)
    assert "ortserve_queue_duration_seconds_bucket" in joined
    assert "ortserve_batch_size" in joined
    assert re.search(r"sum by \(model, reason\) \(rate\(nv_inference_request_failure\{", joined)
    assert re.search(r"sum by \(model\) \(rate\(nv_inference_request_success\{", joined)
    for expr in exprs:
        if "histogram_quantile" in expr:
            assert re.search(r"by \([^)]*\ble\b", expr), f"quantile without `le` in the grouping: {expr}"
        if "rate(" in expr:
            assert "$__rate_interval" in expr, f"use $__rate_interval: {expr}"


def test_dashboard_structure_and_datasource():
    datasource = yaml.safe_load((DATASOURCES / "prometheus.yml").read_text())["datasources"][0]
    assert datasource["type"] == "prometheus" and datasource["url"] == "http://prometheus:9090"
    scrape = yaml.safe_load(PROMETHEUS.read_text())["global"]["scrape_interval"]
    assert datasource["jsonData"]["timeInterval"] == scrape
    provider = yaml.safe_load((PROVIDERS / "ortserve.yml").read_text())
    assert provider["apiVersion"] == 1 and provider["providers"][0]["type"] == "file"
    for path in dashboards():
        dashboard = json.loads(path.read_text())
        assert dashboard["uid"] and dashboard["title"] and dashboard["schemaVersion"] >= 36
        ids = [p["id"] for p in panels(dashboard)]
        assert len(ids) == len(set(ids)), "panel ids must be unique"
        for panel in panels(dashboard):
            if panel["type"] == "row":
                continue
            assert panel["datasource"]["uid"] == datasource["uid"], panel["title"]
            assert panel["targets"], panel["title"]
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == datasource["uid"]
            grid = panel["gridPos"]
            assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24
        for var in dashboard["templating"]["list"]:
            assert var["datasource"]["uid"] == datasource["uid"]


def test_server_metric_names_derivation():
    names = server_metric_names()
    assert "ortserve_request_duration_seconds_bucket" in names
    assert {"nv_inference_request_success", "nv_inference_count", "nv_inference_exec_count"} <= names
    assert not any(n.startswith("nv_") and n.endswith("_total") for n in names), "Triton's names have no _total"
    assert "ortserve_rejected_requests_total" in names
    assert "ortserve_queue_depth" in names


def _series(text: str) -> dict[str, float]:
    """`name{labels}` -> value for every sample line of an exposition."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            out[key] = float(value)
    return out


def test_a_triton_style_query_evaluates_on_what_the_server_exports(tmp_path):
    """PromQL as Triton's dashboards write it (bare `nv_*` names, `model`/`version` labels),
    evaluated by promtool over three real scrapes of the server's metrics, 30 s apart."""
    from service.core.batch_results import Result
    from service.core.metrics import Metrics

    m = Metrics()
    scrapes = [_series(m.render().decode())]
    for batches in ([4, 4], [8, 2, 2]):  # 30 s of traffic, then 30 s more
        for rows in batches:
            m.observer("densenet_onnx", "1").on_batch(rows, 0.002)
            for _ in range(rows):
                m.record_success("densenet_onnx", "1", Result({}, 0.001, 0.002, rows), total_s=0.004)
        scrapes.append(_series(m.render().decode()))
    names = ("nv_inference_count", "nv_inference_exec_count", "nv_inference_request_success",
             "nv_inference_queue_duration_us")
    series = [
        {"series": key, "values": " ".join(repr(s.get(key, 0.0)) for s in scrapes)}
        for key in scrapes[-1] if key.split("{")[0] in names
    ]
    assert len(series) == len(names), series
    tests = {"rule_files": [], "evaluation_interval": "30s", "tests": [{
        "interval": "30s",
        "input_series": series,
        "promql_expr_test": [
            {   # mean batch size over the last minute (Triton's "batch size" panel)
                "expr": 'sum by (model) (rate(nv_inference_count{model="densenet_onnx"}[1m]))'
                        ' / sum by (model) (rate(nv_inference_exec_count{model="densenet_onnx"}[1m]))',
                "eval_time": "1m",
                "exp_samples": [{"labels": '{model="densenet_onnx"}', "value": 20 / 5}],
            },
            {   # queue time per request, µs (Triton's sample dashboard)
                "expr": "avg by (model) (delta(nv_inference_queue_duration_us[1m])"
                        " / delta(nv_inference_request_success[1m]))",
                "eval_time": "1m",
                "exp_samples": [{"labels": '{model="densenet_onnx"}', "value": 1000.0}],
            },
        ],
    }]}
    path = tmp_path / "triton-queries.test.yml"
    path.write_text(yaml.safe_dump(tests, sort_keys=False))
    result = subprocess.run([promtool(), "test", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
