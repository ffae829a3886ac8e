"""Judge meta-evaluation: how well does each judge agree with human pairwise labels?

One table ranks every judge (reference metrics, the reward model, LLM judges) on the same
pairs. Per judge, over the pairs humans decided (``a`` or ``b``; human ties are counted and left
out: there is no preferred answer to find):

- ``agreement``: judge verdict == human / decided pairs; a judge tie or a judge with no verdict
  (an unparsed answer) counts as a miss, so judges that abstain are not flattered;
- ``agreement_excl_judge_ties``: agree / (agree + disagree), the figure that leaves the judge's
  ties (and missing verdicts) out, with its own interval;
- ``kappa``: Cohen's kappa of judge vs human over all pairs with a judge verdict, three classes
  a / tie / b (scikit-learn);
- intervals: seeded percentile bootstrap over inputs (pairs of one input share outputs).

The ceiling is the humans' own percent agreement on the items that really were labelled twice
(:func:`rlhf_eval.agreement.agreement_table`); it is reported with the number of such items, or
stated as unavailable (SummEval ships only the mean of three experts per summary).
"""
from __future__ import annotations

import itertools
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ...errors import DataError
from ...stats import bootstrap_ci

WINNERS = ("a", "b", "tie")


def verdicts_from_scores(score_a: Sequence[float], score_b: Sequence[float], *,
                         higher_is_better: bool = True, tolerance: float = 0.0) -> np.ndarray:
    """'a' / 'b' / 'tie' (|difference| <= tolerance) per pair; None where a score is missing."""
    a, b = np.asarray(score_a, dtype=float), np.asarray(score_b, dtype=float)
    d = a - b if higher_is_better else b - a
    out = np.where(d > tolerance, "a", np.where(d < -tolerance, "b", "tie")).astype(object)
    out[~np.isfinite(d)] = None
    return out


def _interval(num: np.ndarray, den: np.ndarray, inv: np.ndarray, *, n_resamples: int, seed: int,
              confidence: float):
    g_num = np.bincount(inv, weights=num)
    g_den = np.bincount(inv, weights=den)
    if g_den.sum() == 0:
        return None

    def rate(idx: np.ndarray) -> float:
        d = g_den[idx].sum()
        return g_num[idx].sum() / d if d else np.nan

    return bootstrap_ci(rate, n=len(g_num), n_resamples=n_resamples, seed=seed,
                        confidence=confidence)


def judge_agreement(human: Sequence[str], judge: Sequence[str | None], *,
                    groups: Sequence | None = None, n_resamples: int = 1000, seed: int = 0,
                    confidence: float = 0.95) -> dict:
    """Agreement figures of one judge's verdicts with human winners (see the module doc)."""
    from ...agreement import cohen_kappa

    h = np.asarray(human, dtype=object)
    j = np.asarray([v if v in WINNERS else None for v in judge], dtype=object)
    if len(h) != len(j):
        raise DataError(f"{len(h)} human labels but {len(j)} judge verdicts", field="judge")
    bad = [x for x in h if x not in WINNERS]
    if bad:
        raise DataError(f"expected human winners in {WINNERS}, found {bad[0]!r}", field="winner")
    decided = np.isin(h, ("a", "b"))
    has = np.array([v is not None for v in j])
    agree = decided & has & (j == h)
    j_tie = decided & (j == "tie")
    missing = decided & ~has
    disagree = decided & has & ~agree & ~j_tie
    _, inv = np.unique(np.asarray(groups if groups is not None else np.arange(len(h))),
                       return_inverse=True)
    opts = dict(n_resamples=n_resamples, seed=seed, confidence=confidence)
    full = _interval(agree.astype(float), decided.astype(float), inv, **opts)
    excl = _interval(agree.astype(float), (agree | disagree).astype(float), inv, **opts)
    code = {"a": 0, "tie": 1, "b": 2}
    kappa = cohen_kappa([code[x] for x in h[has]], [code[x] for x in j[has]])
    nan = float("nan")
    return {
        "agreement": full.estimate if full else nan,
        "ci_low": full.low if full else nan, "ci_high": full.high if full else nan,
        "agreement_excl_judge_ties": excl.estimate if excl else nan,
        "excl_ci_low": excl.low if excl else nan, "excl_ci_high": excl.high if excl else nan,
        "kappa": kappa, "n_pairs": int(len(h)), "n_decided": int(decided.sum()),
        "human_ties": int((h == "tie").sum()), "judge_ties": int(j_tie.sum()),
        "judge_missing": int(missing.sum()), "agree": int(agree.sum()),
        "disagree": int(disagree.sum()),
    }


def meta_table(human: Sequence[str], judges: Mapping[str, Sequence[str | None]], *,
               groups: Sequence | None = None, ceiling: tuple[float, int] | None = None,
               n_resamples: int = 1000, seed: int = 0, confidence: float = 0.95) -> pd.DataFrame:
    """One row per judge, best agreement first; ``ceiling = (inter-annotator agreement, items
    labelled twice)`` adds a ``(inter-annotator)`` row. Every judge is bootstrapped with the
    same seed, so their intervals come from the same resamples."""
    rows = [{"judge": name, **judge_agreement(human, v, groups=groups, n_resamples=n_resamples,
                                              seed=seed, confidence=confidence)}
            for name, v in judges.items()]
    out = pd.DataFrame(rows).sort_values("agreement", ascending=False, ignore_index=True)
    out.insert(0, "rank", range(1, len(out) + 1))
    if ceiling is not None:
        out = pd.concat([out, pd.DataFrame([{"judge": "(inter-annotator)",
                                             "agreement": ceiling[0],
                                             "n_pairs": ceiling[1]}])], ignore_index=True)
    return out


def choice_ceiling(choices: Sequence) -> tuple[float, int] | None:
    """(percent agreement, items labelled by two or more annotators) of pairwise choices, or
    None when no item was labelled twice."""
    from ...agreement import CHOICE_ASPECT, pooled_percent_agreement, rating_matrices

    m = rating_matrices(list(choices)).get(CHOICE_ASPECT)
    if m is None:
        return None
    data = m.to_numpy(dtype=float)                  # (annotators, items)
    twice = (~np.isnan(data)).sum(axis=0) >= 2
    if not twice.any():
        return None
    return float(pooled_percent_agreement(data[:, twice])), int(twice.sum())


# ------------------------------------------------------------------ SummEval as pairs


def summeval_pairs(table: pd.DataFrame, *, aspect: str = "overall", max_inputs: int | None = None,
                   pairs_per_input: int | None = None, seed: int = 0) -> pd.DataFrame:
    """Two systems' summaries of one document per row, the expert mean deciding (``overall`` =
    the mean of the four aspects; equal means are a tie): ``input, source, system_a, system_b,
    row_a, row_b, output_a, output_b, human``. ``pairs_per_input`` draws that many of the
    document's system pairs (seeded); ``max_inputs`` keeps the first documents. Two systems
    that wrote the same text are not a pair (no judge can separate them, though SummEval's
    experts rated the copies separately); their number is ``frame.attrs["identical_skipped"]``."""
    from ..correlation_inputs import SUMMEVAL_ASPECTS

    if aspect == "overall":
        score = table[list(SUMMEVAL_ASPECTS)].mean(axis=1).to_numpy()
    elif aspect in table.columns:
        score = table[aspect].to_numpy(dtype=float)
    else:
        raise DataError(f"unknown aspect; expected overall or one of {SUMMEVAL_ASPECTS}",
                        field="aspect")
    rng = np.random.default_rng(seed)
    docs = list(dict.fromkeys(table["doc_id"]))[:max_inputs]
    parts, identical = [], 0
    outputs = table["output"].to_numpy()
    for doc in docs:
        rows = np.flatnonzero(table["doc_id"].to_numpy() == doc)
        pairs = list(itertools.combinations(rows, 2))
        distinct = [(a, b) for a, b in pairs if outputs[a].strip() != outputs[b].strip()]
        identical += len(pairs) - len(distinct)
        pairs = distinct
        if pairs_per_input is not None and pairs_per_input < len(pairs):
            pairs = [pairs[k] for k in sorted(rng.choice(len(pairs), pairs_per_input,
                                                         replace=False))]
        for ra, rb in pairs:
            # aspect means are multiples of 1/12: round before comparing so equal is equal
            sa, sb = round(float(score[ra]), 9), round(float(score[rb]), 9)
            parts.append({"input": doc, "source": table["source"].iat[ra],
                          "system_a": table["system"].iat[ra], "system_b": table["system"].iat[rb],
                          "row_a": int(ra), "row_b": int(rb),
                          "output_a": table["output"].iat[ra], "output_b": table["output"].iat[rb],
                          "human": "a" if sa > sb else "b" if sb > sa else "tie"})
    if not parts:
        raise DataError("no SummEval document has two different summaries", field="doc_id")
    frame = pd.DataFrame(parts)
    frame.attrs["identical_skipped"] = identical
    return frame
