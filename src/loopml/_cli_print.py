"""What the ``loopml`` commands print: tables that fit the console's width.

A table that would be wider than the console drops its least useful columns, turns a row of
metrics into a column, or becomes a list; numbers are not wrapped, long text folds. The
registry's tables show the fields of the command's ``--json`` output.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.padding import Padding
from rich.table import Table

from loopml._display import fmt_metric, model_label

#: Below this width the findings are listed one per paragraph instead of in a table.
FINDINGS_TABLE_WIDTH = 100
#: Below this width the leaderboard leaves out where a trial came from.
LEADERBOARD_FULL_WIDTH = 80


def _number(table: Table, header: str) -> None:
    """A right-aligned column of numbers: never wrapped, at least as wide as its header."""
    table.add_column(header, justify="right", no_wrap=True, min_width=len(header))


def _text(table: Table, header: str, **options: Any) -> None:
    table.add_column(header, overflow="fold", **options)


def metrics_table(title: str, metrics: Mapping[str, float], width: int) -> Table:
    """Metrics in one row when they fit in ``width``, else one metric per row."""
    cells = [(name, fmt_metric(value)) for name, value in metrics.items()]
    needed = sum(max(len(name), len(value)) + 3 for name, value in cells) + 1
    table = Table(title=title, min_width=min(len(title) + 4, width))
    if needed <= width:
        for name, _ in cells:
            _number(table, name)
        table.add_row(*(value for _, value in cells))
        return table
    _text(table, "metric")
    _number(table, "value")
    for name, value in cells:
        table.add_row(name, value)
    return table


def print_fairness(out: Console, report: Any) -> None:
    """One line per measure compared between groups: its worst grouping and the ends."""
    for line in report.lines() if report is not None else []:
        out.print(f"Fairness: {escape(line)}")


def print_train(out: Console, result: Any) -> None:
    """The leaderboard, the holdout metrics, the gate and where the model went."""
    board = result.leaderboard
    wide = out.width >= LEADERBOARD_FULL_WIDTH
    scoring = f"CV {board.metric} ({board.n_folds} folds)" if board.n_folds else board.metric
    table = Table(title=f"Leaderboard: {scoring}")
    _number(table, "#")
    _text(table, "model", ratio=1)
    if wide:
        _text(table, "from")
    _text(table, "status")
    # single-row latencies are measured when problem.constraints.max_latency_ms is set
    timed = any(getattr(t, "latency_ms", None) is not None for t in board.trials)
    for header in (board.metric, "± std", "s", *(("ms/row",) if timed else ())):
        _number(table, header)
    ranked = board.ranked()
    for i, t in enumerate(ranked[:10], start=1):
        cells = [str(i), model_label(t, board.trials)]
        if wide:
            cells.append(t.source)
        scored = bool(t.fold_scores)  # not started, or failed before a fold scored: "—"
        cells += [
            t.label,
            fmt_metric(t.mean) if scored else "—",
            fmt_metric(t.std) if scored else "—",
            f"{t.seconds:.1f}" if t.started else "—",
        ]
        if timed:
            cells.append("—" if t.latency_ms is None else f"{t.latency_ms:.2f}")
        table.add_row(*cells)
    out.print(table)
    if len(board.trials) > 10:
        out.print(f"… and {len(board.trials) - 10} more trials (all in the report).")
    ev = result.evaluation
    title = f"Holdout metrics ({ev.n_rows} rows never seen by the search)"
    out.print(metrics_table(title, ev.metrics, out.width))
    style = "green" if ev.gate.passed else "red"
    out.print(f"Gate: [{style}]{escape(ev.gate.describe())}[/]")
    print_fairness(out, ev.fairness)
    out.print(
        f"Registered [bold]{result.version.name}[/] version [bold]{result.version.version}[/] "
        f"({escape(result.version.family or '?')}) as [bold]{result.alias}[/]: "
        f"{escape(result.promotion_reason)}."
    )
    if result.decision.leakage_columns:
        columns = ", ".join(repr(c) for c in result.decision.leakage_columns)
        out.print(
            f"[yellow]Not promoted to champion:[/] its score looks too good while a leakage "
            f"finding stands on {escape(columns)}. Check whether they are known before the "
            "outcome (`loopml validate` shows the finding): drop any that are not with "
            "data.drop_columns and train again, or run "
            f"`loopml models promote {result.version.version}` if the score is real."
        )
    out.print(f"Report: {result.report}", overflow="fold")


def print_scoring(out: Console, summary: Any) -> None:
    out.print(
        f"Scored {summary.rows} rows in {summary.chunks} chunk(s) with version "
        f"{summary.model_version} in {summary.seconds:.1f} s → {summary.output}",
        overflow="fold",
    )
    if summary.prediction_counts:
        shown = ", ".join(f"{k}: {v}" for k, v in summary.prediction_counts.items())
        out.print(f"Predictions: {escape(shown)}")
    if summary.issues:
        table = Table(title="Input values outside what the model saw in training (still scored)")
        _text(table, "column")
        _text(table, "issue")
        _number(table, "rows")
        for col, found in summary.issues.items():
            for kind, n in found.items():
                table.add_row(escape(col), kind.replace("_", " "), str(n))
        out.print(table)


def print_findings(out: Console, report: Any, limit: int = 40) -> None:
    """The quality findings: a table on wide consoles, one paragraph each on narrow ones."""
    counts = {s: len(report.by_severity(s)) for s in ("error", "warning", "info")}
    out.print(
        f"{escape(report.origin)}: {report.n_rows} rows x {report.n_columns} columns — "
        f"[red]{counts['error']} error(s)[/], [yellow]{counts['warning']} warning(s)[/], "
        f"{counts['info']} note(s)",
        overflow="fold",
    )
    if not report.findings:
        return
    colors = {"error": "red", "warning": "yellow", "info": "dim"}
    shown = report.findings[:limit]
    if out.width >= FINDINGS_TABLE_WIDTH:
        table = Table(show_lines=False, expand=True)
        for col in ("severity", "check", "column", "rows", "finding", "suggested fix"):
            if col == "rows":
                _number(table, col)
            elif col in ("finding", "suggested fix"):  # the long text takes what is left
                _text(table, col, ratio=1)
            else:
                _text(table, col)
        for f in shown:
            table.add_row(
                f"[{colors[f.severity]}]{f.severity}[/]",
                escape(f.id),
                escape(f.column or ""),
                str(f.count),
                escape(f.message),
                escape(f.suggestion),
            )
        out.print(table)
    else:
        for f in shown:
            where = f" [bold]{escape(f.column)}[/]" if f.column else ""
            out.print(
                f"[{colors[f.severity]}]{f.severity}[/] {escape(f.id)}{where} ({f.count} rows): "
                f"{escape(f.message)}",
                overflow="fold",
            )
            if f.suggestion:
                out.print(Padding(f"fix: {escape(f.suggestion)}", (0, 0, 0, 2)), overflow="fold")
    if len(report.findings) > limit:
        out.print(f"… and {len(report.findings) - limit} more (use --json for all).")


def print_versions(out: Console, model: str, versions: Sequence[Any]) -> None:
    """``models list``: one row per version with the fields of its ``--json`` entry."""
    metrics = {v.metric for v in versions if v.metric}
    metric = metrics.pop() if len(metrics) == 1 else ""
    wide = out.width >= LEADERBOARD_FULL_WIDTH
    table = Table(title=f"Model {model}")
    _number(table, "version")
    _text(table, "aliases")
    _text(table, "family", ratio=1)
    _number(table, f"holdout {metric}" if metric else "holdout")
    _text(table, "gate", ratio=1)
    if wide:
        _text(table, "created")
    for v in versions:
        value = fmt_metric(v.holdout)
        if not metric and v.metric:
            value = f"{v.metric} {value}"
        cells = [v.version, ", ".join(v.aliases) or "—", v.family or "—", value]
        cells.append(escape(v.describe_gate()))
        if wide:
            cells.append(v.created)
        table.add_row(*cells)
    out.print(table)


def version_fields(info: Any) -> list[tuple[str, str]]:
    """``models show``: (field, value) in the order of ``info.to_dict()``'s keys."""
    data = info.to_dict()
    fields = [
        ("version", info.version),
        ("aliases", ", ".join(info.aliases) or "—"),
        ("family", info.family or "—"),
        (
            f"holdout {info.metric}" if info.metric else "holdout",
            fmt_metric(info.holdout),
        ),
        ("gate", info.describe_gate()),
        ("promotion reason", info.promotion_reason or "—"),
        ("report", info.report or "—"),
        ("created", info.created),
        ("run id", info.run_id),
    ]
    fields += [(key, fmt_metric(value)) for key, value in sorted(info.metrics.items())]
    fields += sorted(data["tags"].items())
    return fields


def version_moves(registry: Any, version: str, shown: int = 10) -> list[dict[str, Any]]:
    """``models show``: the latest ``shown`` alias events that name ``version``, newest
    first (the registry keeps them all; see ``loopml ui``'s Model versions page)."""
    events = registry.alias_history(limit=100_000).events
    mine = [e for e in events if version in (e.version, e.previous)][:shown]
    return [{**e.to_dict(), "text": e.text} for e in mine]


def print_version(out: Console, info: Any, moves: Sequence[Mapping[str, Any]] = ()) -> None:
    table = Table(title=f"{info.name} version {info.version}", show_header=False)
    _text(table, "field")
    _text(table, "value", ratio=1)
    for key, value in version_fields(info):
        table.add_row(escape(key), escape(str(value)))
    out.print(table)
    if moves:
        history = Table(title="Alias moves, newest first")
        for name in ("when", "move", "reason", "by"):
            _text(history, name)
        for e in moves:
            when = dt.datetime.fromtimestamp(e["time"], tz=dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
            history.add_row(when, escape(e["text"]), escape(e["reason"]), escape(e["actor"] or "—"))
        out.print(history)


def print_forget(out: Console, result: Any, shown: int = 10) -> None:
    """``forget``: what was deleted (or would be, in a dry run), and any note."""
    how = {"hashed": " (matched as hashed by the privacy policy)"}.get(result.matched, "")
    verb = "Would delete" if result.dry_run else "Deleted"
    out.print(
        f"{verb} {result.predictions} prediction(s) and {result.labels} label(s) with "
        f"{escape(result.column)} from the prediction log{how}.",
        soft_wrap=True,
    )
    if result.dry_run and result.request_ids:
        ids = ", ".join(result.request_ids[:shown])
        more = len(result.request_ids) - shown
        out.print(f"Request ids: {escape(ids)}{f' … and {more} more' if more > 0 else ''}")
    if result.note:
        out.print(f"Note: {escape(result.note)}.", soft_wrap=True)
    if result.dry_run:
        out.print("Dry run: nothing was deleted; run again without --dry-run to delete.")
