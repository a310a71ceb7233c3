"""Kubernetes and KServe manifests under deploy/k8s, validated offline.

Built-in kinds are validated against the Kubernetes OpenAPI schemas bundled in the
`kubernetes-validate` package (strict: unknown fields are errors), for the oldest and the newest
Kubernetes versions we claim. KServe's CRDs are not in those schemas, so their required fields
are checked here, and the pod specs inside them (custom predictor, ServingRuntime containers)
are validated as real Pods with the same Kubernetes schemas. On top: probes, resources, ports,
labels and env agree with the image and the server's settings.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.deploy import dockerfile as df
from tests.deploy.conftest import DEPLOY, check_ortserve_env, load_yaml_docs, settings_default, unavailable

K8S = DEPLOY / "k8s"
KUBERNETES_VERSIONS = ["1.29", "latest"]
KSERVE_GROUP = "serving.kserve.io"
# Fields of KServe's ComponentExtensionSpec (pkg/apis/serving/v1beta1/component.go) that sit next
# to the inlined PodSpec in a predictor; everything else in a custom predictor is PodSpec.
KSERVE_EXTENSION_FIELDS = {
    "minReplicas", "maxReplicas", "scaleTarget", "scaleMetric", "containerConcurrency", "timeout",
    "canaryTrafficPercent", "logger", "batcher", "labels", "annotations", "deploymentStrategy",
}
KSERVE_MODEL_FIELDS = {"modelFormat", "runtime", "protocolVersion", "storageUri", "storage", "args", "env",
                       "resources", "image", "ports", "name", "command"}


def manifests() -> list[tuple[str, dict]]:
    out = []
    for path in sorted(K8S.rglob("*.yaml")) + sorted(K8S.rglob("*.yml")):
        for i, doc in enumerate(load_yaml_docs(path)):
            out.append((f"{path.relative_to(K8S)}#{i}", doc))
    return out


def by_kind(kind: str) -> list[tuple[str, dict]]:
    return [(n, d) for n, d in manifests() if d["kind"] == kind]


def kv():
    try:
        import kubernetes_validate
    except ImportError:
        unavailable("kubernetes-validate", "pip install kubernetes-validate (bundles the schemas, works offline)")
    return kubernetes_validate


def version(kubernetes_validate, wanted: str) -> str:
    return kubernetes_validate.latest_version() if wanted == "latest" else wanted


def validate_strict(doc: dict, wanted: str) -> None:
    k = kv()
    try:
        k.validate(doc, version(k, wanted), strict=True)
    except k.ValidationError as exc:
        pytest.fail(f"{doc['kind']}/{doc['metadata']['name']}: {exc.message} at {'.'.join(map(str, exc.path))}")


def as_pod(name: str, pod_spec: dict) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": pod_spec}


def builtin() -> list[tuple[str, dict]]:
    return [(n, d) for n, d in manifests() if not d["apiVersion"].startswith(KSERVE_GROUP + "/")]


def test_layout():
    kinds = {(n.split("/")[0], d["kind"]) for n, d in manifests()}
    for expected in [("cpu", "Deployment"), ("cpu", "Service"), ("cpu", "HorizontalPodAutoscaler"),
                     ("gpu", "Deployment"), ("gpu", "Service"), ("kserve", "InferenceService"),
                     ("kserve", "ServingRuntime")]:
        assert expected in kinds, f"missing {expected}"


@pytest.mark.parametrize("wanted", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("name,doc", builtin(), ids=[n for n, _ in builtin()])
def test_builtin_kinds_match_the_kubernetes_schema(name, doc, wanted):
    validate_strict(doc, wanted)


def _containers(doc: dict) -> list[dict]:
    if doc["kind"] == "Deployment":
        return doc["spec"]["template"]["spec"]["containers"]
    if doc["kind"] == "InferenceService":
        return doc["spec"]["predictor"].get("containers", [])
    if doc["kind"] in ("ServingRuntime", "ClusterServingRuntime"):
        return doc["spec"]["containers"]
    return []


def _env(container: dict) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in container.get("env", [])}


@pytest.mark.parametrize("name,doc", by_kind("Deployment"), ids=[n for n, _ in by_kind("Deployment")])
def test_deployment_probes_resources_and_security(name, doc, stages):
    spec = doc["spec"]
    template = spec["template"]
    assert spec["selector"]["matchLabels"].items() <= template["metadata"]["labels"].items()
    pod = template["spec"]
    uid = int(df.last(df.chain(stages, "cpu"), "USER").rest.split(":")[0])
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == uid
    (container,) = pod["containers"]
    env = _env(container)
    check_ortserve_env(env, name)
    port = int(env.get("ORTSERVE_PORT", settings_default("port")))
    grpc_port = int(env.get("ORTSERVE_GRPC_PORT", settings_default("grpc_port")))
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": port, "grpc": grpc_port}
    assert container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["startupProbe"]["httpGet"]["path"] == "/v2/health/live"
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["port"] in ("http", port)
    resources = container["resources"]
    for key in ("cpu", "memory"):
        assert key in resources["requests"], f"{name}: no {key} request"
    assert "memory" in resources["limits"]
    drain = float(env.get("ORTSERVE_DRAIN_TIMEOUT_S", settings_default("drain_timeout_s")))
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    assert pod["terminationGracePeriodSeconds"] > drain + float(pre_stop[1])
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True and security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert any(m["mountPath"] == "/tmp" for m in container["volumeMounts"]), "a writable /tmp"
    gpu = "nvidia.com/gpu" in resources["limits"]
    assert gpu == (doc["metadata"]["labels"]["app.kubernetes.io/variant"] == "gpu")
    if gpu:
        assert resources["limits"]["nvidia.com/gpu"] == 1
        assert env["ORTSERVE_PROVIDER"] == "cuda"
        assert container["image"].endswith("-gpu")
    else:
        assert resources["limits"]["cpu"] == resources["requests"]["cpu"], "Guaranteed QoS on CPU"
        # workers=auto = the CPU limit (the cgroup quota), one ORT thread each: one thread per core.
        assert env["ORTSERVE_WORKERS"] == "auto" and env["ORTSERVE_INTRA_OP_THREADS"] == "1", "one thread per core"


@pytest.mark.parametrize("name,doc", by_kind("Service"), ids=[n for n, _ in by_kind("Service")])
def test_services_select_a_deployment_port(name, doc):
    selector = doc["spec"]["selector"]
    matches = [d for _, d in by_kind("Deployment")
               if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()]
    assert len(matches) == 1, f"{name}: selector matches {len(matches)} deployments"
    port_names = {p["name"] for p in matches[0]["spec"]["template"]["spec"]["containers"][0]["ports"]}
    for port in doc["spec"]["ports"]:
        assert port["targetPort"] in port_names


def test_hpa_scales_the_cpu_deployment_on_cpu():
    ((_, hpa),) = by_kind("HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    target = hpa["spec"]["scaleTargetRef"]
    deployments = {d["metadata"]["name"]: d for _, d in by_kind("Deployment")}
    assert target["kind"] == "Deployment" and target["name"] in deployments
    assert "nvidia.com/gpu" not in deployments[target["name"]]["spec"]["template"]["spec"]["containers"][0][
        "resources"]["limits"]
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu" and metric["resource"]["target"]["type"] == "Utilization"
    assert 1 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]


def test_pdb_selects_the_cpu_pods():
    for _, pdb in by_kind("PodDisruptionBudget"):
        selector = pdb["spec"]["selector"]["matchLabels"]
        assert any(selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()
                   for _, d in by_kind("Deployment"))


# ---------------------------------------------------------------------------------------------
# KServe


def _metadata_ok(doc: dict) -> None:
    import re

    name = doc["metadata"]["name"]
    assert re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", name) and len(name) <= 63, name


@pytest.mark.parametrize("wanted", KUBERNETES_VERSIONS)
def test_inferenceservices(wanted):
    services = by_kind("InferenceService")
    assert services
    runtimes = {d["metadata"]["name"]: d for _, d in by_kind("ServingRuntime") + by_kind("ClusterServingRuntime")}
    for name, doc in services:
        assert doc["apiVersion"] == f"{KSERVE_GROUP}/v1beta1", name
        _metadata_ok(doc)
        assert set(doc["spec"]) <= {"predictor", "transformer", "explainer"} and "predictor" in doc["spec"]
        predictor = doc["spec"]["predictor"]
        mode = doc["metadata"].get("annotations", {}).get("serving.kserve.io/deploymentMode")
        assert mode in (None, "RawDeployment", "Standard", "Serverless", "Knative", "ModelMesh")
        if "minReplicas" in predictor and "maxReplicas" in predictor:
            assert 0 <= predictor["minReplicas"] <= predictor["maxReplicas"]
        if "scaleMetric" in predictor:
            assert predictor["scaleMetric"] in ("cpu", "memory", "concurrency", "rps")
        if "model" in predictor:
            model = predictor["model"]
            assert set(model) <= KSERVE_MODEL_FIELDS, set(model) - KSERVE_MODEL_FIELDS
            assert model["protocolVersion"] in ("v2", "grpc-v2")
            runtime = runtimes[model["runtime"]]
            assert model["protocolVersion"] in runtime["spec"]["protocolVersions"]
            if model["protocolVersion"] == "grpc-v2":  # KServe routes gRPC to the port named h2c
                runtime_env = _env(runtime["spec"]["containers"][0])
                assert [(p["name"], p["containerPort"]) for p in model["ports"]] == [
                    ("h2c", int(runtime_env["ORTSERVE_GRPC_PORT"]))
                ]
            formats = {f["name"] for f in runtime["spec"]["supportedModelFormats"]}
            assert model["modelFormat"]["name"] in formats
            assert "://" in model["storageUri"]
            assert not predictor.keys() - KSERVE_EXTENSION_FIELDS - {"model"}
            continue
        # Custom predictor: the rest is a PodSpec, validated as a Pod.
        pod_spec = {k: v for k, v in predictor.items() if k not in KSERVE_EXTENSION_FIELDS}
        validate_strict(as_pod(doc["metadata"]["name"], pod_spec), wanted)
        (container,) = pod_spec["containers"]
        assert container["name"] == "kserve-container"
        env = _env(container)
        check_ortserve_env(env, name)
        assert env["PROTOCOL"] == "v2", "KServe reads a custom predictor's protocol from PROTOCOL"
        port = int(env["ORTSERVE_PORT"])
        # REST first (KServe routes to the first port), then gRPC on the port named h2c.
        assert [(p["name"], p["containerPort"]) for p in container["ports"]] == [
            ("http1", port), ("h2c", int(env["ORTSERVE_GRPC_PORT"]))
        ]
        assert port == 8080
        assert container["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": port}
        assert container["livenessProbe"]["httpGet"] == {"path": "/v2/health/live", "port": port}
        annotations = doc["metadata"]["annotations"]
        assert annotations.get("prometheus.kserve.io/port") == str(port)


@pytest.mark.parametrize("wanted", KUBERNETES_VERSIONS)
def test_serving_runtimes(wanted):
    runtimes = by_kind("ServingRuntime") + by_kind("ClusterServingRuntime")
    assert runtimes
    for name, doc in runtimes:
        assert doc["apiVersion"] == f"{KSERVE_GROUP}/v1alpha1", name
        _metadata_ok(doc)
        spec = doc["spec"]
        assert spec["supportedModelFormats"] and spec["containers"]
        assert set(spec["protocolVersions"]) <= {"v1", "v2", "grpc-v1", "grpc-v2"}
        validate_strict(as_pod(doc["metadata"]["name"], {"containers": spec["containers"]}), wanted)
        env = _env(spec["containers"][0])
        check_ortserve_env(env, name)
        assert env["ORTSERVE_REPOSITORY"] == "/mnt/models", "KServe's storage initializer writes there"
        assert [(p["name"], p["containerPort"]) for p in spec["containers"][0]["ports"]] == [
            ("http1", int(env["ORTSERVE_PORT"])), ("h2c", int(env["ORTSERVE_GRPC_PORT"]))
        ]
        assert {"v2", "grpc-v2"} <= set(spec["protocolVersions"])


def test_every_manifest_is_known():
    known = {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "InferenceService",
             "ServingRuntime"}
    for name, doc in manifests():
        assert doc["kind"] in known, f"{name}: add tests for {doc['kind']}"
        assert Path(K8S / name.split("#")[0]).suffix == ".yaml"
