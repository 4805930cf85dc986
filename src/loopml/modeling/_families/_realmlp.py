"""RealMLP (the ``[neural]`` extra): pytabkit's tuned-default MLP, on CPU, for a bounded
number of epochs. The dearest family per row: it enters a search only when the budget's cost
estimate says its folds fit (see :class:`~loopml.modeling._budget.Budget`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loopml.modeling._families._registry import NEURAL_EXTRA, ModelFamily, Params
from loopml.types import TaskKind

if TYPE_CHECKING:
    import optuna


def build(task: TaskKind, p: Params, seed: int, n_jobs: int) -> Any:
    from loopml.modeling._neural import make_network

    options: Params = {
        "lr": p["lr"],
        "p_drop": p["p_drop"],
        "hidden_sizes": [p["hidden_width"]] * 3,
    }
    if task != "regression":
        options["use_ls"] = False  # label smoothing blurs the probabilities AUC and log loss read
    return make_network("realmlp", task, p["n_epochs"], options, seed, n_jobs)


def space(t: optuna.Trial, task: TaskKind) -> Params:
    return {
        "lr": t.suggest_float("realmlp.lr", 0.01, 0.1, log=True),
        "p_drop": t.suggest_float("realmlp.p_drop", 0.0, 0.3),
        "hidden_width": t.suggest_categorical("realmlp.hidden_width", [128, 256, 512]),
    }


FAMILIES = (
    ModelFamily(
        name="realmlp",
        build=build,
        defaults={
            # 64 epochs rather than pytabkit's 256: its learning-rate schedule follows the
            # epoch count, and a quarter of the epochs is what a CPU budget pays for
            "n_epochs": 64,
            "lr": 0.04,  # RealMLP-TD's
            "p_drop": 0.15,  # RealMLP-TD's
            "hidden_width": 256,  # RealMLP-TD's three layers of 256
        },
        space=space,
        # 69x LightGBM's fit time (geometric mean over three public-suite datasets, 39-101x;
        # benchmarks/results/neural-cost.md)
        cost_prior=70.0,
        # imputed, scaled, one-hot inputs: pytabkit imputes nothing, and scales again itself
        needs_scaling=True,
        portfolio_rank=110,  # the dearest families come last, after the MLP
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
