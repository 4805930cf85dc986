"""Adopt a search rule only if leave-one-dataset-out says so (issue 15, item 1).

    python benchmarks/lodo_rule.py --base REV --new REV --name automl-60s-ensemble \\
        RUNS.jsonl [RUNS.jsonl ...]

The inputs are runs of two arms (the rule off and on) on the public and development suites:
``automl_revisions.py`` runs of two revisions, or ``automl.py`` runs of two systems (``--base
loopml --new loopml-bag``: the same revision with and without bagging). Each run is normalised
against the peers of its suite's committed table at the runs' budget (``automl-<budget>s.jsonl``,
``automl-<budget>s-dev.jsonl``: 0 = the HGB baseline, 1 = the best system), as the benchmark
does. Then every dataset is held out once: the revision with
the higher mean normalised score on the *other* datasets is chosen and scored on the held-out
one. The rule is adopted when the choices made without each dataset beat the base revision on
the held-out datasets, on the mean and in wins against losses. The table goes to
``results/<name>.md``.

A rule that changes only some datasets (class weights: only a rare class under 10%) may be run
on those alone: where both arms run the same code they tie, and a tie moves neither arm's mean
on the other datasets nor the wins and losses, so it cannot change the decision.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or os.curdir).resolve() != HERE]
# automl_revisions.py loads automl.py (as ``bench``) and reads a committed table's peers
_spec = importlib.util.spec_from_file_location("_bench_revisions", HERE / "automl_revisions.py")
revisions = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
sys.modules[_spec.name] = revisions  # type: ignore[union-attr]
_spec.loader.exec_module(revisions)  # type: ignore[union-attr]
bench, sc = revisions.bench, revisions.bench.sc


def peer_tables(budget: float) -> list[Path]:
    """Both suites' committed tables at ``budget`` seconds."""
    return [revisions.committed_table(budget, dev) for dev in (False, True)]


def peer_scores(budget: float) -> dict[str, dict[str, float | None]]:
    """Dataset -> peer -> score, from both suites' committed tables."""
    out: dict[str, dict[str, float | None]] = {}
    for path in peer_tables(budget):
        out.update(revisions._peer_scores(budget, path))
    if not out:
        raise SystemExit(
            f"no peer scores at {budget:g} s in {', '.join(p.name for p in peer_tables(budget))}:"
            f" run the suites' tables first (automl.py --budget {budget:g})"
        )
    return out


def arm(record: dict[str, Any], revs: tuple[str, str]) -> str | None:
    """Which of the two arms ``record`` ran: its revision, else its system, if either is one."""
    for key in ("revision", "system"):
        if record.get(key) in revs:
            return str(record[key])
    return None


def normalised(runs: list[dict[str, Any]], revs: tuple[str, str]) -> dict[str, dict[str, float]]:
    """Dataset -> revision -> normalised score (mean over the seeds run)."""
    budget = float(runs[0]["budget"])
    peers = peer_scores(budget)
    values: dict[str, dict[str, list[float]]] = {}
    for r in runs:
        which = arm(r, revs)
        if which is None or r["dataset"] not in peers or float(r["budget"]) != budget:
            continue
        higher = sc.HIGHER_IS_BETTER[r["metric"]]
        score = r.get("score") if r["status"] == "ok" else None
        table = {"loopml": score, **peers[r["dataset"]]}
        norm = sc.normalised_scores(table, bench.BASELINE, higher)["loopml"]
        values.setdefault(r["dataset"], {}).setdefault(which, []).append(norm)
    return {
        d: {rev: statistics.fmean(v) for rev, v in by.items()}
        for d, by in values.items()
        if all(rev in by for rev in revs)
    }


def leave_one_out(norm: dict[str, dict[str, float]], revs: tuple[str, str]) -> list[dict]:
    base, new = revs
    out = []
    for held in sorted(norm):
        rest = [d for d in norm if d != held]
        means = {rev: statistics.fmean(norm[d][rev] for d in rest) for rev in revs}
        chosen = new if means[new] > means[base] else base
        out.append(
            {
                "dataset": held,
                "chosen": chosen,
                "score": norm[held][chosen],
                "base": norm[held][base],
            }
        )
    return out


def render(norm: dict, folds: list[dict], revs: tuple[str, str], args: Any) -> str:
    base, new = revs
    held, kept = [f["score"] for f in folds], [f["base"] for f in folds]
    wins = sum(h > k + 1e-12 for h, k in zip(held, kept, strict=True))
    losses = sum(h < k - 1e-12 for h, k in zip(held, kept, strict=True))
    adopt = statistics.fmean(held) > statistics.fmean(kept) and wins > losses
    lines = [
        f"# Leave-one-dataset-out: {args.title}",
        "",
        f"Base `{base}`, with the rule `{new}`; runs from "
        + ", ".join(f"`{Path(p).name}`" for p in args.runs)
        + ". Normalised score: 0 = HGB baseline, 1 = the best system of the suite's committed "
        "table (FLAML, AutoGluon medium and best, HGB), per dataset.",
        "",
        f"- mean normalised, all {len(norm)} datasets: base "
        f"{statistics.fmean(n[base] for n in norm.values()):.3f}, rule "
        f"{statistics.fmean(n[new] for n in norm.values()):.3f}",
        f"- held out (each dataset scored with the revision chosen on the other "
        f"{len(norm) - 1}): {statistics.fmean(held):.3f} against the base's "
        f"{statistics.fmean(kept):.3f}; better on {wins}, worse on {losses}",
        f"- chosen without the dataset: the rule in "
        f"{sum(f['chosen'] == new for f in folds)} of {len(folds)} folds",
        "",
        f"**Decision:** {'adopt the rule' if adopt else 'keep the base'}.",
        "",
        f"| dataset | base {base} | rule {new} | chosen without it |",
        "|---|---:|---:|---|",
    ]
    for f in folds:
        d = f["dataset"]
        lines.append(f"| {d} | {norm[d][base]:.3f} | {norm[d][new]:.3f} | {f['chosen']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "runs", nargs="+", type=Path, help="automl_revisions.py or automl.py JSON lines"
    )
    parser.add_argument("--base", required=True, help="a revision, or a system (loopml)")
    parser.add_argument("--new", required=True, help="a revision, or a system (loopml-bag)")
    parser.add_argument("--name", required=True, help="results/<name>.md")
    parser.add_argument("--title", default="a search rule")
    args = parser.parse_args(argv)
    revs = (args.base, args.new)
    runs = [r for path in args.runs for r in bench.read_records(path)]
    norm = normalised(runs, revs)
    if len(norm) < 2:
        raise SystemExit(f"{len(norm)} datasets have runs of both revisions: too few")
    folds = leave_one_out(norm, revs)
    out = HERE / "results" / f"{args.name}.md"
    out.write_text(render(norm, folds, revs, args))
    bench.log(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
