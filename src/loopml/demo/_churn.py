"""A realistic customer-churn table: the messiness of real exports and a learnable signal.

What it has, on purpose:

- ~20k customers with numeric and categorical columns, signup timestamps over three years;
- inconsistent category spellings ("Month-to-month", "month-to-month ", "MONTH-TO-MONTH");
- missing values in several columns, a numeric column exported as text with blanks;
- a few exact duplicate rows; an e-mail column (personal data);
- churn driven by contract, tenure, support tickets, recent activity, satisfaction and price,
  with noise, so a good model reaches a ROC-AUC around 0.85 and a bad one does not;
- ``drift``: a knob from 0 to 1 that shifts later signups (pricier, more monthly contracts,
  fewer logins, different regions) and changes what drives churn: a cheap "promo" plan
  appears (up to 40% of signups at drift 1) whose customers mostly leave when the promotion
  ends, a behaviour no model trained before it can know. With ``ramp=False`` every customer
  drifts by the whole knob (a population that changed at once, as the demo's traffic does).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

_REGIONS = ["North", "South", "East", "West", "Central"]
_PLANS = ["basic", "standard", "premium"]
#: With drift, the "promo" plan's share of signups (at drift 1) and its churn log-odds.
_PROMO_SHARE = 0.4
_PROMO_CHURN = 2.5
_CONTRACTS = ["Month-to-month", "One year", "Two year"]
_PAYMENTS = ["credit card", "bank transfer", "electronic check", "mailed check"]
_FIRST = [
    "anna",
    "ben",
    "carla",
    "dev",
    "emma",
    "farid",
    "gina",
    "hugo",
    "ines",
    "jon",
    "kai",
    "lena",
    "mo",
    "nora",
    "omar",
    "pia",
    "quinn",
    "rosa",
    "sam",
    "tara",
]
_DOMAINS = ["example.com", "mail.example.org", "inbox.example.net", "corp.example.com"]


def _respell(values: np.ndarray, rng: np.random.Generator, rate: float) -> np.ndarray:
    """Give a share of the labels another spelling: case, trailing space, abbreviation."""
    out = values.astype(object).copy()
    hit = rng.random(len(out)) < rate
    styles = rng.integers(0, 3, size=len(out))
    for i in np.flatnonzero(hit):
        v = out[i]
        out[i] = (v.lower(), v.upper(), v + " ")[styles[i]]
    return out


def generate_customers(
    n: int = 20_000,
    *,
    seed: int = 0,
    drift: float = 0.0,
    start: str = "2023-01-01",
    end: str = "2025-12-31",
    with_target: bool = True,
    id_offset: int = 0,
    ramp: bool = True,
) -> pd.DataFrame:
    """Customers signed up between ``start`` and ``end`` with their churn outcome.

    Parameters
    ----------
    n
        Number of distinct customers (a few duplicate rows come on top).
    seed
        Random seed; the same seed gives the same table.
    drift
        0 for a stable population; up to 1 to shift later signups' distribution and their churn.
    with_target
        False leaves out ``churned`` (as for customers still to be scored).
    id_offset
        First customer number, so several generated tables do not share ids.
    ramp
        True: a customer drifts by ``drift`` times its position in time (later signups drift
        more); False: every customer drifts by ``drift``.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if not 0.0 <= drift <= 1.0:
        raise ValueError(f"drift must be between 0 and 1, got {drift}")
    rng = np.random.default_rng(seed)
    t0, t1 = pd.Timestamp(start), pd.Timestamp(end)
    span = (t1 - t0).total_seconds()
    pos = np.sort(rng.random(n))  # position in time, 0 = start, 1 = end
    signup = t0 + pd.to_timedelta(pos * span, unit="s")
    shift = drift * pos if ramp else np.full(n, drift)  # with the ramp, later ones drift more
    # every draw below comes from one generator in a fixed order: the same seed, the same
    # table; the promo plan draws from its own, so a table without drift is the one it was
    c = _draw_attributes(rng, n, shift, signup, t1)
    _launch_promo(c, shift, np.random.default_rng([seed, 1]))
    c["churned"] = _draw_churn(rng, c, shift)
    frame = _table(rng, c, signup, id_offset)
    return _imperfect(frame, rng, seed=seed, with_target=with_target)


def _draw_attributes(
    rng: np.random.Generator, n: int, shift: np.ndarray, signup: pd.DatetimeIndex, t1: pd.Timestamp
) -> dict[str, np.ndarray]:
    region_p = np.array([0.25, 0.2, 0.2, 0.2, 0.15])
    region = np.array(
        [
            rng.choice(_REGIONS, p=_mix(region_p, np.array([0.1, 0.1, 0.1, 0.1, 0.6]), s))
            for s in shift
        ]
    )
    contract = np.array(
        [
            rng.choice(
                _CONTRACTS, p=_mix(np.array([0.5, 0.3, 0.2]), np.array([0.8, 0.15, 0.05]), s)
            )
            for s in shift
        ]
    )
    plan = rng.choice(_PLANS, size=n, p=[0.45, 0.35, 0.2])
    payment = rng.choice(_PAYMENTS, size=n, p=[0.35, 0.25, 0.3, 0.1])
    age = np.clip(rng.normal(42 + 6 * shift, 13), 18, 90).round()
    as_of = t1 + pd.Timedelta(days=30)
    tenure = np.maximum(((as_of - signup).days.to_numpy() / 30.44).round(), 1)
    base_price = np.select([plan == "basic", plan == "standard"], [29.0, 54.0], 89.0)
    monthly = (base_price * (1 + 0.25 * shift) + rng.normal(0, 6, n)).round(2)
    spent = tenure * rng.uniform(0.9, 1.02, n)  # months paid, at about the monthly price
    total = (monthly * spent).round(2)
    tickets = rng.poisson(0.8 + 1.5 * (contract == "Month-to-month") * rng.random(n) + shift)
    logins = rng.poisson(np.maximum(12 - 5 * shift + rng.normal(0, 3, n), 0.5))
    last_login = np.round(rng.exponential(9 + 12 * shift, n)).astype(int)
    satisfaction = np.clip(np.round(rng.normal(3.6 - 0.4 * tickets / 3, 1.0)), 1, 5)
    autopay = rng.random(n) < np.where(payment == "credit card", 0.7, 0.35)
    partner = rng.choice(["Yes", "No"], size=n, p=[0.45, 0.55])
    return {
        "region": region,
        "contract": contract,
        "plan": plan,
        "payment": payment,
        "age": age,
        "tenure": tenure,
        "monthly": monthly,
        "total": total,
        "spent": spent,
        "tickets": tickets,
        "logins": logins,
        "last_login": last_login,
        "satisfaction": satisfaction,
        "autopay": autopay,
        "partner": partner,
    }


def _launch_promo(c: dict[str, np.ndarray], shift: np.ndarray, rng: np.random.Generator) -> None:
    """Move a share of ``shift`` times ``_PROMO_SHARE`` of the customers to the cheap "promo"
    plan (19 a month before the drift's price rise); no draw at all without drift."""
    if not shift.any():
        return
    promo = rng.random(len(shift)) < _PROMO_SHARE * shift
    price = (19.0 * (1 + 0.25 * shift) + rng.normal(0, 3, len(shift))).round(2)
    c["plan"] = np.where(promo, "promo", c["plan"])
    c["monthly"] = np.where(promo, price, c["monthly"])
    c["total"] = np.where(promo, (price * c["spent"]).round(2), c["total"])


def _draw_churn(
    rng: np.random.Generator, c: dict[str, np.ndarray], shift: np.ndarray
) -> np.ndarray:
    """ "yes" or "no" per customer, from a logistic model of the attributes plus noise."""
    contract, tickets, tenure = c["contract"], c["tickets"], c["tenure"]
    last_login, satisfaction, age = c["last_login"], c["satisfaction"], c["age"]
    n = len(shift)
    logit = (
        -1.1
        + 1.3 * (contract == "Month-to-month")
        - 0.7 * (contract == "Two year")
        - 0.035 * np.minimum(tenure, 36)
        + 0.3 * tickets
        + 0.9 * (tickets >= 3) * (contract == "Month-to-month")
        + 0.02 * np.minimum(last_login, 60)
        + 1.1 * (last_login > 30)
        - 0.06 * c["logins"]
        - 0.4 * (satisfaction - 3) * (1 + (contract == "Month-to-month"))
        + 0.0012 * (age - 45) ** 2
        + 0.012 * (c["monthly"] - 55)
        - 0.5 * c["autopay"]
        + 0.35 * (c["payment"] == "electronic check")
        + 0.6 * shift * (c["region"] == "Central")
        + _PROMO_CHURN * (c["plan"] == "promo")  # they leave when the promotion ends
        + rng.normal(0, 0.6, n)
    )
    return np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no")


def _table(
    rng: np.random.Generator, c: dict[str, np.ndarray], signup: pd.DatetimeIndex, id_offset: int
) -> pd.DataFrame:
    n = len(c["plan"])
    return pd.DataFrame(
        {
            "customer_id": [f"C{id_offset + i:07d}" for i in range(n)],
            "email": [
                f"{rng.choice(_FIRST)}.{id_offset + i}@{rng.choice(_DOMAINS)}" for i in range(n)
            ],
            "signup_at": signup.strftime("%Y-%m-%d %H:%M:%S"),
            "region": _respell(c["region"], rng, 0.04),
            "plan": c["plan"],
            "contract": _respell(c["contract"], rng, 0.06),
            "payment_method": c["payment"],
            "age": c["age"],
            "tenure_months": c["tenure"].astype(int),
            "monthly_charges": c["monthly"],
            "total_charges": c["total"].astype(str),
            "support_tickets": c["tickets"],
            "logins_30d": c["logins"],
            "days_since_last_login": c["last_login"],
            "satisfaction": c["satisfaction"],
            "autopay": c["autopay"],
            "has_partner": c["partner"],
            "churned": c["churned"],
        }
    )


def _imperfect(
    frame: pd.DataFrame, rng: np.random.Generator, *, seed: int, with_target: bool
) -> pd.DataFrame:
    """The flaws of real exports: blanks, a blank-string number, duplicate rows; by signup."""
    n = len(frame)
    _blank(frame, "age", 0.05, rng)
    _blank(frame, "satisfaction", 0.15, rng)
    _blank(frame, "payment_method", 0.02, rng)
    _blank(frame, "monthly_charges", 0.01, rng)
    blanks = rng.random(n) < 0.01  # exported as a blank string, as some billing systems do
    frame.loc[blanks, "total_charges"] = " "
    if not with_target:
        frame = frame.drop(columns="churned")
    dupes = frame.sample(n=max(1, n // 400), random_state=seed) if n >= 10 else frame.iloc[:0]
    frame = pd.concat([frame, dupes], ignore_index=True)
    order = np.argsort(frame["signup_at"].to_numpy(), kind="stable")
    return frame.iloc[order].reset_index(drop=True)


def _mix(a: np.ndarray, b: np.ndarray, weight: float) -> np.ndarray:
    p = (1 - weight) * a + weight * b
    return p / p.sum()


def _blank(frame: pd.DataFrame, column: str, rate: float, rng: np.random.Generator) -> None:
    frame.loc[rng.random(len(frame)) < rate, column] = np.nan
