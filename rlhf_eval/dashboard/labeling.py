"""Pairwise human labeling: which items to show, in which order, and what the labels say.

A label compares two generations for the same prompt (``gen_a``, ``gen_b`` in a canonical order:
``gen_a`` comes from the first checkpoint of the pair being compared). The side each is shown on
is randomised per annotator and item from a seed, so position bias averages out across
annotators while one annotator always sees the same item the same way (a reload does not
reshuffle). ``shown_left`` records what was on the left, so position bias can be measured later.

Human win-rate counts a tie as half a win (as AlpacaEval does); the interval is the suite's
seeded percentile bootstrap over labels (:mod:`rlhf_eval.evaluation.winrate`).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

CHOICES = ("a", "b", "tie")  # stored winner values


@dataclass(frozen=True)
class LabelItem:
    run: str
    sample_id: str
    prompt: str
    gen_a: str
    gen_b: str
    completion_a: str
    completion_b: str
    checkpoint_a: str
    checkpoint_b: str

    @property
    def key(self) -> str:
        return f"{self.gen_a}|{self.gen_b}"


def generations(scores: pd.DataFrame) -> pd.DataFrame:
    """One row per generation: run, checkpoint, sample_id, gen_id, prompt, completion."""
    cols = ["run", "checkpoint", "sample_id", "gen_id", "prompt", "completion"]
    if scores.empty:
        return pd.DataFrame(columns=cols)
    return scores.drop_duplicates("gen_id")[cols].reset_index(drop=True)


def label_items(gens: pd.DataFrame, *, run: str, checkpoint_a: str,
                checkpoint_b: str) -> list[LabelItem]:
    """Items for prompts that both checkpoints of ``run`` answered, ordered by sample_id.

    Every annotator walks the same order, so their labels overlap early and agreement can be
    measured after a few items each.
    """
    g = gens[gens["run"] == run]
    a = g[g["checkpoint"] == checkpoint_a].drop_duplicates("sample_id").set_index("sample_id")
    b = g[g["checkpoint"] == checkpoint_b].drop_duplicates("sample_id").set_index("sample_id")
    common = sorted(a.index.intersection(b.index))
    return [LabelItem(run=run, sample_id=s, prompt=a.at[s, "prompt"], gen_a=a.at[s, "gen_id"],
                      gen_b=b.at[s, "gen_id"], completion_a=a.at[s, "completion"],
                      completion_b=b.at[s, "completion"], checkpoint_a=checkpoint_a,
                      checkpoint_b=checkpoint_b) for s in common]


def is_swapped(annotator: str, item_key: str, seed: int = 0) -> bool:
    """Whether ``gen_b`` goes on the left for this annotator and item: a fair coin from a seed.

    A hash (not Python's salted ``hash``) makes it stable across processes and restarts.
    """
    digest = hashlib.sha256(f"{seed}\x1f{annotator}\x1f{item_key}".encode()).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
    return bool(rng.integers(0, 2))


def shown_order(item: LabelItem, annotator: str, seed: int = 0) -> tuple[str, str]:
    """(left gen_id, right gen_id) for this annotator."""
    if is_swapped(annotator, item.key, seed):
        return item.gen_b, item.gen_a
    return item.gen_a, item.gen_b


def canonical_winner(choice: str, item: LabelItem, left_gen: str) -> str:
    """Map the annotator's ``left``/``right``/``tie`` to the stored ``a``/``b``/``tie``."""
    if choice == "tie":
        return "tie"
    if choice not in ("left", "right"):
        raise ValueError(f"expected a choice of left, right or tie, found {choice!r}")
    right_gen = item.gen_b if left_gen == item.gen_a else item.gen_a
    chosen = left_gen if choice == "left" else right_gen
    return "a" if chosen == item.gen_a else "b"


def latest_labels(labels: pd.DataFrame) -> pd.DataFrame:
    """One label per annotator and pair: the most recent (a re-label replaces the earlier one)."""
    if labels.empty:
        return labels
    order = labels.sort_values(["created_at", "id"] if "id" in labels else ["created_at"],
                               kind="stable")
    return order.drop_duplicates(["annotator", "gen_a", "gen_b"], keep="last")


def next_item(items: list[LabelItem], labels: pd.DataFrame, annotator: str) -> LabelItem | None:
    """The first item this annotator has not labeled yet, in either order (None when all are
    done)."""
    done = set()
    if not labels.empty:
        mine = labels[labels["annotator"] == annotator]
        done = {frozenset(p) for p in zip(mine["gen_a"], mine["gen_b"])}
    for item in items:
        if frozenset((item.gen_a, item.gen_b)) not in done:
            return item
    return None


def human_winrates(labels: pd.DataFrame, gens: pd.DataFrame, *, n_resamples: int = 1000,
                   confidence: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Win-rate of each checkpoint against each checkpoint it was compared with, from labels
    (the latest label per annotator and pair), computed by
    :func:`rlhf_eval.evaluation.winrate.human_winrate_rows` (ties count half, seeded bootstrap).

    Columns: run, checkpoint, baseline (the opponent), wins, ties, losses, n, winrate, ci_low,
    ci_high; both orientations of every compared pair are listed.
    """
    from ..evaluation.winrate import human_winrate_rows

    cols = ["run", "checkpoint", "baseline", "wins", "ties", "losses", "n", "winrate",
            "ci_low", "ci_high"]
    labels = latest_labels(labels)
    if labels.empty:
        return pd.DataFrame(columns=cols)
    ck_of = dict(zip(gens["gen_id"], gens["checkpoint"]))
    run_of = dict(zip(gens["gen_id"], gens["run"]))
    rows = []
    labels = labels.assign(_run=labels["gen_a"].map(run_of))
    for run, grp in labels.dropna(subset=["_run"]).groupby("_run", sort=True):
        seen = sorted({tuple(sorted((ck_of.get(a), ck_of.get(b))))
                       for a, b in zip(grp["gen_a"], grp["gen_b"])
                       if ck_of.get(a) and ck_of.get(b) and ck_of.get(a) != ck_of.get(b)})
        pairs = [p for a, b in seen for p in ((b, a), (a, b))]
        rows += human_winrate_rows(grp, gens[gens["run"] == run], run=run, pairs=pairs,
                                   confidence=confidence, n_resamples=n_resamples, seed=seed)
    return pd.DataFrame(rows).reindex(columns=cols) if rows else pd.DataFrame(columns=cols)


def oriented(labels: pd.DataFrame) -> pd.DataFrame:
    """Labels keyed by the sorted generation pair: ``a`` for (x, y) is ``b`` for (y, x)."""
    swap = labels["gen_a"] > labels["gen_b"]
    out = labels.copy()
    out.loc[swap, ["gen_a", "gen_b"]] = labels.loc[swap, ["gen_b", "gen_a"]].values
    out.loc[swap, "winner"] = labels.loc[swap, "winner"].map({"a": "b", "b": "a", "tie": "tie"})
    return out


def agreement(labels: pd.DataFrame) -> dict:
    """Inter-annotator agreement on the pairs labeled by at least two annotators.

    Uses :mod:`rlhf_eval.agreement` (pairwise choices coded a=0 < tie=1 < b=2): ``percent``
    (agreeing annotator pairs, pooled over items), ``kappa`` (mean pairwise Cohen's kappa) and
    ``alpha`` (Krippendorff's alpha, nominal); NaN where undefined. Also ``n_items`` (pairs with
    >= 2 annotators) and ``n_annotators``.
    """
    from ..agreement import (CHOICE_CODES, krippendorff_alpha, mean_pairwise_kappa,
                             pooled_percent_agreement)

    nan = float("nan")
    out = {"n_items": 0, "n_annotators": 0, "percent": nan, "kappa": nan, "alpha": nan}
    labels = labels.dropna(subset=["annotator"]) if not labels.empty else labels
    if labels.empty:
        return out
    labels = latest_labels(oriented(labels))
    codes = labels.assign(code=labels["winner"].map(CHOICE_CODES))
    matrix = codes.pivot_table(index="annotator", columns=["gen_a", "gen_b"], values="code",
                               aggfunc="last")  # (annotators, items), NaN = not labeled
    shared = matrix.loc[:, matrix.notna().sum(axis=0) >= 2]
    out["n_annotators"] = int(matrix.shape[0])
    out["n_items"] = int(shared.shape[1])
    if shared.shape[1] == 0:
        return out
    data = shared.to_numpy(dtype=float)
    out["percent"] = float(pooled_percent_agreement(data))
    out["kappa"] = float(mean_pairwise_kappa(data))
    out["alpha"] = float(krippendorff_alpha(data, level="nominal"))
    return out
