"""docker-compose.yml: validated by Compose itself (no engine needed for `config`), then checked
against the Dockerfile, the nginx and Prometheus configs, the server's settings and the load-test
client's command line, so the pieces agree with each other."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest
import yaml

from tests.deploy import dockerfile as df
from tests.deploy.conftest import (
    COMPOSE,
    DOCKERFILE,
    ROOT,
    check_ortserve_env,
    seconds,
    settings_default,
    unavailable,
)

PROFILES = ["gpu", "scale", "monitoring", "loadtest", "tracing"]
SERVER_SERVICES = ["serve", "serve-gpu", "replica"]


def default_of(value) -> str:
    """`${VAR:-default}` -> default (what the file gives when VAR is unset); plain values as is."""
    m = re.fullmatch(r"\$\{\w+:-([^}]*)\}", str(value))
    return m.group(1) if m else str(value)


def published(port: str) -> tuple[str, str, str]:
    """(address, host port, container port) of a `ports` entry, variables at their defaults."""
    parts = re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", port).split(":")
    assert len(parts) == 3, f"{port}: publish as ADDRESS:HOST_PORT:CONTAINER_PORT"
    return parts[0], parts[1], parts[2]


def resolved(env: dict[str, str] | None = None) -> dict:
    """`compose config` with every profile: the file as Compose reads it with `env` set."""
    args = [a for p in PROFILES for a in ("--profile", p)]
    result = subprocess.run(
        [*compose_command(), "-f", str(COMPOSE), *args, "config"], cwd=ROOT, env={**clean_env(), **(env or {})},
        capture_output=True, text=True, timeout=120, check=True,
    )
    return yaml.safe_load(result.stdout)["services"]


def compose_command() -> list[str]:
    """`docker compose` (v2 plugin) when present, else Debian's `docker-compose` (v1, Python)."""
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    unavailable("docker compose / docker-compose", "apt-get install docker-compose")


def clean_env() -> dict[str, str]:
    """No ORTSERVE_*/GRAFANA_* etc. from the caller: the file's defaults are what is validated."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
    return {k: v for k, v in os.environ.items() if k in keep}


@pytest.mark.parametrize(
    "profiles", [[], *[[p] for p in PROFILES], PROFILES], ids=["default", *PROFILES, "all"]
)
def test_compose_config_is_valid(profiles):
    cmd = compose_command()
    args = [a for p in profiles for a in ("--profile", p)]
    result = subprocess.run(
        [*cmd, "-f", str(COMPOSE), *args, "config", "-q"], cwd=ROOT, env=clean_env(),
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "variable is not set" not in result.stderr, f"a variable without a default:\n{result.stderr}"


def test_resolved_config_has_every_service():
    services = resolved()
    assert set(services) == {"serve", "serve-gpu", "replica", "lb", "prometheus", "grafana", "loadtest", "otel-collector"}
    # YAML anchors merged as intended: replicas keep the shared healthcheck and the read-only models.
    assert services["replica"]["healthcheck"]["test"] == services["serve"]["healthcheck"]["test"]
    assert services["replica"]["environment"]["ORTSERVE_INTRA_OP_THREADS"] in ("1", 1)


def _host_addresses(services: dict) -> set[str]:
    """Host addresses of every published port of a resolved config (short or long syntax)."""
    found = set()
    for service in services.values():
        for port in service.get("ports", []):
            found.add(port["host_ip"] if isinstance(port, dict) else str(port).rsplit(":", 2)[0])
    return found


def test_ports_publish_on_loopback_unless_a_bind_address_is_set(compose):
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert port.startswith("${ORTSERVE_BIND_ADDRESS:-127.0.0.1}:"), f"{name}: {port}"
    assert _host_addresses(resolved()) == {"127.0.0.1"}
    assert _host_addresses(resolved({"ORTSERVE_BIND_ADDRESS": "0.0.0.0"})) == {"0.0.0.0"}


def test_images_are_overridable_with_the_official_ones_as_defaults(compose, stages):
    """Where no registry answers, scripts/docker-base.sh's images stand in (docs/deployment.md, "Images")."""
    services = compose["services"]
    assert services["lb"]["image"] == "${NGINX_IMAGE:-nginx:1.28-alpine}"
    assert services["prometheus"]["image"] == "${PROMETHEUS_IMAGE:-prom/prometheus:v2.55.1}"
    assert services["grafana"]["image"] == "${GRAFANA_IMAGE:-grafana/grafana:11.6.0}"
    arg_default = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", DOCKERFILE.read_text(), re.M).group(1)
    for name, service in services.items():
        if "build" in service:
            assert service["build"]["args"]["PYTHON_IMAGE"] == f"${{PYTHON_IMAGE:-{arg_default}}}", name
    base = {"PYTHON_IMAGE": "ortserve-base/python:3.11-bookworm", "NGINX_IMAGE": "ortserve-base/nginx:bookworm",
            "PROMETHEUS_IMAGE": "ortserve-base/prometheus:bookworm"}
    services = resolved(base)
    assert services["lb"]["image"] == base["NGINX_IMAGE"]
    assert services["prometheus"]["image"] == base["PROMETHEUS_IMAGE"]
    assert services["replica"]["build"]["args"]["PYTHON_IMAGE"] == base["PYTHON_IMAGE"]


def test_grafana_is_not_open_by_default(compose):
    environment = compose["services"]["grafana"]["environment"]
    assert default_of(environment["GF_AUTH_ANONYMOUS_ENABLED"]) == "false", "anonymous access only when asked for"
    assert environment["GF_USERS_ALLOW_SIGN_UP"] == "false"
    assert environment["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_ADMIN_PASSWORD")


def test_profiles(compose):
    services = compose["services"]
    assert "profiles" not in services["serve"], "`docker compose up` alone must start the server"
    assert services["serve-gpu"]["profiles"] == ["gpu"]
    assert services["replica"]["profiles"] == ["scale"] and services["lb"]["profiles"] == ["scale"]
    assert services["prometheus"]["profiles"] == ["monitoring"] == services["grafana"]["profiles"]
    assert services["loadtest"]["profiles"] == ["loadtest"]


def test_build_targets_exist(compose, stages):
    names = {s.name for s in stages}
    for name, service in compose["services"].items():
        build = service.get("build")
        if build:
            assert build["context"] == "."
            assert build.get("dockerfile", "Dockerfile") == DOCKERFILE.name
            assert build["target"] in names, f"{name}: unknown target {build['target']}"


def test_bind_mounts_exist_and_models_are_read_only(compose, stages):
    repo_path = df.stage_env(df.chain(stages, "cpu"), {})["ORTSERVE_REPOSITORY"]
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source, target, *mode = volume.split(":")
            if source.startswith((".", "/")):
                assert (ROOT / source).exists(), f"{name}: {source} does not exist"
                assert mode == ["ro"], f"{name}: bind mount {source} should be read-only"
            if source == "./models/repository":
                assert target == repo_path, f"{name}: models must land on ORTSERVE_REPOSITORY"
    for name in SERVER_SERVICES:
        volumes = compose["services"][name]["volumes"]
        assert f"./models/repository:{repo_path}:ro" in volumes


@pytest.mark.parametrize("name", SERVER_SERVICES)
def test_server_services(compose, stages, name):
    service = compose["services"][name]
    target = service["build"]["target"]
    assert service["restart"] in ("unless-stopped", "always", "on-failure")
    check_ortserve_env(service["environment"], f"compose service {name}")
    _, image_check = df.healthcheck(df.chain(stages, target))
    assert service["healthcheck"]["test"] == ["CMD", *image_check], "keep compose's healthcheck = the image's"
    drain = float(default_of(service["environment"].get("ORTSERVE_DRAIN_TIMEOUT_S", "30")))
    assert seconds(service["stop_grace_period"]) > drain, "docker would SIGKILL before the drain ends"
    assert service.get("read_only") is True and "/tmp" in service.get("tmpfs", [])
    assert "command" not in service and "entrypoint" not in service, "the image's CMD is the one tested"


def test_gpu_service_reserves_an_nvidia_gpu(compose):
    service = compose["services"]["serve-gpu"]
    devices = service["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
    assert service["environment"]["ORTSERVE_PROVIDER"] == "cuda"
    assert service["build"]["target"] == "gpu"


def test_ports_do_not_collide(compose):
    taken = {}
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            _, host, _ = published(port)
            assert host not in taken, f"{name} and {taken.get(host)} both publish {host}"
            taken[host] = name
    assert "ports" not in compose["services"]["replica"], "replicas are reached through lb only"


def test_serve_uses_every_core_of_its_host_with_workers(compose):
    environment = compose["services"]["serve"]["environment"]
    assert default_of(environment["ORTSERVE_WORKERS"]) == "auto"
    # 0 = each worker gets its share of the cores (service/core/cpus.py), never more.
    assert default_of(environment["ORTSERVE_INTRA_OP_THREADS"]) == "0"


def test_replicas_are_one_process_per_core(compose):
    replica = compose["services"]["replica"]
    assert replica["deploy"]["replicas"] >= 2
    assert default_of(replica["environment"]["ORTSERVE_INTRA_OP_THREADS"]) == "1"
    assert float(replica["deploy"]["resources"]["limits"]["cpus"]) == 1.0


def test_lb_fronts_the_replicas(compose):
    lb = compose["services"]["lb"]
    assert lb["depends_on"]["replica"]["condition"] == "service_healthy"
    assert "./deploy/nginx/nginx.conf:/etc/nginx/nginx.conf:ro" in lb["volumes"]
    conf = (ROOT / "deploy/nginx/nginx.conf").read_text()
    assert "server replica:8000" in conf
    listen = [line.split()[1].rstrip(";") for line in conf.splitlines() if line.strip().startswith("listen ")]
    container_ports = [published(p)[2] for p in lb["ports"]]
    assert container_ports == listen
    assert lb["stop_signal"] == "SIGQUIT", "nginx's graceful stop (SIGTERM is its fast one)"
    # compose's healthcheck runs wget: busybox's in nginx:alpine, Debian's in docker-base.sh's image.
    assert lb["healthcheck"]["test"][:2] == ["CMD", "wget"]
    assert "wget" in (ROOT / "scripts" / "docker-base.sh").read_text().split("packages=nginx-light,", 1)[1].split()[0]


def test_loadtest_command_parses_with_the_client(compose):
    service = compose["services"]["loadtest"]
    assert service["depends_on"]["lb"]["condition"] == "service_healthy"
    from scripts.loadtest.cli import parse_args

    args = parse_args([str(a) for a in service["command"]])
    assert args.url == "http://lb:8080"
    assert args.allow_remote, "lb is not a loopback address: the client refuses it without --allow-remote"
    assert str(args.out) == "/results"
    assert any(v.endswith(":/results") for v in service["volumes"])
    repository = ROOT / "models" / "repository"
    if any(repository.glob("*/config.json")):
        assert (repository / args.model / "config.json").exists(), f"{args.model!r} is not in models/repository"


def test_prometheus_discovers_every_server_service(compose):
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "ortserve")
    sd = job["dns_sd_configs"][0]
    assert sd["type"] == "A"
    assert set(sd["names"]) == set(SERVER_SERVICES) <= set(compose["services"])
    # The data path is explicit: prom/prometheus's CMD and Debian's package disagree on its default.
    prometheus = compose["services"]["prometheus"]
    assert "--storage.tsdb.path=/prometheus" in prometheus["command"]
    assert "prometheus-data:/prometheus" in prometheus["volumes"]
    assert sd["port"] == int(settings_default("port"))
    assert job.get("metrics_path", "/metrics") == "/metrics"


def test_grafana_mounts_provisioning(compose):
    grafana = compose["services"]["grafana"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in grafana["volumes"]}
    assert mounts["/etc/grafana/provisioning"] == "./deploy/grafana/provisioning"
    dashboards = mounts["/var/lib/grafana/dashboards"]
    provider = yaml.safe_load((ROOT / "deploy/grafana/provisioning/dashboards/ortserve.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert os.path.dirname(home) == "/var/lib/grafana/dashboards"
    assert (ROOT / dashboards / os.path.basename(home)).is_file()


def test_servers_publish_http_and_grpc(compose):
    """tritonclient.grpc and KServe's v2 gRPC reach the container's ORTSERVE_GRPC_PORT (8001)."""
    for name in ("serve", "serve-gpu"):
        container_ports = [p.rsplit(":", 1)[1] for p in compose["services"][name]["ports"]]
        assert container_ports == ["8000", "8001"], name
    assert compose["services"]["serve"]["ports"][1] == "${ORTSERVE_BIND_ADDRESS:-127.0.0.1}:${ORTSERVE_GRPC_HOST_PORT:-8001}:8001"
