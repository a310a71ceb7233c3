"""The tracing pieces of the deployment: compose's optional collector (profile `tracing`) receives
what the servers' exporter sends, and the k8s servers carry the exporter's variables."""

from __future__ import annotations

import subprocess

import yaml

from tests.deploy.conftest import COMPOSE, DEPLOY, ROOT, load_yaml_docs
from tests.deploy.test_compose import clean_env, compose_command, default_of


def test_compose_with_the_tracing_profile_is_valid():
    result = subprocess.run([*compose_command(), "-f", str(COMPOSE), "--profile", "tracing", "config"], cwd=ROOT,
                            env=clean_env(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    assert {"serve", "otel-collector"} <= set(services)


def test_the_collector_receives_what_the_servers_send(compose):
    collector = compose["services"]["otel-collector"]
    assert collector["profiles"] == ["tracing"] and "ports" not in collector
    mount = "./deploy/otel/collector.yaml:/etc/otelcol/config.yaml:ro"
    assert mount in collector["volumes"] and "--config=/etc/otelcol/config.yaml" in collector["command"]
    config = yaml.safe_load((ROOT / "deploy/otel/collector.yaml").read_text())
    assert config["receivers"]["otlp"]["protocols"]["http"]["endpoint"] == "0.0.0.0:4318"
    assert config["service"]["pipelines"]["traces"]["receivers"] == ["otlp"]
    env = compose["services"]["serve"]["environment"]
    assert default_of(env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]) == "http://otel-collector:4318/v1/traces"
    assert default_of(env["ORTSERVE_TRACE_LEVEL"]) == "OFF"  # tracing stays off unless asked for


def test_k8s_servers_carry_the_exporters_variables():
    for variant in ("cpu", "gpu"):
        docs = load_yaml_docs(DEPLOY / "k8s" / variant / "deployment.yaml")
        container = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: e for e in container["env"]}
        assert env["ORTSERVE_TRACE_LEVEL"]["value"] == "OFF"
        assert env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]["value"].endswith(":4318/v1/traces")
        assert env["OTEL_SERVICE_NAME"]["value"] == "ortserve"
        assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
        names = list(env)
        assert names.index("POD_NAME") < names.index("OTEL_RESOURCE_ATTRIBUTES"), "$(POD_NAME) must be defined first"
