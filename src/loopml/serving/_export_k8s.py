"""``loopml export k8s``: Kubernetes manifests for the image ``export docker`` builds.

Five files: a Deployment (probes on ``/readyz`` and ``/healthz``, resources, a non-root
security context, the API key from a Secret), a Service, a HorizontalPodAutoscaler
(``autoscaling/v2``), and for KServe a ``ServingRuntime`` (the image, speaking the Open
Inference Protocol v2 on the container's port) with the ``InferenceService`` that runs the
model on it (``protocolVersion: v2``). Nothing here talks to a
cluster.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loopml.errors import DataError
from loopml.serving._export_docker import USER_ID, ServingSettings

__all__ = ["ClusterSettings", "K8sExport", "export_k8s"]

#: The key inside the Secret that holds the API key.
SECRET_KEY = "api-key"


@dataclass(frozen=True)
class ClusterSettings:
    """How the model runs in the cluster: image, replicas, resources, namespace."""

    image: str
    namespace: str = "default"
    min_replicas: int = 2
    max_replicas: int = 10
    cpu_target_percent: int = 70
    cpu_request: str = "500m"
    cpu_limit: str = "1"
    memory_request: str = "512Mi"
    memory_limit: str = "1Gi"

    def __post_init__(self) -> None:
        if not 1 <= self.min_replicas <= self.max_replicas:
            raise DataError(
                f"replicas: need 1 <= --min-replicas <= --max-replicas, got "
                f"{self.min_replicas} and {self.max_replicas}."
            )
        if not 1 <= self.cpu_target_percent <= 100:
            raise DataError(
                f"--cpu-target must be a percentage from 1 to 100, got {self.cpu_target_percent}."
            )
        if not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", self.namespace):
            raise DataError(
                f"namespace {self.namespace!r} is not a Kubernetes name: use lower-case "
                "letters, digits and '-', e.g. ml-serving."
            )
        if not self.image or any(c.isspace() for c in self.image):
            raise DataError(f"image {self.image!r} is not an image reference, e.g. loopml-churn:3.")


@dataclass(frozen=True)
class K8sExport:
    """What ``export k8s`` wrote."""

    directory: Path
    name: str
    files: list[str]
    manifests: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"directory": str(self.directory), "name": self.name, "files": self.files}


def resource_name(model_name: str) -> str:
    """A DNS-1123 name for the model's resources: ``loopml-churn``."""
    slug = re.sub(r"[^a-z0-9]+", "-", model_name.lower()).strip("-") or "model"
    return f"loopml-{slug}"[:50].rstrip("-")


def manifests(
    model_name: str, version: str, cluster: ClusterSettings, serving: ServingSettings
) -> dict[str, dict[str, Any]]:
    """File name -> manifest, as plain data (see the module docstring)."""
    name = resource_name(model_name)
    labels = {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/component": "prediction-service",
        "app.kubernetes.io/managed-by": "loopml",
    }
    meta = {"name": name, "namespace": cluster.namespace, "labels": labels}
    annotations = {"loopml.io/model": model_name, "loopml.io/model-version": str(version)}
    container = _container(name, cluster, serving)
    return {
        "deployment.yaml": _deployment(meta, labels, annotations, container, cluster),
        "service.yaml": _service(meta, labels, serving.port),
        "hpa.yaml": _hpa(meta, name, cluster),
        "servingruntime.yaml": _serving_runtime(meta, container, serving),
        "inferenceservice.yaml": _inference_service(meta, annotations, cluster),
    }


def _container(name: str, cluster: ClusterSettings, serving: ServingSettings) -> dict[str, Any]:
    port = serving.port

    def probe(path: str, period: int, failures: int) -> dict[str, Any]:
        return {
            "httpGet": {"path": path, "port": port},
            "periodSeconds": period,
            "timeoutSeconds": 2,
            "failureThreshold": failures,
        }

    return {
        "name": "loopml",
        "image": cluster.image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
        "env": [
            {
                "name": serving.api_key_env,
                "valueFrom": {"secretKeyRef": {"name": f"{name}-api-key", "key": SECRET_KEY}},
            }
        ],
        "readinessProbe": probe("/readyz", 5, 3),
        "livenessProbe": probe("/healthz", 10, 3),
        "startupProbe": probe("/healthz", 2, 30),
        "resources": {
            "requests": {"cpu": cluster.cpu_request, "memory": cluster.memory_request},
            "limits": {"cpu": cluster.cpu_limit, "memory": cluster.memory_limit},
        },
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": USER_ID,
            "runAsGroup": USER_ID,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": False,  # the prediction log's SQLite file is written
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }


def _deployment(
    meta: dict[str, Any],
    labels: dict[str, str],
    annotations: dict[str, str],
    container: dict[str, Any],
    cluster: ClusterSettings,
) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {**meta, "annotations": annotations},
        "spec": {
            "replicas": cluster.min_replicas,
            "selector": {"matchLabels": {"app.kubernetes.io/name": meta["name"]}},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {
                "metadata": {"labels": labels, "annotations": annotations},
                "spec": {
                    "automountServiceAccountToken": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": USER_ID,
                        "fsGroup": USER_ID,
                    },
                    "terminationGracePeriodSeconds": 30,
                    "containers": [container],
                },
            },
        },
    }


def _service(meta: dict[str, Any], labels: dict[str, str], port: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta,
        "spec": {
            "type": "ClusterIP",
            "selector": {"app.kubernetes.io/name": labels["app.kubernetes.io/name"]},
            "ports": [{"name": "http", "port": port, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def _hpa(meta: dict[str, Any], name: str, cluster: ClusterSettings) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": meta,
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": cluster.min_replicas,
            "maxReplicas": cluster.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {
                            "type": "Utilization",
                            "averageUtilization": cluster.cpu_target_percent,
                        },
                    },
                }
            ],
        },
    }


def _serving_runtime(
    meta: dict[str, Any], container: dict[str, Any], serving: ServingSettings
) -> dict[str, Any]:
    """A KServe ``ServingRuntime``: the loopml image as a runtime for the ``loopml`` model
    format that speaks the Open Inference Protocol v2 on the container's port.

    KServe names its predictor container ``kserve-container`` and, through Knative, allows
    one port and no startup probe; the model is inside the image, so no storage initializer.
    """
    runtime_container = {
        k: v for k, v in container.items() if k not in ("startupProbe", "imagePullPolicy")
    }
    runtime_container["name"] = "kserve-container"
    return {
        "apiVersion": "serving.kserve.io/v1alpha1",
        "kind": "ServingRuntime",
        "metadata": meta,
        "spec": {
            "supportedModelFormats": [{"name": "loopml", "version": "1", "autoSelect": True}],
            "protocolVersions": ["v2"],
            "containers": [runtime_container],
        },
    }


def _inference_service(
    meta: dict[str, Any], annotations: dict[str, str], cluster: ClusterSettings
) -> dict[str, Any]:
    """A KServe ``InferenceService`` running the model on the runtime above with
    ``protocolVersion: v2``, so KServe and Triton clients call ``/v2/models/{name}/infer``."""
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {**meta, "annotations": annotations},
        "spec": {
            "predictor": {
                "minReplicas": cluster.min_replicas,
                "maxReplicas": cluster.max_replicas,
                "model": {
                    "modelFormat": {"name": "loopml", "version": "1"},
                    "runtime": meta["name"],
                    "protocolVersion": "v2",
                },
            }
        },
    }


def readme(name: str, files: list[str], serving: ServingSettings) -> str:
    return f"""\
# Kubernetes manifests for {name}

Generated by `loopml export k8s`. Build and push the image first (`loopml export docker`).

    kubectl create secret generic {name}-api-key \\
        --from-literal={SECRET_KEY}="$(openssl rand -hex 32)"
    kubectl apply -f deployment.yaml -f service.yaml -f hpa.yaml

or, on a cluster with KServe installed, instead of the three above (same Secret):

    kubectl apply -f servingruntime.yaml -f inferenceservice.yaml

The service listens on port {serving.port}; the API key is read from the Secret into
`{serving.api_key_env}`. Files: {", ".join(files)}.
"""


def export_k8s(
    directory: Path,
    *,
    model_name: str,
    version: str,
    cluster: ClusterSettings,
    serving: ServingSettings | None = None,
    overwrite: bool = False,
) -> K8sExport:
    """Write the manifests into ``directory`` (whole or not at all)."""
    import yaml

    serving = serving or ServingSettings()
    if directory.is_dir() and any(directory.iterdir()) and not overwrite:
        raise DataError(
            f"{directory} already exists and is not empty; choose another directory or pass "
            "--overwrite to replace it."
        )
    if directory.exists() and not directory.is_dir():
        raise DataError(f"{directory} is a file; give a directory to write the manifests to.")
    found = manifests(model_name, version, cluster, serving)
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        for file, manifest in found.items():
            text = yaml.safe_dump(manifest, sort_keys=False, default_flow_style=False)
            (staging / file).write_text(text, encoding="utf-8")
        name = resource_name(model_name)
        (staging / "README.md").write_text(readme(name, list(found), serving), encoding="utf-8")
        if directory.exists():
            shutil.rmtree(directory)
        staging.rename(directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return K8sExport(directory, resource_name(model_name), [*found, "README.md"], found)
