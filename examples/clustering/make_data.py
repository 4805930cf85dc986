"""Write data/customers.csv: 2,000 customers of a shop drawn from four segments that differ
in spending, visits, basket size, tenure and the channel they buy through, and data/segments.csv,
the segment each customer was drawn from (the answer key: not in the training data). Run
once: ``python make_data.py`` (seeded, so the files are the same every time)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

#: segment -> (share, annual spend, visits a month, basket, tenure in months, usual channel)
SEGMENTS = {
    "bargain hunters": (0.35, 500, 2.0, 20, 30, "online"),
    "regulars": (0.30, 2_000, 8.0, 25, 70, "store"),
    "big spenders": (0.15, 6_000, 4.0, 120, 45, "store"),
    "app natives": (0.20, 1_200, 15.0, 8, 12, "app"),
}
#: How often a customer buys through another channel than their segment's usual one.
OTHER_CHANNEL = 0.03


def customers(rows: int = 2_000, seed: int = 11) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    names = list(SEGMENTS)
    segment = rng.choice(len(names), rows, p=[SEGMENTS[n][0] for n in names])
    spend, visits, basket, tenure = (
        np.array([SEGMENTS[n][i] for n in names], dtype=float)[segment] for i in range(1, 5)
    )
    usual = np.array([SEGMENTS[n][5] for n in names])[segment]
    other = rng.choice(["online", "store", "app"], rows)
    data = pd.DataFrame(
        {
            "customer_id": np.arange(10_001, 10_001 + rows),
            "annual_spend": (spend * rng.normal(1, 0.08, rows)).round(2),
            "visits_per_month": (visits * rng.normal(1, 0.08, rows)).round(1),
            "avg_basket": (basket * rng.normal(1, 0.08, rows)).round(2),
            "tenure_months": np.maximum(1, tenure * rng.normal(1, 0.08, rows)).round().astype(int),
            "channel": np.where(rng.random(rows) < OTHER_CHANNEL, other, usual),
        }
    )
    answer = pd.DataFrame(
        {"customer_id": data["customer_id"], "segment": [names[s] for s in segment]}
    )
    return data, answer


if __name__ == "__main__":
    out = Path(__file__).resolve().parent / "data"
    out.mkdir(exist_ok=True)
    data, answer = customers()
    data.to_csv(out / "customers.csv", index=False)
    answer.to_csv(out / "segments.csv", index=False)
    print(f"wrote {out / 'customers.csv'} and {out / 'segments.csv'}")
