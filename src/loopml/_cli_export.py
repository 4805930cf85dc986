"""``loopml export onnx|docker|k8s``: their own module, registered on the ``export`` group by
``cli.py`` (one line there). Parsing and printing only: :mod:`loopml.serving` does the work.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path

import typer
from rich.console import Console

from loopml._cli_options import (
    ConfigOpt,
    JsonOpt,
    ModelOpt,
    OverwriteOpt,
    VerboseOpt,
    emit_json,
    open_project,
    path_argument,
)
from loopml._cli_progress import cli_errors


def register(export_app: typer.Typer) -> None:
    """Add ``onnx``, ``docker`` and ``k8s`` to the ``export`` group."""
    export_app.command("onnx")(export_onnx)
    export_app.command("docker")(export_docker)
    export_app.command("k8s")(export_k8s)


def _errors() -> AbstractContextManager[None]:
    """Loopml errors as a message and an exit code (see :mod:`loopml.errors`)."""
    return cli_errors(Console(stderr=True), "Interrupted.")


def export_onnx(
    output: Path = path_argument(..., help="The .onnx file to write."),
    config: Path = ConfigOpt,
    model: str = ModelOpt,
    as_json: bool = JsonOpt,
    verbose: bool = VerboseOpt,
) -> None:
    """Write the model as ONNX to OUTPUT, after checking it predicts like the pipeline on the
    holdout (probabilities within 1e-4); nothing is written when it does not."""
    from loopml.serving import export_onnx as export

    out = Console()  # at the command's start, so the width follows COLUMNS or the terminal
    with _errors():
        project = open_project(config)
        bundle, info = project.registry.load(model)
        holdout = project.prepare().holdout_rows().X
        result = export(bundle, output, holdout, model_version=info.version)
        if as_json:
            emit_json({"model_version": info.version, **result.to_dict()})
            return
        parity = result.parity
        out.print(
            f"Wrote version {info.version} as ONNX to {result.path} "
            f"({result.bytes / 1024:.0f} KiB, {len(result.inputs)} inputs).",
            overflow="fold",
        )
        out.print(
            f"Parity on {parity.rows} holdout rows: largest difference "
            f"{parity.max_difference:.2g} (allowed 1e-4), labels identical."
        )


def export_docker(
    directory: Path = path_argument(..., help="Directory to write the build context to."),
    config: Path = ConfigOpt,
    model: str = ModelOpt,
    wheel: bool = typer.Option(
        True, "--wheel/--no-wheel", help="Put a wheel of this loopml into the context."
    ),
    overwrite: bool = OverwriteOpt,
    as_json: bool = JsonOpt,
    verbose: bool = VerboseOpt,
) -> None:
    """Write a Docker build context (Dockerfile, model, pinned requirements) serving a model."""
    from loopml.serving import ServingSettings
    from loopml.serving import export_docker as write_context

    out = Console()  # at the command's start, so the width follows COLUMNS or the terminal
    with _errors():
        project = open_project(config)
        done = write_context(
            project.registry,
            model,
            directory,
            config_path=project.config_path,
            settings=ServingSettings.from_config(project.config),
            wheel=wheel,
            overwrite=overwrite,
        )
        if as_json:
            emit_json(done.to_dict())
            return
        notes = "".join(f"\n  note: {note}" for note in done.notes)
        out.print(
            f"Wrote {directory}: model {done.model_name!r} version {done.model_version} on "
            f"{done.base_image}, {done.pinned} packages pinned.{notes}\n"
            f"  build: docker build -t {done.image} {directory}"
        )


def export_k8s(
    directory: Path = path_argument(..., help="Directory to write the manifests to."),
    config: Path = ConfigOpt,
    model: str = ModelOpt,
    image: str | None = typer.Option(
        None, "--image", help="Image to run (default: the name `export docker` prints)."
    ),
    namespace: str = typer.Option("default", "--namespace", help="Kubernetes namespace."),
    min_replicas: int = typer.Option(2, "--min-replicas", help="Fewest pods."),
    max_replicas: int = typer.Option(10, "--max-replicas", help="Most pods (autoscaler)."),
    overwrite: bool = OverwriteOpt,
    as_json: bool = JsonOpt,
    verbose: bool = VerboseOpt,
) -> None:
    """Write Kubernetes manifests: Deployment, Service, autoscaler, KServe InferenceService."""
    from loopml.serving import ClusterSettings, ServingSettings, docker_image_name
    from loopml.serving import export_k8s as write_manifests

    out = Console()  # at the command's start, so the width follows COLUMNS or the terminal
    with _errors():
        project = open_project(config)
        info = project.model(model)
        name = project.config.model_name
        cluster = ClusterSettings(
            image=image or docker_image_name(name, info.version),
            namespace=namespace,
            min_replicas=min_replicas,
            max_replicas=max_replicas,
        )
        done = write_manifests(
            directory,
            model_name=name,
            version=info.version,
            cluster=cluster,
            serving=ServingSettings.from_config(project.config),
            overwrite=overwrite,
        )
        if as_json:
            emit_json(done.to_dict())
            return
        files = ", ".join(done.files)
        out.print(f"Wrote {directory}: {files} for image {cluster.image}; see README.md there.")
