"""Inter-annotator agreement for Likert judgements and pairwise choices.

- percent agreement: the share of rating pairs (two annotators, one item) that agree exactly;
  with many annotators the pairs are pooled over items, so two annotators give plain agreement.
- Cohen's kappa (Cohen 1960), two annotators, chance-corrected; scikit-learn's
  ``cohen_kappa_score``. Ordinal data use linear weights, interval data quadratic weights
  (Cohen 1968; quadratic-weighted kappa approaches the intraclass correlation).
- Krippendorff's alpha (Krippendorff 2011, "Computing Krippendorff's Alpha-Reliability"):
  any number of annotators, missing ratings, nominal/ordinal/interval; the ``krippendorff``
  package.
- agreement with an expert set: each non-expert annotator against the experts' consensus per
  item (nominal: the most frequent value, items where experts tie are left out; ordinal and
  interval: the lower median, so the consensus is always a value an expert gave).

Pairwise choices are oriented first: a choice of ``a`` for (x, y) is the same judgement as a
choice of ``b`` for (y, x), so every item is keyed by the sorted sample pair and coded
``a``=0, ``tie``=1, ``b``=2 (ordinal order: first sample better < tie < second better).
All tables are tidy pandas DataFrames (one row per aspect, or per aspect and annotator).
"""
from __future__ import annotations

import itertools
import statistics
import warnings
from collections import Counter
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np

from .errors import DataError
from .schema import Judgement, PairwiseChoice

if TYPE_CHECKING:
    import pandas as pd

LEVELS = ("nominal", "ordinal", "interval")
CHOICE_CODES = {"a": 0, "tie": 1, "b": 2}
_KAPPA_WEIGHTS = {"nominal": None, "ordinal": "linear", "interval": "quadratic"}
CHOICE_ASPECT = "choice"


def _check_level(level: str) -> str:
    if level not in LEVELS:
        raise DataError(f"unknown level of measurement {level!r}; expected one of {LEVELS}")
    return level


def _paired(a: Sequence, b: Sequence) -> tuple[list, list]:
    if len(a) != len(b):
        raise ValueError(f"the two rating lists differ in length ({len(a)} vs {len(b)})")
    keep = [(x, y) for x, y in zip(a, b) if not (_missing(x) or _missing(y))]
    return [x for x, _ in keep], [y for _, y in keep]


def _missing(x) -> bool:
    return x is None or (isinstance(x, float) and np.isnan(x))


# ============================================================================ coefficients


def percent_agreement(a: Sequence, b: Sequence) -> float:
    """Share of items both annotators rated on which they agree exactly (NaN if none)."""
    x, y = _paired(a, b)
    if not x:
        return float("nan")
    return float(np.mean([u == v for u, v in zip(x, y)]))


def cohen_kappa(a: Sequence, b: Sequence, *, level: str = "nominal") -> float:
    """Cohen's kappa of two annotators over the items both rated (NaN when undefined: fewer
    than 2 items, or both annotators always gave the same single value)."""
    from sklearn.metrics import cohen_kappa_score

    x, y = _paired(a, b)
    if len(x) < 2:
        return float("nan")
    labels = sorted(set(x) | set(y))
    if len(labels) < 2:
        return float("nan")  # 0/0: no variation, chance agreement is 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        value = cohen_kappa_score(x, y, labels=labels, weights=_KAPPA_WEIGHTS[_check_level(level)])
    return float(value)


def krippendorff_alpha(matrix, *, level: str = "nominal") -> float:
    """Krippendorff's alpha of a (annotators, items) matrix with NaN for missing ratings (NaN
    when undefined: fewer than two distinct values, or no item rated twice)."""
    import krippendorff

    data = np.asarray(matrix, dtype=float)
    if data.ndim != 2:
        raise ValueError(f"expected a 2-D (annotators, items) matrix, found shape {data.shape}")
    pairable = data[:, (~np.isnan(data)).sum(axis=0) >= 2]
    values = np.unique(pairable[~np.isnan(pairable)])
    if values.size < 2:
        return float("nan")
    return float(krippendorff.alpha(reliability_data=pairable,
                                    level_of_measurement=_check_level(level)))


def pooled_percent_agreement(matrix) -> float:
    """Share of agreeing rating pairs, pooled over items (each item contributes its
    annotator pairs); equals :func:`percent_agreement` for two annotators."""
    data = np.asarray(matrix, dtype=float)
    agree = total = 0
    for column in data.T:
        vals = column[~np.isnan(column)]
        for u, v in itertools.combinations(vals, 2):
            agree += u == v
            total += 1
    return agree / total if total else float("nan")


def mean_pairwise_kappa(matrix, *, level: str = "nominal") -> float:
    """Mean Cohen's kappa over annotator pairs that share at least two items (for two
    annotators: their kappa). NaN when no pair has a defined kappa."""
    data = np.asarray(matrix, dtype=float)
    kappas = [cohen_kappa(list(data[i]), list(data[j]), level=level)
              for i, j in itertools.combinations(range(data.shape[0]), 2)]
    kappas = [k for k in kappas if not np.isnan(k)]
    return float(np.mean(kappas)) if kappas else float("nan")


# ============================================================================ records -> matrices


def _annotator(record, index: int) -> str:
    if record.annotator is None:
        raise DataError("agreement needs an annotator id on every record", line=index + 1,
                        field="annotator", unit="record")
    return record.annotator


def _item_values(records: Iterable) -> dict[str, dict[tuple[str, str], float]]:
    """aspect -> {(annotator, item): value}; duplicates are an error."""
    table: dict[str, dict[tuple[str, str], float]] = {}
    for index, r in enumerate(records):
        if isinstance(r, Judgement):
            aspect, item, value = r.aspect, r.sample_id, r.score
        elif isinstance(r, PairwiseChoice):
            first, second = sorted((r.sample_a, r.sample_b))
            winner = r.winner if first == r.sample_a else {"a": "b", "b": "a"}.get(r.winner, "tie")
            aspect, item, value = CHOICE_ASPECT, f"{first} | {second}", CHOICE_CODES[winner]
        else:
            raise DataError(f"expected Judgement or PairwiseChoice records, found "
                            f"{type(r).__name__}", line=index + 1, unit="record")
        key = (_annotator(r, index), item)
        cell = table.setdefault(aspect, {})
        if key in cell:
            raise DataError(f"annotator {key[0]!r} rated item {item!r} twice on {aspect!r}",
                            line=index + 1, field="annotator", unit="record")
        cell[key] = float(value)
    return table


def rating_matrices(records: Iterable) -> dict[str, "pd.DataFrame"]:
    """aspect -> DataFrame (rows: annotators, columns: items, NaN: not rated)."""
    import pandas as pd

    out = {}
    for aspect, cells in _item_values(records).items():
        series = pd.Series(cells)
        out[aspect] = series.unstack(level=-1).sort_index().sort_index(axis=1)
    return out


def _default_level(records: list) -> str:
    return "nominal" if records and isinstance(records[0], PairwiseChoice) else "ordinal"


# ============================================================================ tables


def agreement_table(records: Iterable, *, level: str | None = None):
    """Per aspect: ``aspect, n_items, n_annotators, n_ratings, percent_agreement,
    cohen_kappa`` (two annotators: their kappa; more: mean over annotator pairs),
    ``krippendorff_alpha``, ``level``. Items rated once count in n_items but cannot agree."""
    import pandas as pd

    records = list(records)
    level = _check_level(level or _default_level(records))
    rows = []
    for aspect, m in rating_matrices(records).items():
        data = m.to_numpy(dtype=float)
        rows.append({"aspect": aspect, "n_items": m.shape[1], "n_annotators": m.shape[0],
                     "n_ratings": int((~np.isnan(data)).sum()),
                     "percent_agreement": pooled_percent_agreement(data),
                     "cohen_kappa": mean_pairwise_kappa(data, level=level),
                     "krippendorff_alpha": krippendorff_alpha(data, level=level),
                     "level": level})
    return pd.DataFrame(rows, columns=["aspect", "n_items", "n_annotators", "n_ratings",
                                       "percent_agreement", "cohen_kappa",
                                       "krippendorff_alpha", "level"])


def consensus(values: Sequence[float], level: str) -> float | None:
    """The experts' consensus on one item (None for a nominal tie)."""
    values = [v for v in values if not _missing(v)]
    if not values:
        return None
    if level == "nominal":
        ranked = Counter(values).most_common()
        if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
            return None
        return ranked[0][0]
    return statistics.median_low(values)


def expert_agreement(records: Iterable, experts: Sequence[str], *, level: str | None = None):
    """Each non-expert annotator against the expert consensus, per aspect: ``aspect,
    annotator, n_items`` (items both rated, with a consensus), ``percent_agreement,
    cohen_kappa, krippendorff_alpha, mean_abs_diff`` (in rating units; for choices in codes),
    ``n_no_consensus`` (items skipped because the experts tied)."""
    import pandas as pd

    records = list(records)
    level = _check_level(level or _default_level(records))
    experts = list(dict.fromkeys(experts))
    if not experts:
        raise DataError("name at least one expert annotator", field="expert")
    rows = []
    matrices = rating_matrices(records)
    known = set().union(*(set(m.index) for m in matrices.values())) if matrices else set()
    missing = [e for e in experts if e not in known]
    if missing:
        raise DataError(f"expert annotator(s) {missing} not found; annotators are "
                        f"{sorted(known)}", field="expert")
    for aspect, m in matrices.items():
        present = [e for e in experts if e in m.index]
        if not present:
            continue
        gold = [consensus(m.loc[present, item].tolist(), level) for item in m.columns]
        no_consensus = sum(g is None for g in gold) - int(m.loc[present].isna().all().sum())
        gold = [np.nan if g is None else g for g in gold]
        for annotator in m.index:
            if annotator in experts:
                continue
            mine = m.loc[annotator].tolist()
            x, y = _paired(mine, gold)
            rows.append({"aspect": aspect, "annotator": annotator, "n_items": len(x),
                         "percent_agreement": percent_agreement(mine, gold),
                         "cohen_kappa": cohen_kappa(mine, gold, level=level),
                         "krippendorff_alpha": krippendorff_alpha([mine, gold], level=level),
                         "mean_abs_diff": float(np.mean(np.abs(np.subtract(x, y))))
                         if x else float("nan"),
                         "n_no_consensus": no_consensus, "level": level})
    return pd.DataFrame(rows, columns=["aspect", "annotator", "n_items", "percent_agreement",
                                       "cohen_kappa", "krippendorff_alpha", "mean_abs_diff",
                                       "n_no_consensus", "level"])
