"""Prometheus and Grafana files: promtool validates the scrape config and every dashboard query's
PromQL; the metric names the dashboard uses are checked against the server's own registry."""

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
    """Every sample name the server can expose, derived from its registry (names and types)."""
    from service.core.metrics import Metrics

    suffixes = {"counter": ["_total", "_created"], "histogram": ["_bucket", "_sum", "_count", "_created"],
                "summary": ["_sum", "_count", "_created"], "gauge": [""], "info": ["_info"]}
    names = set()
    for family in Metrics().registry.collect():
        for suffix in suffixes.get(family.type, [""]):
            names.add(family.name + suffix)
    return names


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
    assert re.search(r"sum by \(model, reason\) \(rate\(nv_inference_request_failure_total", joined)
    assert re.search(r"sum by \(model\) \(rate\(nv_inference_request_success_total", joined)
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
    assert "nv_inference_request_success_total" in names
    assert "ortserve_queue_depth" in names
