"""The portfolio's order, chosen by leave-one-dataset-out validation (issue 15, item 1).

    python benchmarks/portfolio.py [--core 1] [--shard 0/2] [--families a,b] [--report-only]

Step 1, the matrix. Every model family's portfolio defaults run alone (``family:<name>``: one
trial, no tuning, no ensemble) on every dataset of the public suite (``shared/bench/data``)
and the development suite (``shared/bench/dev``), under ``automl.py``'s protocol (own
subprocess, one pinned core, fixed split). Each run records the family's cross-validated score
and seconds (what the search sees) and its refit's score on the test split (what the user
gets). A family whose five folds do not finish inside ``--budget`` (45 s) is recorded as not
affordable: a 60 s search could not have used it either. Smallest datasets first, so a run cut
short still covers most of them; ``--shard i/n`` splits the pairs between cores.

Step 2, the selection. A 60 s search's portfolio phase is simulated from the matrix: families
run in order while their measured seconds and the best model's refit fit in 95% of the
budget, and the family with the best cross-validated score is the one served, scored on the
test split and normalised per dataset (0 = the worst family, 1 = the best). A greedy forward
selection builds an order from the datasets it may see. Leave-one-dataset-out: for each of
the datasets, the order is chosen on all the others and scored on that one, beside the
order the registry ships (``portfolio_rank``). The report (``results/portfolio-lodo.md``) says
which wins on held-out data; the order chosen on every dataset is adopted only when the
held-out comparison favours it.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or os.curdir).resolve() != HERE]
_spec = importlib.util.spec_from_file_location("_bench_automl", HERE / "automl.py")
automl = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
sys.modules[_spec.name] = automl  # type: ignore[union-attr]
_spec.loader.exec_module(automl)  # type: ignore[union-attr]
sc = automl.sc

SUITES = {"public": automl.ROOT.parent / "shared" / "bench" / "data"}
SUITES["dev"] = SUITES["public"].parent / "dev"
DEFAULT_OUT = HERE / "results" / "portfolio-matrix.jsonl"
#: The networks are left out: at 70 times LightGBM's cost they come last and rarely start
#: inside 60 s (benchmarks/results/neural-cost.md); their order is not in question.
NEURAL = ("realmlp", "tabm")
BUDGETS = (30.0, 60.0)  # the search budgets the selection is simulated at
USABLE = 0.95  # the search holds 5% of its budget back
REFIT = 1.25  # a refit on all rows costs about 1.25 times one fold


def shipped_order() -> list[str]:
    from loopml.modeling._families import default_registry

    return [f for f in default_registry().names if f not in NEURAL]


# --------------------------------------------------------------------------------------------
# Step 1: the matrix
# --------------------------------------------------------------------------------------------


def datasets() -> list[tuple[str, Path]]:
    """(suite, directory) of every dataset, smallest training file first."""
    found = [
        (suite, p)
        for suite, root in SUITES.items()
        for p in sorted(root.iterdir())
        if (p / "meta.json").exists()
    ]
    return sorted(found, key=lambda sp: (sp[1] / "train.csv.gz").stat().st_size)


def run_matrix(args: argparse.Namespace, families: Sequence[str]) -> None:
    index, count = (int(x) for x in args.shard.split("/"))
    done = {(r["dataset"], r["system"]) for r in automl.read_records(args.out)}
    pairs = [(suite, d, f"family:{f}") for suite, d in datasets() for f in families]
    pairs = [p for i, p in enumerate(pairs) if i % count == index]
    log_dir = automl.LOGS / args.out.stem
    log_dir.mkdir(parents=True, exist_ok=True)
    for suite, data_dir, system in pairs:
        if (data_dir.name, system) in done:
            continue
        record = automl.run_pair(
            system,
            data_dir,
            budget=args.budget,
            seed=args.seed,
            core=args.core,
            log_dir=log_dir,
            kill_after=args.kill_after,
        )
        record["suite"] = suite
        with args.out.open("a") as out:
            out.write(json.dumps(automl._finite(record)) + "\n")
        first = (record.get("model") or {}).get("first_trial") or {}
        automl.log(
            f"{data_dir.name:>22} {system:<32} {record['status']:<8} "
            f"cv {first.get('cv_mean')} test {record.get('score')} "
            f"{first.get('seconds')} s"
        )


# --------------------------------------------------------------------------------------------
# Step 2: the selection
# --------------------------------------------------------------------------------------------


class Cell:
    """One family on one dataset: usable when its five folds finished and its refit scored."""

    def __init__(self, record: dict[str, Any]) -> None:
        first = (record.get("model") or {}).get("first_trial") or {}
        self.status = record.get("status")
        self.cv = first.get("cv_mean")
        self.folds = first.get("folds", 0)
        self.seconds = first.get("seconds")
        self.test = record.get("score")
        self.ok = (
            self.status == "ok"
            and first.get("status") == "ok"
            and self.folds >= 1  # large data is validated on one split
            and self.cv is not None
            and self.test is not None
        )
        self.failed = record.get("status") == "ok" and first.get("status") == "failed"


Matrix = dict[str, dict[str, Cell]]  # dataset -> family -> cell


def load_matrix(path: Path, families: Sequence[str]) -> tuple[Matrix, dict[str, dict]]:
    """The cells, and per dataset its metric and suite, of datasets with every family run."""
    matrix: Matrix = {}
    info: dict[str, dict] = {}
    for r in automl.read_records(path):
        family = r["system"].split(":", 1)[1]
        matrix.setdefault(r["dataset"], {})[family] = Cell(r)
        info[r["dataset"]] = {"metric": r["metric"], "suite": r.get("suite", "?")}
    complete = {d: row for d, row in matrix.items() if all(f in row for f in families)}
    return complete, info


def normalised(row: dict[str, Cell], higher: bool) -> dict[str, float]:
    """Each usable family's test score on 0 (the worst family) to 1 (the best)."""
    scores = {f: c.test for f, c in row.items() if c.ok}
    if not scores:
        return {}
    lo, hi = min(scores.values()), max(scores.values())
    if hi == lo:
        return dict.fromkeys(scores, 1.0)
    return {f: ((s - lo) if higher else (hi - s)) / (hi - lo) for f, s in scores.items()}


def simulate(order: Sequence[str], row: dict[str, Cell], higher: bool, budget: float) -> dict:
    """The portfolio phase of a search with ``budget`` seconds: which family it serves."""
    left, best = budget * USABLE, None
    ran = []
    for family in order:
        cell = row.get(family)
        if cell is None or not cell.ok:
            continue  # failed at once, or too slow to finish its folds: never completes
        per_fold = [cell.seconds / cell.folds] + (
            [row[best].seconds / row[best].folds] if best else []
        )
        refit = max(per_fold) * REFIT
        if cell.seconds + refit > left:
            continue  # the search's estimate would not start it
        left -= cell.seconds
        ran.append(family)
        if best is None or (cell.cv > row[best].cv if higher else cell.cv < row[best].cv):
            best = family
    return {"best": best, "ran": ran}


def outcome(order: Sequence[str], row: dict[str, Cell], higher: bool, budget: float) -> float:
    """The normalised test score of what the simulated search serves (0 if nothing)."""
    best = simulate(order, row, higher, budget)["best"]
    return normalised(row, higher).get(best, 0.0) if best else 0.0


def greedy_order(
    matrix: Matrix, train: Sequence[str], higher: Callable[[str], bool], families: Sequence[str]
) -> list[str]:
    """Forward selection: append the family that most raises the mean simulated outcome
    over ``train`` (both budgets); ties keep the shipped order."""
    order: list[str] = []
    remaining = list(families)
    while remaining:

        def value(candidate: str) -> float:
            trial = [*order, candidate]
            return sum(outcome(trial, matrix[d], higher(d), b) for d in train for b in BUDGETS) / (
                len(train) * len(BUDGETS)
            )

        best = max(remaining, key=lambda f: (round(value(f), 9), -remaining.index(f)))
        order.append(best)
        remaining.remove(best)
    return order


def lodo(matrix: Matrix, info: dict[str, dict], families: Sequence[str]) -> dict[str, Any]:
    """Every dataset held out once: the order chosen without it against the shipped one."""

    def higher(d: str) -> bool:
        return sc.HIGHER_IS_BETTER[info[d]["metric"]]

    names = sorted(matrix)
    shipped = list(families)
    folds = []
    for held in names:
        order = greedy_order(matrix, [d for d in names if d != held], higher, families)
        folds.append(
            {
                "dataset": held,
                "order": order,
                "chosen": {b: outcome(order, matrix[held], higher(held), b) for b in BUDGETS},
                "shipped": {b: outcome(shipped, matrix[held], higher(held), b) for b in BUDGETS},
                "served_chosen": {
                    b: simulate(order, matrix[held], higher(held), b)["best"] for b in BUDGETS
                },
                "served_shipped": {
                    b: simulate(shipped, matrix[held], higher(held), b)["best"] for b in BUDGETS
                },
            }
        )
    everything = greedy_order(matrix, names, higher, families)
    return {"folds": folds, "all": everything, "shipped": shipped}


def _f(x: Any, digits: int = 3) -> str:
    return "–" if x is None else f"{x:.{digits}f}" if isinstance(x, float) else str(x)


def render(matrix: Matrix, info: dict[str, dict], result: dict[str, Any], args: Any) -> str:
    folds = result["folds"]
    lines = [
        "# Portfolio order by leave-one-dataset-out validation (issue 15, item 1)",
        "",
        "Made by `python benchmarks/portfolio.py` (see its docstring for the method). Each "
        f"family's defaults ran alone on {len(matrix)} datasets (public + dev suites), one "
        f"pinned core, {args.budget:g} s budget, seed {args.seed}; the selection simulates the "
        f"portfolio phase of {' s and '.join(f'{b:g}' for b in BUDGETS)} s searches from "
        "those measured seconds and scores. Normalised score: 0 = the worst family on that "
        "dataset's test split, 1 = the best.",
        "",
        "## Held-out result",
        "",
    ]
    for b in BUDGETS:
        chosen = [f["chosen"][b] for f in folds]
        shipped = [f["shipped"][b] for f in folds]
        wins = sum(c > s + 1e-12 for c, s in zip(chosen, shipped, strict=True))
        losses = sum(c < s - 1e-12 for c, s in zip(chosen, shipped, strict=True))
        lines.append(
            f"- **{b:g} s:** order chosen without the dataset {sc.mean(chosen):.3f}, shipped "
            f"order {sc.mean(shipped):.3f} (mean normalised over {len(folds)} held-out "
            f"datasets); chosen better on {wins}, worse on {losses}, equal on "
            f"{len(folds) - wins - losses}."
        )
    adopt = all(
        sc.mean([f["chosen"][b] for f in folds]) > sc.mean([f["shipped"][b] for f in folds])
        and sum(f["chosen"][b] > f["shipped"][b] for f in folds)
        > sum(f["chosen"][b] < f["shipped"][b] for f in folds)
        for b in BUDGETS
    )
    lines += [
        "",
        "**Decision:** "
        + (
            "adopt the order chosen on all datasets: chosen without a dataset, it scored "
            "better on that dataset than the shipped order, at every budget."
            if adopt
            else "keep the shipped order: an order chosen without a dataset did not score "
            "better on that dataset than the shipped one (mean and wins against losses, at "
            "every budget), so the selection has nothing to offer data it has not seen."
        ),
        "",
        f"- shipped order: {', '.join(result['shipped'])}",
        f"- order chosen on all {len(matrix)} datasets: {', '.join(result['all'])}",
        "",
        "| held out | suite | order chosen without it (first 4) | served 60 s: chosen / "
        "shipped | 30 s: chosen / shipped | 60 s: chosen / shipped |",
        "|---|---|---|---|---:|---:|",
    ]
    for f in folds:
        lines.append(
            f"| {f['dataset']} | {info[f['dataset']]['suite']} | {', '.join(f['order'][:4])} | "
            f"{f['served_chosen'][60.0]} / {f['served_shipped'][60.0]} | "
            f"{_f(f['chosen'][30.0])} / {_f(f['shipped'][30.0])} | "
            f"{_f(f['chosen'][60.0])} / {_f(f['shipped'][60.0])} |"
        )
    families = result["shipped"]
    lines += [
        "",
        "## The matrix",
        "",
        "Per dataset and family: test score (normalised in brackets) and the five folds' "
        f"seconds; `slow` = the folds did not finish in {args.budget:g} s, `failed` = an error.",
        "",
        "| dataset | metric | " + " | ".join(families) + " |",
        "|---|---|" + "---|" * len(families),
    ]
    for d in sorted(matrix, key=lambda d: (info[d]["suite"], d)):
        row, higher = matrix[d], sc.HIGHER_IS_BETTER[info[d]["metric"]]
        norm = normalised(row, higher)
        cells = []
        for fam in families:
            c = row[fam]
            if c.ok:
                cells.append(f"{c.test:.4g} ({norm[fam]:.2f}) {c.seconds:.0f}s")
            else:
                cells.append("failed" if c.failed or c.status == "error" else "slow")
        lines.append(f"| {d} | {info[d]['metric']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", help="comma-separated (default: all but the networks)")
    parser.add_argument("--budget", type=float, default=45.0, help="each family's budget (45)")
    parser.add_argument("--kill-after", type=float, default=90.0, help="hard kill (90 s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--core", type=int, help="the core to pin workers to (default: last)")
    parser.add_argument("--shard", default="0/1", help="i/n: this process runs every n-th pair")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--md", type=Path, default=HERE / "results" / "portfolio-lodo.md")
    parser.add_argument("--report-only", action="store_true", help="only the selection")
    args = parser.parse_args(argv)
    families = args.families.split(",") if args.families else shipped_order()
    args.out = args.out.resolve()
    if not args.report_only:
        run_matrix(args, families)
    matrix, info = load_matrix(args.out, families)
    if len(matrix) < 3:
        raise SystemExit(f"{len(matrix)} datasets have every family run: too few to select on")
    result = lodo(matrix, info, families)
    args.md.write_text(render(matrix, info, result, args))
    args.md.with_suffix(".json").write_text(json.dumps(result, indent=1))
    automl.log(f"wrote {args.md}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
