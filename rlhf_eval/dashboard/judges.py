"""The Judges page's logic: each LLM judge's bias report and its agreement with human labels,
from the answers cached in the store (both orders of every generation pair judged with
``rlhf-eval winrate --llm``) and the store's pairwise human labels."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd

POSITIONS = ("first", "second", "tie")


def _position(label, probs_json) -> str | None:
    if isinstance(probs_json, str):
        p = json.loads(probs_json)
        return POSITIONS[int(np.argmax(p))] if p else None
    # parse mode: the built-in labels A / B / C
    return {"A": "first", "B": "second", "C": "tie"}.get(label) if isinstance(label, str) else None


def judge_items(judgments: pd.DataFrame, generations: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """signature -> one row per generation pair judged in both orders: ``gen_a, gen_b,
    first_ab, first_ba, verdict, len_a, len_b`` (a = the generation shown first in the
    earlier-stored order)."""
    from ..evaluation.judges.llm import combine

    length = dict(zip(generations["gen_id"], generations["completion"].str.len()))
    out = {}
    for sig, g in judgments.dropna(subset=["gen_first", "gen_second"]).groupby("signature"):
        rows = {(r.gen_first, r.gen_second): r for r in g.itertuples()}
        items = []
        for (x, y), r1 in rows.items():
            r2 = rows.get((y, x))
            if r2 is None or x > y:   # each unordered pair once
                continue
            ans = [{"label": {"first": "A", "second": "B", "tie": "C"}.get(_position(r.label,
                                                                                   r.probs_json)),
                    "probs": json.loads(r.probs_json) if isinstance(r.probs_json, str) else None}
                   for r in (r1, r2)]
            v = combine(ans[0], ans[1], labels=("A", "B", "C"))
            items.append({"gen_a": x, "gen_b": y, "first_ab": _position(r1.label, r1.probs_json),
                          "first_ba": _position(r2.label, r2.probs_json),
                          "verdict": v["verdict"], "len_a": length.get(x, np.nan),
                          "len_b": length.get(y, np.nan)})
        if items:
            out[sig] = pd.DataFrame(items)
    return out


def bias_table(items: pd.DataFrame, *, n_resamples: int = 500, seed: int = 0) -> pd.DataFrame:
    """The bias report's figures as a table (figure, estimate, CI, n) plus its flags."""
    from ..evaluation.judges.stats import bias_report

    rep = bias_report(items["first_ab"], items["first_ba"], items["verdict"], items["len_a"],
                      items["len_b"], n_resamples=n_resamples, seed=seed)
    rows = [{"figure": k, "estimate": v["estimate"], "ci_low": v["ci_low"],
             "ci_high": v["ci_high"], "n": v["n"]}
            for k, v in rep.items() if isinstance(v, dict)]
    return pd.DataFrame(rows), rep["flags"]


def agreement(items_by_judge: dict[str, pd.DataFrame], labels: pd.DataFrame, *,
              n_resamples: int = 500, seed: int = 0) -> pd.DataFrame | None:
    """Agreement of each judge with the human pairwise labels on the pairs both judged (every
    label counts; a label of (y, x) is turned around)."""
    from ..evaluation.judges.meta import meta_table

    if labels is None or labels.empty:
        return None
    human_of: dict[tuple, list[str]] = {}
    for a, b, w in zip(labels["gen_a"], labels["gen_b"], labels["winner"]):
        if a <= b:
            human_of.setdefault((a, b), []).append(w)
        else:
            human_of.setdefault((b, a), []).append({"a": "b", "b": "a"}.get(w, "tie"))
    judges, human = {}, None
    keys = sorted(set.intersection(*[set(zip(it["gen_a"], it["gen_b"]))
                                     for it in items_by_judge.values()]) & set(human_of)) \
        if items_by_judge else []
    if not keys:
        return None
    human = [w for k in keys for w in human_of[k]]
    for name, it in items_by_judge.items():
        v = dict(zip(zip(it["gen_a"], it["gen_b"]), it["verdict"]))
        judges[name] = [v[k] for k in keys for _ in human_of[k]]
    return meta_table(human, judges, n_resamples=n_resamples, seed=seed)
