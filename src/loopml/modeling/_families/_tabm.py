"""TabM (the ``[neural]`` extra): pytabkit's parameter-efficient ensemble of MLPs, on CPU, for a
bounded number of epochs. Smaller than pytabkit's defaults (8 members of two 256-wide blocks
instead of 32 members of 512-wide ones: pytabkit's took 150 s for 16 epochs on 2,000 rows on
one core), which a CPU budget pays for; it enters a search only when the budget's cost
estimate says its folds fit."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loopml.modeling._families._registry import NEURAL_EXTRA, ModelFamily, Params
from loopml.types import TaskKind

if TYPE_CHECKING:
    import optuna


def build(task: TaskKind, p: Params, seed: int, n_jobs: int) -> Any:
    from loopml.modeling._neural import make_network

    options: Params = {
        "arch_type": "tabm",
        "tabm_k": p["tabm_k"],
        "d_block": p["d_block"],
        "n_blocks": p["n_blocks"],
        "lr": p["lr"],
        "dropout": p["dropout"],
        "patience": p["patience"],
    }
    return make_network("tabm", task, p["n_epochs"], options, seed, n_jobs)


def space(t: optuna.Trial, task: TaskKind) -> Params:
    return {
        "lr": t.suggest_float("tabm.lr", 5e-4, 5e-3, log=True),
        "dropout": t.suggest_float("tabm.dropout", 0.0, 0.3),
        "d_block": t.suggest_categorical("tabm.d_block", [128, 256, 384]),
    }


FAMILIES = (
    ModelFamily(
        name="tabm",
        build=build,
        defaults={
            "n_epochs": 32,  # pytabkit trains until 16 epochs bring nothing: bounded here
            "patience": 8,
            "tabm_k": 8,
            "d_block": 256,
            "n_blocks": 2,
            "lr": 2e-3,  # pytabkit's
            "dropout": 0.1,  # pytabkit's
        },
        space=space,
        # 69x LightGBM's fit time (geometric mean over three public-suite datasets, 38-152x;
        # benchmarks/results/neural-cost.md)
        cost_prior=70.0,
        # imputed, scaled, one-hot inputs: pytabkit imputes nothing (it quantile-transforms)
        needs_scaling=True,
        portfolio_rank=120,  # the dearest families come last, after the MLP and RealMLP
        requires=("torch", "pytabkit"),
        install_hint=NEURAL_EXTRA,
        check_by_import=False,
        # `import pytabkit` (torch, Lightning) in a fresh process, paid by the first fold: 17-31 s
        # on this busy two-core machine (benchmarks/results/neural-import.json), less on a quiet
        # one; a budget that cannot pay it would overrun by it
        load_seconds=15.0,
        classification_only_params=(),  # no class weights: the network ignores them
    ),
)
