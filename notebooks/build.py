"""Write the notebooks from the cells below, and run them.

    uv run python notebooks/build.py            # write the .ipynb files, without outputs
    uv run python notebooks/build.py --execute  # ...then run each and save its outputs
    FRAUDSTREAM_NB_SMALL=1 uv run python notebooks/build.py --execute  # small data, ~1 min

The cells live here, not in the .ipynb files, so a change is one readable diff and the
shared set-up is written once. ``run_notebook`` is what tests/notebooks runs too.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent
KERNEL_NAME = "fraudstream-venv"
#: Seconds one cell may take before the run fails.
CELL_TIMEOUT = 900


def md(text: str) -> nbformat.NotebookNode:
    return new_markdown_cell(text.strip())


def code(text: str) -> nbformat.NotebookNode:
    return new_code_cell(text.strip())


# ---------------------------------------------------------------- shared cells

SETUP = code('''
import os
from datetime import timedelta
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

# Small-data switch: FRAUDSTREAM_NB_SMALL=1 (the tests) runs each notebook in well
# under a minute on fewer cards and days; unset, the figures below are the real ones.
SMALL = os.environ.get("FRAUDSTREAM_NB_SMALL", "") not in ("", "0")

# Work from the repository root, wherever the notebook was started.
ROOT = next(p for p in (Path.cwd(), *Path.cwd().parents) if (p / "pyproject.toml").exists())
os.chdir(ROOT)

pd.set_option("display.precision", 3)
plt.rcParams.update({"figure.dpi": 60, "figure.figsize": (7, 2.6), "axes.grid": True})
print(f"small data: {SMALL}")
''')

PROTOCOL = code('''
from fraudstream.datasets.simulator import SimulatorConfig, simulate
from fraudstream.features.served import served_features

# The time-ordered protocol: a burn-in (windows fill up), a training window, a gap as
# long as the label delay (those labels are not known yet when the model is trained),
# then the test days. Nothing of the future is used to train or to compute features.
LABEL_DELAY = timedelta(days=7)
DAYS = 28 if SMALL else 42
BURN_IN, TEST_DAYS = 7, 7
TEST_START = DAYS - TEST_DAYS
TRAIN_END = TEST_START - LABEL_DELAY.days
K = 25 if SMALL else 100  # alerts (cards) a fraud team can look at per day

sim = SimulatorConfig(customers=600 if SMALL else 5_000, days=DAYS, seed=7)
frame = simulate(sim)
# What the scorer serves: the online features (fraud shares fed only by labels known
# LABEL_DELAY later) plus the amount.
X = served_features(frame, LABEL_DELAY)
y = frame["is_fraud"].to_numpy()
day = (frame["event_time"] - frame["event_time"].iloc[0]).dt.days.to_numpy()
train = (day >= BURN_IN) & (day < TRAIN_END)
test = day >= TEST_START
print(
    f"{len(frame):,} transactions over {DAYS} days, fraud rate {y.mean():.2%}; "
    f"train days {BURN_IN}-{TRAIN_END - 1} ({train.sum():,} rows), "
    f"gap days {TRAIN_END}-{TEST_START - 1}, test days {TEST_START}-{DAYS - 1} "
    f"({test.sum():,} rows); {X.shape[1]} features"
)
''')

EVALUATE = code('''
from fraudstream.evaluation.measures import (
    average_precision,
    card_precision_at_k,
    precision_recall_at,
    recall_at_budget,
    roc_auc,
)


def evaluate(name, scores, threshold=0.5):
    """Every measure of one model's scores on the test days."""
    s, t = np.asarray(scores, dtype=float), y[test]
    per_row = pd.DataFrame(
        {"day": day[test], "card_id": frame["card_id"].to_numpy()[test], "score": s, "is_fraud": t}
    )
    precision, recall = precision_recall_at(t, s, threshold)
    return {
        "model": name,
        "accuracy": float(((s >= threshold) == t.astype(bool)).mean()),
        "precision@0.5": precision,
        "recall@0.5": recall,
        "average precision": average_precision(t, s),
        "ROC AUC": roc_auc(t, s),
        f"Card Precision@{K}": card_precision_at_k(per_row, K),
        f"recall@{K}/day": recall_at_budget(per_row, K),
    }
''')


# ---------------------------------------------------------------- 01_eda

EDA = [
    md("""
# 01 — Exploring the data

What fraud looks like in the data fraudstream works with, and what that means for the
features and the measures. Two sources:

- the **simulator** (`fraudstream.datasets.simulator`), seeded, with card and terminal
  ids and three fraud scenarios; it is always available;
- the **ULB** file (`data/creditcard.csv`, from `fraudstream data download ulb`), read
  with the same adapter the replay uses; its section is skipped when the file is absent.

Everything here imports `fraudstream`; nothing in `fraudstream` imports a notebook.
"""),
    SETUP,
    md("## The simulated month"),
    code("""
from fraudstream.datasets.simulator import SimulatorConfig, simulate

sim = SimulatorConfig(customers=600 if SMALL else 5_000, days=21 if SMALL else 30, seed=42)
frame = simulate(sim)
days = (frame["event_time"] - frame["event_time"].iloc[0]).dt.days
print(f"{len(frame):,} transactions, {frame['card_id'].nunique():,} cards, "
      f"{frame['merchant_id'].nunique():,} terminals, {days.max() + 1} days")
frame.head(3)
"""),
    md("""
### Class imbalance

Fraud is rare. A model that always answers "genuine" is right for almost every
transaction, which is why accuracy is no measure here (see 02).
"""),
    code("""
counts = frame["is_fraud"].value_counts().rename({0: "genuine", 1: "fraud"})
print(counts.to_string())
print(f"fraud rate {frame['is_fraud'].mean():.2%}: always answering 'genuine' is "
      f"{1 - frame['is_fraud'].mean():.2%} accurate and catches no fraud")
"""),
    md("""
### Amounts

Most purchases are small; frauds are larger on average, but their amounts overlap the
genuine ones heavily, so a single amount rule either misses most frauds or alerts on
many card holders.
"""),
    code("""
fig, ax = plt.subplots()
bins = np.logspace(-1, np.log10(frame["amount"].max() + 1), 50)
for label, part in frame.groupby("is_fraud"):
    ax.hist(part["amount"], bins=bins, density=True, alpha=0.6,
            label="fraud" if label else "genuine")
ax.set(xscale="log", xlabel="amount", ylabel="density", title="amount by class")
ax.legend()
plt.show()
frame.groupby("is_fraud")["amount"].describe()[["mean", "50%", "max"]]
"""),
    md("### Time patterns"),
    code("""
hour = frame["event_time"].dt.hour
by_hour = frame.groupby(hour)["is_fraud"].agg(["size", "mean"])
by_day = frame.groupby(days)["is_fraud"].mean()
fig, (left, right) = plt.subplots(1, 2)
left.bar(by_hour.index, by_hour["size"])
left.set(title="transactions by hour (UTC)", xlabel="hour")
right.plot(by_day.index, by_day.values)
right.set(title="fraud rate by day", xlabel="day", ylim=(0, None))
plt.show()
print(f"daily fraud rate between {by_day.min():.2%} and {by_day.max():.2%}")
"""),
    md("""
Activity follows the day (a bell around noon) and the fraud rate is steady from day
one (the simulator starts its compromises before the first day). The hour says little
about fraud here; on real data night-time fraud is a known signal, so `hour_of_day`
and `is_night` are kept as features.

### Per-card behaviour

A card's own history is the strongest context: its usual amount and pace. Cards
differ a lot, so a fixed amount threshold is wrong for most of them, while *amount
over the card's mean* compares each card with itself.
"""),
    code("""
per_card = frame.groupby("card_id").agg(
    transactions=("amount", "size"), mean_amount=("amount", "mean"), frauds=("is_fraud", "sum")
)
print(per_card.describe().loc[["mean", "50%", "max"]].to_string())
print(f"cards with at least one fraud: {(per_card['frauds'] > 0).mean():.1%}")
"""),
    md("""
### The fraud scenarios

1. an amount above 220 (a simple pattern a rule would catch);
2. a compromised terminal: all its transactions for 28 days;
3. a compromised card: a third of its transactions for 14 days, at 5x the amount.
"""),
    code("""
scenarios = frame[frame["is_fraud"] == 1].groupby("fraud_scenario")["amount"].agg(
    ["size", "median"]
)
scenarios.index = scenarios.index.map({1: "1 large amount", 2: "2 terminal", 3: "3 card"})
scenarios
"""),
    md("""
### What the online features show

The features the scorer serves (`fraudstream.features.reference`, the offline twin of
the Redis path, with fraud labels known only 7 days later) separate each scenario
differently (means from day 14 on, when the terminals' 7-day fraud shares have
labels to count): scenario 2 shows in the terminal's recent *known* fraud share,
scenario 3 in the amount over the card's own mean, scenario 1 in the amount alone.
"""),
    code("""
from fraudstream.features.served import served_features

features = served_features(frame, timedelta(days=7))
columns = ["amount", "card_amount_over_mean_30d", "merchant_fraud_share_7d", "card_tx_count_1d"]
late = (days >= 14).to_numpy()  # once the 7-day fraud shares have known labels to count
features[late].groupby(frame["fraud_scenario"].to_numpy()[late])[columns].mean().rename(
    index={0: "genuine", 1: "1 large amount", 2: "2 terminal", 3: "3 card"}
)
"""),
    md("## The ULB file (when downloaded)"),
    code("""
from fraudstream.datasets.ulb import load_ulb

ulb_path = ROOT / "data" / "creditcard.csv"
ulb = load_ulb(ulb_path).frame if ulb_path.exists() else None
if ulb is None:
    print(f"{ulb_path.relative_to(ROOT)} is not here: this section is skipped. "
          "`uv run fraudstream data download ulb` fetches it (internet needed).")
else:
    print(f"{len(ulb):,} transactions over "
          f"{(ulb['event_time'].max() - ulb['event_time'].min()).total_seconds() / 3600:.0f} h, "
          f"fraud rate {ulb['is_fraud'].mean():.3%}")
"""),
    code("""
if ulb is not None:
    print(ulb.groupby("is_fraud")["amount"].describe()[["mean", "50%", "max"]].to_string())
    by_hour = ulb.groupby(ulb["event_time"].dt.hour)["is_fraud"].mean()
    print("fraud rate by hour (hour relative to the assumed origin):")
    print(by_hour.map("{:.3%}".format).to_string())
"""),
    md("""
ULB's rows have no card or merchant id and its V1-V28 are anonymised PCA components,
so only the time features can be served online for it (docs/features.md); models
trained on ULB use its PCA columns directly. The fraud rate (about 0.17%) is lower
still than the simulator's.

## What this means

- **Features**: per-card windows (count, mean amount, amount over the card's mean,
  time since the previous transaction) and per-terminal windows including the share of
  recent *known* frauds, computed in event time and fed only with labels the system
  could have had — exactly the features the scorer serves, so training uses them too.
- **Measures**: with a fraud rate around 1%, accuracy is meaningless. We rank: average
  precision, and what a fraud team sees — Card Precision@k and recall at a daily
  alert budget (02).
- **Evaluation**: labels arrive days late, so every evaluation is time-ordered with a
  gap as long as the label delay (02, 03).
"""),
]


# ---------------------------------------------------------------- 02_baseline

BASELINE = [
    md("""
# 02 — Baselines and the measures that matter

A rule baseline and a logistic regression, evaluated as a fraud team would: how well
the highest scores concentrate the frauds. Data: the simulator; features: what the
scorer serves; protocol: time-ordered, with the label delay (see the set-up cell).
"""),
    SETUP,
    PROTOCOL,
    EVALUATE,
    md("""
## The baselines

- **always genuine**: the model accuracy loves;
- **amount rule**: alert above the 99th percentile of the training amounts;
- **cold-start rule**: the hand-set logistic score the scorer uses before any model is
  learned (`fraudstream.models.ColdStartModel`, docs/scoring.md);
- **logistic regression**: standardised, trained on the training window's labels.
"""),
    code("""
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fraudstream.models import ColdStartModel

amount_cut = float(np.quantile(X.loc[train, "amount"], 0.99))
logistic = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1_000))
logistic.fit(X[train], y[train])
scores = {
    "always genuine": np.zeros(test.sum()),
    f"amount > {amount_cut:.0f}": (X.loc[test, "amount"] > amount_cut).astype(float).to_numpy(),
    "cold-start rule": ColdStartModel().score(X[test]),
    "logistic regression": logistic.predict_proba(X[test])[:, 1],
}
table = pd.DataFrame([evaluate(name, s) for name, s in scores.items()]).set_index("model")
table
"""),
    md("""
## Why accuracy misleads

"Always genuine" is within a point or two of the best accuracy in the table and
catches nothing: when almost every transaction is genuine, accuracy measures the
genuine majority, while the ranking measures tell the models apart by a factor of ten
or more. What the
fraud team cares about is how many of the alerts it can afford are frauds, and how
many frauds those alerts catch:

- **average precision** — the area under the precision-recall curve: how well frauds
  are ranked above everything else, over every threshold;
- **Card Precision@k** — each day, of the k cards with the highest score, the share
  really compromised (the team investigates cards, k a day);
- **recall at an alert budget** — the share of frauds among the k highest scores of
  their day.

ROC AUC is reported but flatters every model on such imbalanced data: it counts the
ranking against the huge genuine majority, where precision-recall looks at the top.
"""),
    code("""
def pr_curve(t, s):
    order = np.argsort(-s, kind="stable")
    hits = np.cumsum(t[order])
    return hits / t.sum(), hits / np.arange(1, len(s) + 1)


fig, ax = plt.subplots(figsize=(5, 3))
for name in ("cold-start rule", "logistic regression"):
    recall, precision = pr_curve(y[test], scores[name])
    ax.plot(recall, precision, label=name)
ax.axhline(y[test].mean(), color="grey", linestyle=":", label="fraud rate (random)")
ax.set(xlabel="recall", ylabel="precision", title="precision-recall, test days")
ax.legend()
plt.show()
"""),
    md("""
## What we take from it

- The hand-set cold-start rule is a fair day-one model: far above random, and the
  scorer uses it until the first model is learned.
- A plain logistic regression on the served features already beats it on every
  ranking measure; that makes the learned models worth the machinery.
- From here on, models are compared on **average precision** first, then Card
  Precision@k and recall at the alert budget; accuracy is not reported again.
"""),
]


# ---------------------------------------------------------------- 03_experiments

EXPERIMENTS = [
    md("""
# 03 — Experiments: batch and online models, tracked in MLflow

Random forest and XGBoost (batch, trained once on the labels known at the start of the
test days) against River's online models (`fraudstream.learning.models`), which score
each day and then learn the labels that arrived, exactly as `fraudstream learn` does.
Same data, same served features, same test days, same measures. Every model is a run in
MLflow (`MLFLOW_TRACKING_URI`; unset, a local SQLite store in `mlruns/`), with the
comparison table as an artifact of a summary run.
"""),
    SETUP,
    PROTOCOL,
    EVALUATE,
    md("## Tracking"),
    code("""
import uuid

import mlflow

os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] = "true"  # one link at the end
uri = os.environ.get("MLFLOW_TRACKING_URI")
if not uri:
    (ROOT / "mlruns").mkdir(exist_ok=True)
    uri = f"sqlite:///{ROOT / 'mlruns' / 'mlflow.db'}"
mlflow.set_tracking_uri(uri)
experiment = mlflow.set_experiment("fraudstream-notebooks")
comparison = uuid.uuid4().hex[:12]  # tags this execution's runs
protocol = {
    "days": DAYS, "customers": sim.customers, "seed": sim.seed, "small": SMALL,
    "label_delay_days": LABEL_DELAY.days, "train_days": f"{BURN_IN}-{TRAIN_END - 1}",
    "test_days": f"{TEST_START}-{DAYS - 1}", "alert_budget_k": K,
}
print(f"tracking to {uri.split('@')[-1]}, experiment {experiment.name}, comparison {comparison}")


def track(name, kind, params, measures, seconds):
    with mlflow.start_run(run_name=name, tags={"comparison": comparison, "kind": kind}):
        mlflow.log_params({**protocol, **params})
        mlflow.log_metrics({
            key.replace("@", "_at_").replace("/", "_per_").replace(" ", "_"): value
            for key, value in measures.items() if key != "model"
        } | {"seconds": seconds})
"""),
    md("""
## Batch models

Trained on the training window (features as served, labels known by the first test
day); class imbalance is left to the ranking (no resampling: it shifts the scores, not
the order that average precision measures).
"""),
    code("""
import time

from sklearn.ensemble import RandomForestClassifier
from xgboost import XGBClassifier

batch = {
    "random forest": (
        RandomForestClassifier,
        {"n_estimators": 40 if SMALL else 100, "min_samples_leaf": 5, "max_features": "sqrt",
         "max_samples": 0.5, "n_jobs": 2, "random_state": 7},
    ),
    "xgboost": (
        XGBClassifier,
        {"n_estimators": 100 if SMALL else 300, "max_depth": 6, "learning_rate": 0.1,
         "subsample": 0.8, "tree_method": "hist", "n_jobs": 2, "random_state": 7},
    ),
}
rows = []
for name, (cls, params) in batch.items():
    started = time.perf_counter()
    model = cls(**params).fit(X[train], y[train])
    measures = evaluate(name, model.predict_proba(X[test])[:, 1])
    seconds = time.perf_counter() - started
    track(name, "batch", params, measures, seconds)
    rows.append(measures | {"kind": "batch", "seconds": seconds})
    print(f"{name}: average precision {measures['average precision']:.3f} ({seconds:.1f} s)")
"""),
    md("""
## Online models (River), test then train, labels 7 days late

`prequential_scores` scores each day with the model as it stands, then learns one by
one the labels that became known by the end of that day; the cold-start rule is the
model that never learns.
"""),
    code("""
from fraudstream.learning.models import DEFAULT_MODEL, MODEL_CHOICES
from fraudstream.learning.prequential import prequential_scores

# The adaptive random forest learns one row at a time ~30x slower than the logistic
# regression (minutes here): `fraudstream bench learn --model arf` measures it. Small
# data: the default model only.
online = (
    [MODEL_CHOICES[DEFAULT_MODEL]]
    if SMALL
    else [choice for name, choice in MODEL_CHOICES.items() if name != "arf"]
)
for choice in [None, *online]:
    name = "cold-start rule" if choice is None else f"river {choice.name}"
    kind = "rule" if choice is None else "online"
    started = time.perf_counter()
    s = prequential_scores(frame, X, choice, label_delay=LABEL_DELAY)
    measures = evaluate(name, s[test])
    seconds = time.perf_counter() - started
    params = {"fraud_weight": choice.fraud_weight if choice else 0.0,
              "description": choice.description if choice else "hand-set logistic score"}
    track(name, kind, params, measures, seconds)
    rows.append(measures | {"kind": kind, "seconds": seconds})
    print(f"{name}: average precision {measures['average precision']:.3f} ({seconds:.1f} s)")
"""),
    md("## The comparison"),
    code("""
columns = ["kind", "average precision", f"Card Precision@{K}", f"recall@{K}/day", "ROC AUC",
           "seconds"]
table = pd.DataFrame(rows).set_index("model")[columns].sort_values(
    "average precision", ascending=False
)
with mlflow.start_run(run_name="comparison", tags={"comparison": comparison, "kind": "summary"}):
    mlflow.log_params(protocol)
    mlflow.log_text(table.to_csv(float_format="%.4f"), "comparison.csv")
table
"""),
    code("""
# Read back from MLflow: the runs of this execution, as the UI lists them.
runs = mlflow.search_runs(
    experiment_names=[experiment.name],
    filter_string=f"tags.comparison = '{comparison}' and tags.kind != 'summary'",
)
assert len(runs) == len(rows), f"{len(runs)} runs in MLflow for {len(rows)} models"
print(f"{len(runs)} runs logged for comparison {comparison}")
if uri.startswith("http"):
    print(f"MLflow UI: {uri}/#/experiments/{experiment.experiment_id}")
runs[["tags.mlflow.runName", "tags.kind", "metrics.average_precision"]].sort_values(
    "metrics.average_precision", ascending=False
)
"""),
    code("""
best_batch = table[table["kind"] == "batch"].index[0]
best_online = table[table["kind"] == "online"].index[0]
print(f"best batch model: {best_batch} "
      f"(average precision {table.loc[best_batch, 'average precision']:.3f})")
print(f"best online model: {best_online} "
      f"(average precision {table.loc[best_online, 'average precision']:.3f})")
"""),
    md("""
## What it decided

Figures are those of the committed run (42 simulated days, test days 35-41, labels 7
days late); the small-data run of the tests only checks that the notebook works.

- **Batch beats online on ranking, modestly.** Both tree ensembles rank frauds better
  than the best online model (average precision 0.72 and 0.68 against 0.65) and catch
  more frauds within 100 alerts a day (76% and 75% against 71%), although they were
  trained once, a week before the test days, while the online models kept learning
  through them. That is worth a daily batch challenger.
- **XGBoost is the challenger's model**, although the random forest ranked a little
  higher here with untuned settings: XGBoost trained about 18 times faster (14 s
  against 255 s on a busy machine), scores 500 transactions in about a millisecond,
  and the training pipeline (`fraudstream.training`) tunes it with a time-ordered
  search where this notebook used defaults. The random forest stays in that pipeline
  as a comparison, and which model serves is decided by measurement on the latest
  labelled window, not by this table.
- **The online model stays River's standardised logistic regression** (`logreg`, the
  learner's default): the best online model, close to the batch models, at
  microseconds a transaction. Weighting frauds 3x or 10x made it worse (0.60, 0.48),
  as `fraudstream bench learn` found.
- **The Hoeffding adaptive tree is not used**: at this class imbalance it scored every
  transaction alike (ROC AUC 0.49). The adaptive random forest was left out here for
  its cost (see the online cell).
- **The cold-start rule** (0.47) remains the model of day one, before any label.
"""),
]


NOTEBOOKS = {
    "01_eda.ipynb": EDA,
    "02_baseline.ipynb": BASELINE,
    "03_experiments.ipynb": EXPERIMENTS,
}


def build(name: str) -> nbformat.NotebookNode:
    """The notebook ``name``, without outputs."""
    nb = new_notebook(cells=[nbformat.from_dict(cell) for cell in NOTEBOOKS[name]])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def run_notebook(
    nb: nbformat.NotebookNode,
    *,
    small: bool,
    timeout: float = CELL_TIMEOUT,
    env: dict[str, str] | None = None,
) -> nbformat.NotebookNode:
    """Execute ``nb`` top to bottom in a kernel of this Python (the project's .venv).

    The kernel inherits this process's environment plus ``env``. It is registered in a
    temporary folder, so no Jupyter installation or user-wide kernel is needed or
    touched. Raises ``nbclient`` errors on a failing cell.
    """
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / KERNEL_NAME
        spec.mkdir()
        (spec / "kernel.json").write_text(
            json.dumps(
                {
                    "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                    "display_name": "fraudstream (.venv)",
                    "language": "python",
                    "env": {
                        **(env or {}),
                        "FRAUDSTREAM_NB_SMALL": "1" if small else "0",
                        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
                    },
                }
            )
        )
        manager = KernelManager(
            kernel_name=KERNEL_NAME, kernel_spec_manager=KernelSpecManager(kernel_dirs=[tmp])
        )
        client = NotebookClient(
            nb,
            km=manager,
            timeout=timeout,
            record_timing=False,
            resources={"metadata": {"path": str(HERE)}},
        )
        try:
            client.execute()
        finally:
            # nbclient stops only the clients and kernels it created itself; left to the
            # garbage collector, the client's zmq sockets warn from whatever runs next.
            if client.kc is not None:
                client.kc.stop_channels()  # closes its sockets and its own zmq context
            if manager.has_kernel:
                manager.shutdown_kernel(now=True)
    return nb


def strip(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Keep what a reader needs: no stderr streams (logs, warnings), no run metadata."""
    for cell in nb.cells:
        cell.metadata = {}
        if cell.cell_type == "code":
            cell.outputs = [
                out
                for out in cell.outputs
                if not (out.output_type == "stream" and out.name == "stderr")
            ]
    nb.metadata["kernelspec"] = build("01_eda.ipynb").metadata["kernelspec"]
    return nb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--execute", action="store_true", help="run and save outputs")
    parser.add_argument("names", nargs="*", default=list(NOTEBOOKS), help="which notebooks")
    args = parser.parse_args()
    small = os.environ.get("FRAUDSTREAM_NB_SMALL", "") not in ("", "0")
    for name in args.names:
        nb = build(name)
        if args.execute:
            started = time.perf_counter()
            nb = strip(run_notebook(nb, small=small))
            print(f"{name}: ran in {time.perf_counter() - started:.0f} s")
        nbformat.validate(nb)
        nbformat.write(nb, HERE / name)
        print(f"wrote {name} ({(HERE / name).stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
