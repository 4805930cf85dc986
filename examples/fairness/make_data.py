"""Write data/loans.csv: 3,000 loan applications whose approvals in the past favoured one
group of ``region`` through a proxy feature (``branch_score``), so a model that learns them
approves that group far more often. Run once: ``python make_data.py`` (seeded, so the file is
the same every time)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def loans(rows: int = 3_000, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    region = rng.choice(["north", "south"], rows, p=[0.55, 0.45])
    age_band = rng.choice(["18-30", "31-50", "51+"], rows, p=[0.3, 0.5, 0.2])
    income = rng.lognormal(10.3, 0.45, rows).round(-2)
    debt_ratio = rng.beta(2, 5, rows).round(3)
    # the proxy: branches in the north scored applicants higher for the same file
    branch_score = (rng.normal(0.0, 1.0, rows) + np.where(region == "north", 1.2, 0.0)).round(3)
    logit = 1.5 * np.log(income / 30_000) - 4.0 * debt_ratio + 0.9 * branch_score - 0.2
    approved = np.where(rng.random(rows) < 1 / (1 + np.exp(-logit)), "yes", "no")
    return pd.DataFrame(
        {
            "application_id": np.arange(1, rows + 1),
            "region": region,
            "age_band": age_band,
            "income": income,
            "debt_ratio": debt_ratio,
            "branch_score": branch_score,
            "approved": approved,
        }
    )


if __name__ == "__main__":
    out = Path(__file__).resolve().parent / "data" / "loans.csv"
    out.parent.mkdir(exist_ok=True)
    loans().to_csv(out, index=False)
    print(f"wrote {out}")
