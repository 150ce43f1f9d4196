"""A seeded generator of a plausible customer base for churn prediction.

The causal story (each effect is on the log-odds of churning within the next quarter):

* ``contract`` is the strongest driver: month-to-month customers churn far more (+1.4) and
  two-year customers far less (-1.2) than one-year customers.
* ``support_calls_90d``: every support call in the last 90 days adds +0.45, capped at 8 calls.
* ``tenure_months``: loyalty builds over the first five years, -0.035 per month up to 60.
* ``payment_failures_12m``: every failed payment adds +0.6 (capped at 5).
* ``days_since_last_login``: disengagement, +0.03 per day up to 60 days.
* ``monthly_charges``: price sensitivity, +0.02 per currency unit above 65 (plans set the level).
* ``autopay``: customers on autopay churn less (-0.5).
* ``age``: customers under 30 churn more (+0.4), over 65 a little more (+0.2).
* ``signup_month``: customers who signed up on the November/December holiday promotion churn
  more (+0.5).
* ``plan``: premium customers are stickier than their price suggests (-0.3).
* ``data_usage_gb``: heavy users churn slightly less (-0.12 per unit of log1p(GB)).
* ``region`` has no effect at all: it is the control feature that should rank last.

Some values are missing (as they are in real CRM exports), so the model learns LightGBM's native
missing-value handling. A :class:`Population` describes a population; the defaults are the
reference population the bundled model is trained on, and :data:`SHIFTS` names shifted ones for
drift tests, demos and benchmarks.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from app.model.contract import Feature, FeatureContract, FeatureKind

MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
PLANS = ("basic", "standard", "premium")
CONTRACTS = ("month-to-month", "one-year", "two-year")
REGIONS = ("north", "south", "east", "west")

# The feature contract of the churn model. Bounds are validity bounds from the domain (who can be
# a customer at all), deliberately wider than anything the generator produces: traffic outside
# the training range is served, and shows up as drift.
CONTRACT = FeatureContract(
    (
        Feature("age", FeatureKind.INTEGER, "Customer age in years.", True, 18, 120,
                example=30),
        Feature("signup_month", FeatureKind.CATEGORY, "Month the customer signed up.", True,
                categories=MONTHS, example="June"),
        Feature("tenure_months", FeatureKind.INTEGER, "Months since signup.", False, 0, 600,
                example=7),
        Feature("monthly_charges", FeatureKind.NUMBER, "Current monthly bill.", False, 0, 1000,
                example=39.5),
        Feature("plan", FeatureKind.CATEGORY, "Service plan.", categories=PLANS,
                example="premium"),
        Feature("contract", FeatureKind.CATEGORY, "Contract term.", categories=CONTRACTS,
                example="month-to-month"),
        Feature("support_calls_90d", FeatureKind.INTEGER, "Support calls in the last 90 days.",
                False, 0, 100, example=2),
        Feature("region", FeatureKind.CATEGORY, "Sales region.", categories=REGIONS,
                example="west"),
        Feature("autopay", FeatureKind.BOOLEAN, "Pays by automatic debit.", example=True),
        Feature("data_usage_gb", FeatureKind.NUMBER, "Data used last month, in GB.", False,
                0, 10000, example=12.5),
        Feature("payment_failures_12m", FeatureKind.INTEGER,
                "Failed payments in the last 12 months.", False, 0, 50, example=0),
        Feature("days_since_last_login", FeatureKind.INTEGER,
                "Days since the customer last logged in.", False, 0, 3650, example=3),
    )
)  # fmt: skip

# Share of values missing per feature in the reference population.
MISSING_RATES: dict[str, float] = {
    "monthly_charges": 0.03,
    "region": 0.02,
    "autopay": 0.04,
    "data_usage_gb": 0.10,
    "payment_failures_12m": 0.05,
    "days_since_last_login": 0.08,
}

# The features the story calls strongest, strongest first; tests check the model learned them.
STRONGEST_FEATURES = ("contract", "support_calls_90d", "tenure_months")
NO_EFFECT_FEATURES = ("region",)


@dataclass(frozen=True, slots=True)
class Population:
    """Knobs of a population. The defaults are the reference population."""

    age_mean: float = 42.0
    age_sd: float = 14.0
    plan_weights: tuple[float, float, float] = (0.45, 0.35, 0.20)
    contract_weights: tuple[float, float, float] = (0.50, 0.28, 0.22)
    support_calls_mean: float = 1.2
    autopay_rate: float = 0.55
    region_weights: tuple[float, float, float, float] = (0.30, 0.25, 0.25, 0.20)
    missing_scale: float = 1.0
    price_increase: float = 0.0


REFERENCE = Population()
SHIFTS: dict[str, Population] = {
    "reference": REFERENCE,
    "older": replace(REFERENCE, age_mean=63.0, age_sd=10.0),
    "premium_mix": replace(REFERENCE, plan_weights=(0.15, 0.35, 0.50)),
    "support_surge": replace(REFERENCE, support_calls_mean=3.5),
    "month_to_month": replace(REFERENCE, contract_weights=(0.80, 0.12, 0.08)),
    "price_increase": replace(REFERENCE, price_increase=25.0),
    "more_missing": replace(REFERENCE, missing_scale=3.0),
}


@dataclass(frozen=True)
class Customers:
    """Generated customers, column-wise. Numeric columns are float64 with NaN for missing;
    categorical and boolean columns are object arrays with None for missing."""

    columns: dict[str, np.ndarray]
    churn_probability: np.ndarray
    churned: np.ndarray
    contract: FeatureContract = field(default=CONTRACT)

    def __len__(self) -> int:
        return len(self.churned)

    def records(self) -> Iterator[dict[str, Any]]:
        """JSON-ready request bodies; a missing value is left out of its record."""
        kinds = {f.name: f.kind for f in self.contract}
        names = list(self.columns)
        for i in range(len(self)):
            record: dict[str, Any] = {}
            for name in names:
                value = self.columns[name][i]
                if value is None or (isinstance(value, float) and np.isnan(value)):
                    continue
                kind = kinds[name]
                if kind is FeatureKind.INTEGER:
                    record[name] = int(value)
                elif kind is FeatureKind.NUMBER:
                    record[name] = round(float(value), 2)
                else:
                    record[name] = value
            yield record


def _pick(
    rng: np.random.Generator, options: tuple[Any, ...], weights: tuple[float, ...], n: int
) -> np.ndarray:
    p = np.asarray(weights, dtype=float)
    idx = rng.choice(len(options), size=n, p=p / p.sum())
    return np.asarray(options, dtype=object)[idx]


def generate(n: int, seed: int, population: Population = REFERENCE) -> Customers:
    """Generate ``n`` customers deterministically from ``seed``."""
    rng = np.random.default_rng(seed)
    age = np.clip(np.rint(rng.normal(population.age_mean, population.age_sd, n)), 18, 99)
    signup_month = _pick(rng, MONTHS, (1.0,) * 9 + (1.1, 1.6, 1.8), n)
    tenure = np.clip(np.rint(rng.exponential(30.0, n)), 0, 180)
    plan = _pick(rng, PLANS, population.plan_weights, n)
    plan_price = np.select([plan == "basic", plan == "standard"], [35.0, 65.0], 105.0)
    monthly_charges = np.clip(
        np.round(plan_price + population.price_increase + rng.normal(0, 10, n), 2), 5, None
    )
    contract = _pick(rng, CONTRACTS, population.contract_weights, n)
    support_calls = rng.poisson(population.support_calls_mean, n).astype(float)
    region = _pick(rng, REGIONS, population.region_weights, n)
    autopay = rng.random(n) < population.autopay_rate
    data_usage = np.round(rng.lognormal(np.log(20.0), 0.9, n), 2)
    payment_failures = rng.poisson(0.3 + 0.3 * ~autopay, n).astype(float)
    days_since_login = np.rint(rng.exponential(7.0 + 5.0 * (contract == "month-to-month"), n))

    logit = (
        -1.6
        + np.select([contract == "month-to-month", contract == "two-year"], [1.4, -1.2], 0.0)
        + 0.45 * np.minimum(support_calls, 8)
        - 0.035 * np.minimum(tenure, 60)
        + 0.6 * np.minimum(payment_failures, 5)
        + 0.03 * np.minimum(days_since_login, 60)
        + 0.02 * (monthly_charges - 65.0)
        - 0.5 * autopay
        + 0.4 * (age < 30)
        + 0.2 * (age > 65)
        + 0.5 * np.isin(signup_month, ("November", "December"))
        - 0.3 * (plan == "premium")
        - 0.12 * np.log1p(data_usage)
    )
    probability = 1.0 / (1.0 + np.exp(-logit))
    churned = (rng.random(n) < probability).astype(np.int8)

    columns: dict[str, np.ndarray] = {
        "age": age,
        "signup_month": signup_month,
        "tenure_months": tenure,
        "monthly_charges": monthly_charges,
        "plan": plan,
        "contract": contract,
        "support_calls_90d": support_calls,
        "region": region,
        "autopay": autopay.astype(object),
        "data_usage_gb": data_usage,
        "payment_failures_12m": payment_failures,
        "days_since_last_login": days_since_login,
    }
    # Values go missing after the outcome is drawn: missingness is noise, not signal.
    for name, rate in MISSING_RATES.items():
        mask = rng.random(n) < min(1.0, rate * population.missing_scale)
        column = columns[name]
        if column.dtype == object:
            column[mask] = None
        else:
            column[mask] = np.nan
    return Customers(columns=columns, churn_probability=probability, churned=churned)
