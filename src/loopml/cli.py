"""The ``loopml`` command: parse flags, call :class:`~loopml.project.Project`, print.

Every command takes ``-c/--config`` (default ``./loopml.yaml``) and ``--json``; user mistakes
end in a one-paragraph error on stderr and a non-zero exit code (see ``loopml.errors``).
"""

from __future__ import annotations

import gc
from contextlib import AbstractContextManager
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from loopml._cli_demo import register as register_demo
from loopml._cli_export import register as register_export
from loopml._cli_forget import register as register_forget
from loopml._cli_monitor import register as register_monitor
from loopml._cli_options import (
    ConfigOpt,
    DaskOpt,
    JsonOpt,
    ModelOpt,
    VerboseOpt,
    emit_json,
    open_project,
    path_argument,
    path_option,
    setup_logging,
)
from loopml._cli_print import (
    metrics_table,
    print_fairness,
    print_findings,
    print_scoring,
    print_train,
    print_version,
    print_versions,
    version_moves,
)
from loopml._cli_progress import cli_errors, scoring_progress, training_progress
from loopml._cli_retrain import register as register_retrain
from loopml._cli_tensorboard import TensorBoardOpt, tensorboard_log
from loopml._cli_ui import register as register_ui
from loopml._cli_watch import register as register_watch
from loopml.errors import EXIT_GATE

app = typer.Typer(
    name="loopml",
    help="The machine-learning lifecycle for tabular data, from raw data to a monitored model.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
models_app = typer.Typer(
    help="List, inspect and promote registered model versions.", no_args_is_help=True
)
app.add_typer(models_app, name="models")
export_app = typer.Typer(
    help="Export a registered model: ONNX, a Docker build context, Kubernetes manifests.",
    no_args_is_help=True,
)
app.add_typer(export_app, name="export")
register_export(export_app)  # loopml export onnx|docker|k8s, in _cli_export.py
register_retrain(app)  # loopml retrain, in _cli_retrain.py
register_monitor(app)  # loopml monitor, in _cli_monitor.py
register_forget(app)  # loopml forget, in _cli_forget.py
register_watch(app)  # loopml watch, in _cli_watch.py
register_ui(app)  # loopml ui, in _cli_ui.py

# made again when a command starts (see _main), so the width follows COLUMNS or the terminal
out = Console()
err = Console(stderr=True)


def _errors() -> AbstractContextManager[None]:
    """Turn loopml errors into a message and an exit code; no traceback for user mistakes."""
    return cli_errors(err, "Interrupted; nothing was registered.")


# ---------------------------------------------------------------------------------- commands


@app.callback()
def _main(verbose: bool = typer.Option(False, "-v", "--verbose", help="Log what happens.")) -> None:
    global out, err
    out, err = Console(), Console(stderr=True)
    setup_logging(verbose)


@app.command()
def init(
    data: Path = path_argument(..., help="A CSV or Parquet file with the training data."),
    target: str | None = typer.Option(
        None,
        "--target",
        "-t",
        help="The column to predict; none for clustering, and for anomaly optionally a label "
        "column marking known anomalies.",
    ),
    task: str = typer.Option(
        "auto",
        "--task",
        help="auto (inferred from the target), binary, multiclass, regression, clustering or "
        "anomaly.",
    ),
    directory: Path = path_option(Path("."), "--dir", help="Project directory to write into."),
    name: str | None = typer.Option(None, "--name", help="Project name (default: the folder)."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing loopml.yaml."),
    sep: str | None = typer.Option(
        None, "--sep", help="CSV field separator, e.g. ';' or '\\t' (default: sniffed)."
    ),
    decimal: str | None = typer.Option(
        None, "--decimal", help="Decimal mark of the numbers, '.' or ',' (default: sniffed)."
    ),
    thousands: str | None = typer.Option(
        None,
        "--thousands",
        help="Thousands separator: ',', '.', ' ', \"'\" or '' for none (default: sniffed).",
    ),
    as_json: bool = JsonOpt,
    verbose: bool = VerboseOpt,
) -> None:
    """Write a commented draft loopml.yaml inferred from DATA (its dialect, task, metric, a
    success gate a quick baseline measures, id, time and personal-data columns). Without a
    target: --task clustering or --task anomaly."""
    from loopml.data import draft_config
    from loopml.errors import ConfigError, DataError

    with _errors():
        if not data.is_file():
            raise DataError(f"data file {data} not found.")
        target_file = directory / "loopml.yaml"
        if target_file.exists() and not force:
            raise ConfigError(f"{target_file} already exists; pass --force to overwrite it.")
        text = draft_config(
            data,
            target,
            directory,
            name=name,
            task=task,
            sep=sep,
            decimal=decimal,
            thousands=thousands,
        )
        directory.mkdir(parents=True, exist_ok=True)
        target_file.write_text(text, encoding="utf-8")
        if as_json:
            emit_json({"config": str(target_file)})
        else:
            out.print(text, highlight=False, markup=False, soft_wrap=True)
            out.print(f"Wrote {target_file}. Review the lines marked REVIEW, then `loopml train`.")


@app.command()
def validate(config: Path = ConfigOpt, as_json: bool = JsonOpt, verbose: bool = VerboseOpt) -> None:
    """Check the data: quality findings, expectations, personal data. Non-zero on errors."""
    from loopml.errors import DataError

    with _errors():
        project = open_project(config)
        report = project.validate()
        emit_json(report.to_dict()) if as_json else print_findings(out, report)
        fail_on = project.config.quality.fail_on
        if report.fails(fail_on):
            raise DataError(
                f"validation failed: findings at or above '{fail_on}' (quality.fail_on). Fix "
                "them, or relax quality.expectations / quality.fail_on in loopml.yaml."
            )


@app.command()
def profile(
    config: Path = ConfigOpt,
    output: Path | None = path_option(None, "--out", "-o", help="HTML file to write."),
    dataset: Path | None = path_option(
        None,
        "--dataset",
        help="Profile this directory or glob of Parquet files part by part (data larger than "
        "memory; with --dask on a cluster) instead of the project's sources.",
    ),
    dask: str | None = DaskOpt,
    as_json: bool = JsonOpt,
    verbose: bool = VerboseOpt,
) -> None:
    """Write the EDA profile of the data: statistics, charts, correlations, findings."""
    with _errors():
        project = open_project(config, dask)
        if dataset is not None:
            path = project.profile_dataset(dataset, output)
            emit_json({"profile": str(path)}) if as_json else out.print(f"Profile: {path}")
            return
        path, report = project.profile(output)
        if as_json:
            emit_json({"profile": str(path), "quality": report.to_dict()})
        else:
            print_findings(out, report, limit=15)
            out.print(f"Profile: {path}")


@app.command()
def train(
    config: Path = ConfigOpt,
    dask: str | None = DaskOpt,
    tensorboard: Path | None = TensorBoardOpt,
    as_json: bool = JsonOpt,
    verbose: bool = VerboseOpt,
) -> None:
    """Train, evaluate on the holdout, register, and set champion or challenger."""
    with _errors():
        project = open_project(config, dask)
        log = tensorboard_log(tensorboard, None if as_json else err)  # fails before training
        budget = project.config.training.budget_seconds
        with training_progress(err, not as_json, budget) as progress:
            result = project.train(progress=progress)
        log(result)
        emit_json(result.to_dict()) if as_json else print_train(out, result)


@app.command()
def run(
    config: Path = ConfigOpt,
    dask: str | None = DaskOpt,
    as_json: bool = JsonOpt,
    verbose: bool = VerboseOpt,
) -> None:
    """The whole loop once: train → evaluate → register → promote → batch score."""
    with _errors():
        project = open_project(config, dask)
        with training_progress(
            err, not as_json, project.config.training.budget_seconds
        ) as progress:
            result = project.run(progress=progress)
        if as_json:
            emit_json(result.to_dict())
            return
        print_train(out, result.train)
        if result.scoring is not None:
            print_scoring(out, result.scoring)
        else:
            out.print(f"No batch scoring: {result.scoring_note}.")


@app.command()
def evaluate(
    config: Path = ConfigOpt,
    model: str = ModelOpt,
    data: Path | None = path_option(None, "--data", help="Labelled file (default: the holdout)."),
    as_json: bool = JsonOpt,
    verbose: bool = VerboseOpt,
) -> None:
    """Score a registered model on labelled data and check the success gate (exit 11 when
    the model fails it)."""
    with _errors():
        result = open_project(config).evaluate(model=model, data=data)
        if as_json:
            emit_json(result.to_dict())
        else:
            title = f"{model} on {data or 'the holdout'} ({result.n_rows} rows)"
            out.print(metrics_table(title, result.metrics, out.width))
            out.print(f"Gate: {escape(result.gate.describe())}")
            print_fairness(out, result.fairness)
    if not result.gate.passed:
        raise typer.Exit(EXIT_GATE)


@app.command()
def score(
    input: Path = path_argument(
        ..., help="CSV or Parquet file to score, or a directory or glob of Parquet files."
    ),
    output: Path = path_argument(
        ..., help="Where to write predictions: .csv or .parquet, or a directory for a dataset."
    ),
    config: Path = ConfigOpt,
    model: str = ModelOpt,
    dask: str | None = DaskOpt,
    as_json: bool = JsonOpt,
    verbose: bool = VerboseOpt,
) -> None:
    """Batch-score INPUT into OUTPUT in chunks, checking it against the model's schema. A
    directory or glob of Parquet files is scored into a directory of Parquet parts."""
    with _errors():
        project = open_project(config, dask)
        with scoring_progress(err, not as_json, input) as progress:
            summary = project.score(input, output, model=model, progress=progress)
        emit_json(summary.to_dict()) if as_json else print_scoring(out, summary)


@app.command()
def serve(
    config: Path = ConfigOpt,
    model: str = typer.Option(
        "champion", "--model", "-m", help="champion (follows promotions) or a version."
    ),
    host: str | None = typer.Option(
        None, "--host", help="Address to listen on (default: serving.host, 127.0.0.1)."
    ),
    port: int | None = typer.Option(
        None, "--port", min=0, max=65535, help="Port (default: serving.port, 8000)."
    ),
    workers: int | None = typer.Option(
        None, "--workers", min=1, max=64, help="Worker processes (default: serving.workers, 1)."
    ),
    runtime: str | None = typer.Option(
        None, "--runtime", help="auto, onnx, python or frame (default: serving.runtime, auto)."
    ),
    challenger: str | None = typer.Option(
        None,
        "--challenger",
        help="Online comparison: off, ab or shadow (default: serving.challenger.mode, off).",
    ),
    fraction: float | None = typer.Option(
        None,
        "--challenger-fraction",
        help="A/B: the challenger's share of requests (default: serving.challenger.fraction).",
    ),
    verbose: bool = VerboseOpt,
) -> None:
    """Serve a registered model over HTTP: REST (/v1/predict) and Open Inference Protocol v2."""
    with _errors():
        from loopml.errors import ConfigError
        from loopml.serving.app import serve as run_service
        from loopml.serving.app import service_settings

        if runtime is not None and runtime not in ("auto", "onnx", "python", "frame"):
            raise ConfigError(f"--runtime must be auto, onnx, python or frame, not {runtime!r}.")
        if challenger is not None and challenger not in ("off", "ab", "shadow"):
            raise ConfigError(f"--challenger must be off, ab or shadow, not {challenger!r}.")
        if fraction is not None and not 0 < fraction < 1:
            raise ConfigError(f"--challenger-fraction must be between 0 and 1, not {fraction}.")
        project = open_project(config)
        flags = {"model": model, "host": host, "port": port, "workers": workers}
        compare = {"challenger": challenger, "challenger_fraction": fraction}
        settings = service_settings(
            project.config,
            tracking_uri=project.registry.uri,
            workspace=project.workspace,
            overrides={**flags, "runtime": runtime, **compare},
        )
        out.print(
            f"Starting: {escape(settings.model_name)} ({escape(settings.model)}) on "
            f"http://{settings.host}:{settings.port} with {settings.workers} worker(s); "
            "Ctrl-C stops."
        )
        run_service(settings, project.env)


@models_app.command("list")
def models_list(
    config: Path = ConfigOpt, as_json: bool = JsonOpt, verbose: bool = VerboseOpt
) -> None:
    """Registered versions, newest first: aliases, family, holdout metric, gate."""
    with _errors():
        project = open_project(config)
        versions = project.models()
        if as_json:
            emit_json([v.to_dict() for v in versions])
            return
        if not versions:
            out.print("No model registered yet. Run `loopml train`.")
            return
        print_versions(out, project.config.model_name, versions)


@models_app.command("show")
def models_show(
    ref: str = typer.Argument("champion", help="champion, challenger, latest or a version."),
    config: Path = ConfigOpt,
    as_json: bool = JsonOpt,
    verbose: bool = VerboseOpt,
) -> None:
    """One version: aliases, family, gate, promotion reason, report, metrics, tags, and its
    latest alias moves."""
    with _errors():
        project = open_project(config)
        info = project.model(ref)
        moves = version_moves(project.registry, info.version)
        if as_json:
            emit_json({**info.to_dict(), "alias_history": moves})
            return
        print_version(out, info, moves)


@models_app.command("promote")
def models_promote(
    ref: str = typer.Argument(..., help="The version to promote (or challenger)."),
    alias: str = typer.Option("champion", "--alias", help="champion or challenger."),
    config: Path = ConfigOpt,
    as_json: bool = JsonOpt,
    verbose: bool = VerboseOpt,
) -> None:
    """Point an alias (champion by default) at a version after verifying its files."""
    with _errors():
        info = open_project(config).promote(ref, alias=alias)
        if as_json:
            emit_json(info.to_dict())
        else:
            aliases = ", ".join(info.aliases)
            out.print(f"{info.name} version {info.version} is now {alias} (aliases: {aliases}).")
            out.print(f"Reason recorded: {escape(info.promotion_reason)}", overflow="fold")


register_demo(app)  # loopml demo, in _cli_demo.py (last, as in `loopml --help`)


def main() -> None:
    """The ``loopml`` console script: the Typer app, with start-up tuned for short commands."""
    # A command's first seconds are imports that create millions of objects; at CPython's
    # default threshold (700) the cyclic collector runs ~600 times meanwhile, re-walking the
    # growing heap. At 10,000 it runs a few dozen times (0.3-0.7 s less for `models list` and
    # `score`, benchmarks/cli_startup.py) and still collects during long training runs.
    gc.set_threshold(10_000, 10, 10)
    try:
        app()
    finally:
        # The interpreter's final collections would walk every object once more (0.8 s with
        # MLflow and scikit-learn loaded); frozen objects are skipped. What a command writes is
        # closed when it returns, and atexit handlers (logging, MLflow) still run.
        gc.freeze()


if __name__ == "__main__":
    main()
