"""Write data/transactions.csv: 5,000 card transactions, 2% of them planted anomalies
(card testing: tiny amounts at night away from home; account takeover: large purchases of
electronics or travel far from home, often abroad), marked ``fraud`` in the ``label``
column, the rest ``ok``. Run once: ``python make_data.py`` (seeded, so the file is the same
every time)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

CATEGORIES = ["grocery", "fuel", "restaurant", "clothing", "electronics", "travel"]


def normal(rng: np.random.Generator, rows: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "amount": rng.lognormal(3.4, 0.6, rows).round(2),
            "hour": np.clip(rng.normal(14, 3.5, rows), 6, 23).astype(int),
            "distance_km": rng.exponential(6.0, rows).round(1),
            "items": rng.integers(1, 6, rows),
            "merchant_category": rng.choice(CATEGORIES, rows, p=[0.35, 0.2, 0.2, 0.12, 0.08, 0.05]),
            "foreign": rng.random(rows) < 0.03,
        }
    )


def planted(rng: np.random.Generator, rows: int) -> pd.DataFrame:
    testing = rows // 2
    takeover = rows - testing
    return pd.DataFrame(
        {
            "amount": np.concatenate(
                [rng.uniform(0.5, 3.0, testing), rng.lognormal(5.6, 0.5, takeover)]
            ).round(2),
            "hour": np.concatenate([rng.integers(0, 6, testing), rng.integers(6, 24, takeover)]),
            "distance_km": np.concatenate(
                [rng.uniform(20, 300, testing), rng.uniform(100, 2_000, takeover)]
            ).round(1),
            "items": np.concatenate([np.ones(testing, int), rng.integers(2, 9, takeover)]),
            "merchant_category": rng.choice(["electronics", "travel"], rows),
            "foreign": np.concatenate([rng.random(testing) < 0.3, rng.random(takeover) < 0.6]),
        }
    )


def transactions(rows: int = 5_000, share: float = 0.02, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n_bad = int(rows * share)
    frame = pd.concat([normal(rng, rows - n_bad), planted(rng, n_bad)], ignore_index=True)
    frame["label"] = ["ok"] * (rows - n_bad) + ["fraud"] * n_bad
    frame = frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    frame.insert(0, "transaction_id", np.arange(1, rows + 1))
    return frame


if __name__ == "__main__":
    out = Path(__file__).resolve().parent / "data" / "transactions.csv"
    out.parent.mkdir(exist_ok=True)
    transactions().to_csv(out, index=False)
    print(f"wrote {out}")
