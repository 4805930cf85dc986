"""``loopml export docker``: a Docker build context that serves one registered model.

The context holds a Dockerfile (non-root user, the exact Python base image of this machine,
every package pinned to the version installed here, a health check on ``/healthz``), the
model bundle as registered with its checksums, a pinned requirements file, a
``.dockerignore`` and a README saying how to build and run it. Nothing here runs Docker.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import Any

from loopml.errors import DataError, IntegrityError, RegistryError
from loopml.registry import ModelVersionInfo, Registry, sha256_file

__all__ = ["DockerExport", "ServingSettings", "docker_image_name", "export_docker"]

#: The model registry keeps one sha256 tag per bundle file under this prefix.
_CHECKSUM_TAG = "loopml.sha256."
#: Where things live inside the image.
APP_DIR = "/app"
MODEL_DIR = f"{APP_DIR}/model"
#: The unprivileged user the service runs as (a fixed uid, so Kubernetes can check it).
USER_ID = 10001
#: Extras of loopml whose packages go into the image when they are installed here.
_IMAGE_EXTRAS = ("serve", "serving", "onnx", "postgres")


@dataclass(frozen=True)
class ServingSettings:
    """What the generated container and manifests need to know about ``loopml serve``.

    The defaults are DESIGN.md's: port 8000 and the API key in ``LOOPML_API_KEY``.
    """

    port: int = 8000
    api_key_env: str = "LOOPML_API_KEY"
    workers: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.port <= 65535:
            raise DataError(
                f"serving port {self.port} is not a TCP port; use a number from 1 to 65535 "
                "(serving.port in loopml.yaml, default 8000)."
            )
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", self.api_key_env):
            raise DataError(
                f"serving.api_key_env {self.api_key_env!r} is not an environment variable "
                "name; use letters, digits and underscores, e.g. LOOPML_API_KEY."
            )
        if self.workers < 1:
            raise DataError(f"serving.workers must be at least 1, got {self.workers}.")

    @classmethod
    def from_config(cls, config: Any) -> ServingSettings:
        """Port, API key variable and workers from loopml.yaml's ``serving:`` section when
        the project has one; DESIGN.md's defaults for what it leaves out."""
        section = getattr(config, "serving", None)
        return cls(
            port=getattr(section, "port", None) or 8000,
            api_key_env=getattr(section, "api_key_env", None) or "LOOPML_API_KEY",
            workers=getattr(section, "workers", None) or 1,
        )


@dataclass(frozen=True)
class DockerExport:
    """What ``export docker`` wrote."""

    directory: Path
    model_name: str
    model_version: str
    image: str
    base_image: str
    files: list[str]
    checksums: dict[str, str]
    pinned: int
    wheel: str | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "directory": str(self.directory),
            "model_name": self.model_name,
            "model_version": self.model_version,
            "image": self.image,
            "base_image": self.base_image,
            "files": self.files,
            "checksums": self.checksums,
            "pinned_packages": self.pinned,
            "wheel": self.wheel,
            "notes": self.notes,
        }


# ------------------------------------------------------------------------ the registered model


def registered_checksums(info: ModelVersionInfo) -> dict[str, str]:
    """File name -> sha256 as recorded when the version was registered."""
    return {k[len(_CHECKSUM_TAG) :]: v for k, v in info.tags.items() if k.startswith(_CHECKSUM_TAG)}


@contextlib.contextmanager
def registered_bundle(registry: Registry, ref: str) -> Iterator[tuple[Path, ModelVersionInfo]]:
    """The files of a registered version (downloaded through MLflow into a temporary
    directory), checked against the checksums recorded at registration."""
    import mlflow.artifacts
    from mlflow import MlflowClient

    info = registry.version_info(ref)
    expected = registered_checksums(info)
    if not expected:
        raise RegistryError(
            f"model {registry.model_name!r} version {info.version} has no recorded checksums; "
            "it was not registered by loopml and cannot be exported."
        )
    # MLflow's per-file download bars are noise for a model of a few files
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    with tempfile.TemporaryDirectory(prefix="loopml-export-") as tmp:
        try:
            client = MlflowClient(tracking_uri=registry.uri, registry_uri=registry.uri)
            uri = client.get_model_version_download_uri(registry.model_name, info.version)
            local = _download(mlflow.artifacts, uri, Path(tmp), registry.uri)
        except Exception as exc:
            raise RegistryError(
                f"cannot fetch model {registry.model_name!r} version {info.version}: {exc}"
            ) from exc
        manifest = next(local.rglob("manifest.json"), None)
        if manifest is None:
            raise RegistryError(f"model version {info.version} holds no loopml bundle.")
        _verify_files(manifest.parent, expected, info.version)
        yield manifest.parent, info


def _download(artifacts: Any, uri: str, dst: Path, tracking_uri: str) -> Path:
    """The registered model's loopml bundle (``artifacts/bundle``), or the whole MLflow
    model where the bundle is elsewhere in it."""
    try:
        where = artifacts.download_artifacts(
            artifact_uri=f"{uri.rstrip('/')}/artifacts/bundle", dst_path=str(dst / "bundle"),
            tracking_uri=tracking_uri,
        )  # fmt: skip
    except Exception:
        where = artifacts.download_artifacts(
            artifact_uri=uri, dst_path=str(dst / "model"), tracking_uri=tracking_uri
        )
    return Path(where)


def _verify_files(directory: Path, expected: Mapping[str, str], version: str) -> None:
    for name, digest in expected.items():
        path = directory / name
        if not path.is_file():
            raise IntegrityError(
                f"model version {version} lacks its file {name}; it cannot be exported."
            )
        if sha256_file(path) != digest:
            raise IntegrityError(
                f"model version {version}: {name} differs from the file registered "
                "(sha256 mismatch). Refusing to export it; register a newly trained model."
            )


# ------------------------------------------------------------------------ pinned packages


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


#: Model families whose library is an optional dependency (loopml's ``boost`` extra): the
#: image needs it to unpickle the model. An ensemble may hold any of them.
_FAMILY_PACKAGES = {"xgboost": ("xgboost-cpu", "xgboost"), "catboost": ("catboost",)}


def model_packages(family: str) -> tuple[str, ...]:
    """The optional packages a model of ``family`` needs (all of them for an ensemble or an
    unknown family; those not installed are left out when pinning)."""
    if family in _FAMILY_PACKAGES:
        return _FAMILY_PACKAGES[family]
    if family in ("", "ensemble", "bag", "stack-l2"):
        return tuple(p for packages in _FAMILY_PACKAGES.values() for p in packages)
    return ()


def pinned_requirements(
    root: str = "loopml", extras: tuple[str, ...] = _IMAGE_EXTRAS, also: tuple[str, ...] = ()
) -> dict[str, str]:
    """Every installed distribution ``root`` needs (with those of ``extras`` whose packages
    are all installed) and ``also`` with theirs, name -> installed version."""
    from packaging.requirements import Requirement

    found: dict[str, str] = {}
    queue: list[tuple[str, frozenset[str]]] = [(root, frozenset(_installed_extras(root, extras)))]
    queue += [(name, frozenset()) for name in also]
    while queue:
        name, wanted = queue.pop()
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # an optional dependency that is not installed here
        key = _canonical(dist.metadata["Name"])
        if key in found and not wanted:
            continue
        found[key] = dist.version
        for line in dist.requires or []:
            req = Requirement(line)
            envs = [{"extra": e} for e in wanted] or [{"extra": ""}]
            if req.marker is not None and not any(req.marker.evaluate(env) for env in envs):
                continue
            if _canonical(req.name) not in found:
                queue.append((req.name, frozenset(req.extras)))
    return dict(sorted(found.items()))


def _installed_extras(root: str, extras: tuple[str, ...]) -> list[str]:
    """The extras of ``root`` among ``extras`` whose every package is installed."""
    from packaging.requirements import Requirement

    try:
        dist = metadata.distribution(root)
    except metadata.PackageNotFoundError:
        return []
    declared = set(dist.metadata.get_all("Provides-Extra") or [])
    chosen = []
    for extra in (e for e in extras if e in declared):
        needs = [Requirement(r) for r in dist.requires or []]
        needs = [r for r in needs if r.marker is not None and r.marker.evaluate({"extra": extra})]
        if all(_is_installed(r.name) for r in needs):
            chosen.append(extra)
    return chosen


def _is_installed(name: str) -> bool:
    try:
        metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return False
    return True


def build_loopml_wheel(dest: Path) -> Path | None:
    """A wheel of the installed loopml when it runs from a source tree (an editable or local
    install), so the image installs exactly this code; None when it came from an index."""
    dist = metadata.distribution("loopml")
    direct = dist.read_text("direct_url.json")
    url = json.loads(direct).get("url", "") if direct else ""
    if not url.startswith("file://"):
        return None
    source = Path(url[len("file://") :])
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(dest)]
    done = subprocess.run([*cmd, str(source)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise DataError(
            f"cannot build a wheel of loopml from {source}: {done.stderr.strip()[-400:]}. "
            "Fix the build, or pass --no-wheel to install loopml from the package index."
        )
    return next(dest.glob("loopml-*.whl"))


# ------------------------------------------------------------------------ the build context


def base_image() -> str:
    """The official Python image of this interpreter's exact version (Debian slim)."""
    return f"python:{platform.python_version()}-slim-bookworm"


def docker_image_name(model_name: str, version: str) -> str:
    """A Docker image reference for a model version: ``loopml-churn:3``."""
    slug = re.sub(r"[^a-z0-9]+", "-", model_name.lower()).strip("-") or "model"
    return f"loopml-{slug}:{version}"


def dockerfile(settings: ServingSettings, *, base: str, model_name: str, version: str) -> str:
    """The Dockerfile text; ``hadolint`` accepts it with no warnings."""
    port = settings.port
    probe = (
        "import sys, urllib.request; sys.exit(urllib.request.urlopen("
        f"'http://127.0.0.1:{port}/healthz', timeout=4).status != 200)"
    )
    serve = [
        "loopml", "serve", "-c", f"{APP_DIR}/loopml.yaml", "--model", MODEL_DIR,
        "--host", "0.0.0.0", "--port", str(port), "--workers", str(settings.workers),
    ]  # fmt: skip
    return f"""\
# Generated by `loopml export docker`: model {model_name!r} version {version}.
# Build and run: see README.md beside this file.
FROM {base}

ENV PYTHONDONTWRITEBYTECODE=1 \\
    PYTHONUNBUFFERED=1 \\
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid {USER_ID} loopml \\
    && useradd --system --uid {USER_ID} --gid loopml --home-dir {APP_DIR} \\
       --shell /usr/sbin/nologin loopml

WORKDIR {APP_DIR}

# every package pinned to the version the model was exported with
COPY requirements.txt ./
COPY wheels/ /tmp/wheels/
RUN pip install --no-cache-dir --find-links /tmp/wheels -r requirements.txt \\
    && rm -rf /tmp/wheels

# the registered model, checked against its recorded checksums when the service loads it
COPY --chown=loopml:loopml loopml.yaml ./
COPY --chown=loopml:loopml model/ ./model/
RUN mkdir -p {APP_DIR}/.loopml && chown loopml:loopml {APP_DIR}/.loopml

USER {USER_ID}:{USER_ID}
EXPOSE {port}
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \\
    CMD {json.dumps(["python", "-c", probe])}
CMD {json.dumps(serve)}
"""


DOCKERIGNORE = """\
# only the files the Dockerfile copies go into the build
**/__pycache__
**/*.pyc
**/.DS_Store
.git
README.md
"""


def requirements_text(pins: Mapping[str, str], python: str) -> str:
    lines = [
        f"# Generated by `loopml export docker` on Python {python}: the packages installed",
        "# where the model was exported, pinned. Install with --find-links wheels/.",
    ]
    return "\n".join([*lines, *(f"{name}=={version}" for name, version in pins.items())]) + "\n"


def context_readme(export: DockerExport, settings: ServingSettings) -> str:
    port, key = settings.port, settings.api_key_env
    return f"""\
# {export.image}: model {export.model_name!r} version {export.model_version}

Generated by `loopml export docker`. Python base image `{export.base_image}`; every package
pinned in `requirements.txt` to the version it was exported with.

Build and run:

    docker build -t {export.image} .
    docker run --rm -p {port}:{port} -e {key}="$(openssl rand -hex 32)" {export.image}

Then `curl http://127.0.0.1:{port}/healthz` and
`curl -H "Authorization: Bearer $KEY" -d '{{"instances": [...]}}' http://127.0.0.1:{port}/v1/predict`.

The service runs as the unprivileged user {USER_ID}, listens on port {port} (bound to 0.0.0.0
inside the container, so it refuses to start without the API key in `{key}`), and Docker
checks `/healthz` every 30 s. Predictions are logged to `/app/.loopml`; mount a volume there
to keep them, or point `serving.prediction_log` in `loopml.yaml` at PostgreSQL.

`model/` is the registered bundle; `model/SHA256SUMS` holds the checksums recorded at
registration (`cd model && sha256sum -c SHA256SUMS`), and the service verifies them again
before it loads the model.
"""


def export_docker(
    registry: Registry,
    ref: str,
    directory: Path,
    *,
    config_path: Path,
    settings: ServingSettings | None = None,
    wheel: bool = True,
    overwrite: bool = False,
) -> DockerExport:
    """Write a Docker build context serving model version ``ref`` into ``directory``.

    The context appears whole or not at all (written aside, then renamed into place).

    Raises
    ------
    DataError
        ``directory`` exists and is not empty (without ``overwrite``), or the project file
        is missing.
    RegistryError, IntegrityError
        The version does not exist, or its files differ from those registered.
    """
    settings = settings or ServingSettings()
    _check_target(directory, overwrite)
    if not config_path.is_file():
        raise DataError(f"project file {config_path} not found; pass it with -c.")
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        with registered_bundle(registry, ref) as (bundle_dir, info):
            export = _write_context(staging, bundle_dir, info, registry.model_name, settings)
        shutil.copyfile(config_path, staging / "loopml.yaml")
        built = build_loopml_wheel(staging / "wheels") if wheel else None
        (staging / "wheels").mkdir(exist_ok=True)
        (staging / "wheels" / ".keep").touch()
        if built is not None:
            export = replace(export, wheel=f"wheels/{built.name}")
        else:
            export.notes.append(
                "no loopml wheel in wheels/: the image installs loopml from the package index"
            )
        (staging / "README.md").write_text(context_readme(export, settings), encoding="utf-8")
        if directory.exists():
            shutil.rmtree(directory)
        staging.rename(directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    files = sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())
    return replace(export, directory=directory, files=files)


def _check_target(directory: Path, overwrite: bool) -> None:
    if directory.exists() and not directory.is_dir():
        raise DataError(f"{directory} is a file; give a directory to write the build context to.")
    if directory.is_dir() and any(directory.iterdir()) and not overwrite:
        raise DataError(
            f"{directory} already exists and is not empty; choose another directory or pass "
            "--overwrite to replace it."
        )


def _write_context(
    staging: Path,
    bundle_dir: Path,
    info: ModelVersionInfo,
    model_name: str,
    settings: ServingSettings,
) -> DockerExport:
    checksums = registered_checksums(info)
    model_dir = staging / "model"
    model_dir.mkdir()
    for name in checksums:
        shutil.copyfile(bundle_dir / name, model_dir / name)
    sums = "".join(f"{digest}  {name}\n" for name, digest in sorted(checksums.items()))
    (model_dir / "SHA256SUMS").write_text(sums, encoding="utf-8")
    (model_dir / "version.json").write_text(
        json.dumps({"name": model_name, "version": info.version, "checksums": checksums}, indent=2)
        + "\n",
        encoding="utf-8",
    )
    pins = pinned_requirements(also=model_packages(info.family))
    python = platform.python_version()
    base = base_image()
    (staging / "requirements.txt").write_text(requirements_text(pins, python), encoding="utf-8")
    (staging / "Dockerfile").write_text(
        dockerfile(settings, base=base, model_name=model_name, version=info.version),
        encoding="utf-8",
    )
    (staging / ".dockerignore").write_text(DOCKERIGNORE, encoding="utf-8")
    return DockerExport(
        directory=staging,
        model_name=model_name,
        model_version=info.version,
        image=docker_image_name(model_name, info.version),
        base_image=base,
        files=[],
        checksums=checksums,
        pinned=len(pins),
    )
