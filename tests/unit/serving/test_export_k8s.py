"""``loopml export k8s``: manifests validated with kubernetes-validate (serving._export_k8s).

kubernetes-validate ships the schemas of Kubernetes' own kinds only. KServe's kinds are
checked here explicitly: their fields against the field lists of KServe's v1beta1
``PredictorSpec``/``ModelSpec`` and v1alpha1 ``ServingRuntimeSpec`` (written out below),
and every container and ``metadata`` against Kubernetes' own ``Container`` and ``ObjectMeta``
schemas from kubernetes-validate, strictly (no unknown field passes).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

import _needs as needs
from loopml.errors import DataError
from loopml.serving._export_docker import ServingSettings
from loopml.serving._export_k8s import ClusterSettings, export_k8s, manifests

kv = needs.module("kubernetes_validate")
#: The oldest and the newest Kubernetes kubernetes-validate has schemas for.
VERSIONS = [kv.utils.all_versions()[0], kv.latest_version()]

CLUSTER = ClusterSettings(image="registry.example/loopml-churn:3")


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("k8s") / "manifests"
    export_k8s(target, model_name="Churn Model", version="3", cluster=CLUSTER)
    return target


def load(directory: Path, name: str) -> dict[str, Any]:
    docs = list(yaml.safe_load_all((directory / name).read_text()))
    assert len(docs) == 1
    return docs[0]


def k8s_errors(manifest: dict[str, Any], version: str) -> str:
    """kubernetes-validate's verdict in strict mode: '' when valid, the error otherwise."""
    try:
        kv.validate(manifest, version, strict=True)
    except kv.ValidationError as exc:
        return f"{'.'.join(map(str, exc.path))}: {exc.message}"
    return ""


def core_errors(value: Any, definition: str) -> str:
    """Check ``value`` against one of Kubernetes' own definitions (``Container``,
    ``ObjectMeta``) as kubernetes-validate ships them, strictly."""
    import jsonschema
    from referencing import Registry, Resource

    folder = f"kubernetes-json-schema/v{kv.latest_version()}-local-strict"
    defs = kv.utils.schema_contents(f"{folder}/_definitions.json", kv.latest_version())
    registry = Resource.from_contents(defs) @ Registry()
    schema = {"$ref": f"{defs['$id']}#/$defs/{definition}"}
    validator = jsonschema.Draft202012Validator(schema, registry=registry)
    found = sorted(validator.iter_errors(value), key=lambda e: list(e.path))
    return "; ".join(f"{'.'.join(map(str, e.path))}: {e.message}" for e in found)


# ---------------------------------------------------------------------------- Kubernetes kinds


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name", ["deployment.yaml", "service.yaml", "hpa.yaml"])
def test_kubernetes_accepts_each_manifest(written: Path, name: str, version: str) -> None:
    assert k8s_errors(load(written, name), version) == ""


def test_the_validator_is_live_it_rejects_a_wrong_field(written: Path) -> None:
    deployment = load(written, "deployment.yaml")
    deployment["spec"]["template"]["spec"]["containers"][0]["readynessProbe"] = {}
    assert "readynessProbe" in k8s_errors(deployment, VERSIONS[-1])
    hpa = load(written, "hpa.yaml")
    hpa["spec"]["minReplicas"] = "two"
    assert "minReplicas" in k8s_errors(hpa, VERSIONS[-1])


def test_the_deployment_probes_secures_and_limits_the_container(written: Path) -> None:
    deployment = load(written, "deployment.yaml")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == "registry.example/loopml-churn:3"
    assert container["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": 8000}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": 8000}
    assert set(container["resources"]) == {"requests", "limits"}
    security = container["securityContext"]
    assert security["runAsNonRoot"] is True and security["runAsUser"] == 10001
    assert security["allowPrivilegeEscalation"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    (key,) = container["env"]
    assert key == {
        "name": "LOOPML_API_KEY",
        "valueFrom": {"secretKeyRef": {"name": "loopml-churn-model-api-key", "key": "api-key"}},
    }
    assert "value" not in key  # the key itself is never written into a manifest
    assert deployment["metadata"]["name"] == "loopml-churn-model"
    assert deployment["metadata"]["annotations"]["loopml.io/model-version"] == "3"


def test_service_and_autoscaler_target_the_deployment(written: Path) -> None:
    deployment = load(written, "deployment.yaml")
    service = load(written, "service.yaml")
    hpa = load(written, "hpa.yaml")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 10)


def test_serving_settings_reach_every_manifest() -> None:
    found = manifests("churn", "3", CLUSTER, ServingSettings(port=9000, api_key_env="CHURN_KEY"))
    text = json.dumps(found)
    assert "8000" not in text and "LOOPML_API_KEY" not in text
    container = found["deployment.yaml"]["spec"]["template"]["spec"]["containers"][0]
    assert container["ports"][0]["containerPort"] == 9000
    assert container["env"][0]["name"] == "CHURN_KEY"
    assert found["service.yaml"]["spec"]["ports"][0]["port"] == 9000
    runtime = found["servingruntime.yaml"]["spec"]["containers"][0]
    assert runtime["ports"][0]["containerPort"] == 9000


# ---------------------------------------------------------------------------- KServe kinds

#: KServe v1beta1 PredictorSpec: the model specs, PodSpec (inline) and ComponentExtensionSpec
#: (inline); only the fields used here and their neighbours are listed.
PREDICTOR_FIELDS = {
    "model", "sklearn", "xgboost", "onnx", "lightgbm", "triton", "containers", "volumes",
    "serviceAccountName", "minReplicas", "maxReplicas", "scaleTarget", "scaleMetric",
    "containerConcurrency", "timeout", "canaryTrafficPercent", "labels", "annotations",
}  # fmt: skip
#: KServe v1beta1 ModelSpec: modelFormat and runtime, then PredictorExtensionSpec.
MODEL_FIELDS = {"modelFormat", "runtime", "protocolVersion", "storageUri", "runtimeVersion"}
#: KServe v1alpha1 ServingRuntimeSpec (the fields used here and their neighbours).
RUNTIME_FIELDS = {
    "supportedModelFormats", "multiModel", "disabled", "protocolVersions", "containers",
    "volumes", "nodeSelector", "labels", "annotations", "imagePullSecrets", "replicas",
}  # fmt: skip


def test_the_serving_runtime_speaks_v2_from_the_image(written: Path) -> None:
    runtime = load(written, "servingruntime.yaml")
    assert (runtime["apiVersion"], runtime["kind"]) == (
        "serving.kserve.io/v1alpha1",
        "ServingRuntime",
    )
    spec = runtime["spec"]
    assert set(spec) <= RUNTIME_FIELDS
    assert spec["protocolVersions"] == ["v2"]
    assert spec["supportedModelFormats"] == [{"name": "loopml", "version": "1", "autoSelect": True}]
    (container,) = spec["containers"]
    assert container["name"] == "kserve-container"
    assert container["image"] == CLUSTER.image
    assert [p["containerPort"] for p in container["ports"]] == [8000]
    assert "startupProbe" not in container  # Knative, under KServe, refuses it
    assert core_errors(container, "io.k8s.api.core.v1.Container") == ""
    assert core_errors(runtime["metadata"], "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta") == ""


def test_the_inference_service_runs_the_model_on_that_runtime(written: Path) -> None:
    isvc = load(written, "inferenceservice.yaml")
    runtime = load(written, "servingruntime.yaml")
    assert (isvc["apiVersion"], isvc["kind"]) == ("serving.kserve.io/v1beta1", "InferenceService")
    assert set(isvc["spec"]) == {"predictor"}
    predictor = isvc["spec"]["predictor"]
    assert set(predictor) <= PREDICTOR_FIELDS
    model = predictor["model"]
    assert set(model) <= MODEL_FIELDS
    assert model["protocolVersion"] == "v2"
    assert model["runtime"] == runtime["metadata"]["name"]
    formats = {f["name"] for f in runtime["spec"]["supportedModelFormats"]}
    assert model["modelFormat"]["name"] in formats
    assert core_errors(isvc["metadata"], "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta") == ""
    # an InferenceService name is a DNS-1035 label: KServe makes hostnames from it
    assert re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", isvc["metadata"]["name"])


def test_the_container_check_is_live() -> None:
    assert "unexpected" in core_errors({"name": "x", "imagee": "y"}, "io.k8s.api.core.v1.Container")


# ---------------------------------------------------------------------------- mistakes


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"min_replicas": 3, "max_replicas": 2}, r"--min-replicas <= --max-replicas, got 3 and 2"),
        ({"namespace": "ML_Serving"}, r"namespace 'ML_Serving' is not a Kubernetes name"),
        ({"cpu_target_percent": 0}, r"--cpu-target must be a percentage from 1 to 100, got 0"),
        ({"image": "my image"}, r"image 'my image' is not an image reference"),
    ],
)
def test_bad_cluster_settings_are_named(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(DataError, match=message):
        ClusterSettings(**{"image": "loopml-churn:3", **settings})


def test_a_non_empty_directory_is_kept(tmp_path: Path) -> None:
    (tmp_path / "mine.yaml").write_text("keep")
    with pytest.raises(DataError, match=r"already exists and is not empty.*--overwrite"):
        export_k8s(tmp_path, model_name="churn", version="1", cluster=CLUSTER)
    assert [p.name for p in tmp_path.iterdir()] == ["mine.yaml"]


def test_the_command_names_the_image_of_the_registered_version(tmp_path: Path) -> None:
    from test_export_docker import registered_project

    from loopml.cli import app

    project = registered_project(tmp_path / "project")
    target = tmp_path / "k8s"
    args = ["export", "k8s", str(target), "-c", str(project / "loopml.yaml"), "--json"]
    done = CliRunner().invoke(app, [*args, "--namespace", "ml"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["files"] == [
        "deployment.yaml",
        "service.yaml",
        "hpa.yaml",
        "servingruntime.yaml",
        "inferenceservice.yaml",
        "README.md",
    ]
    deployment = load(target, "deployment.yaml")
    assert deployment["metadata"]["namespace"] == "ml"
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "loopml-churn:1"
    bad = CliRunner().invoke(app, [*args, "--overwrite", "--min-replicas", "0"])
    assert bad.exit_code != 0
    assert "--min-replicas" in bad.output
