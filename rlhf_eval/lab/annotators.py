"""Simulated annotators: Bradley-Terry on the gold reward, with noise and a length bias.

An annotator sees utility ``u(y) = gold(y) + length_bias * words(y) / budget`` and prefers
``a`` over ``b`` with the Bradley-Terry probability ``sigmoid((u(a) - u(b)) / temperature)``
(Bradley & Terry 1952; the model the reward model is trained under, Christiano et al. 2017).
Rankings are Plackett-Luce draws with the same scores (Gumbel-max trick: sort ``u / T + Gumbel``),
whose pairwise marginals reduce to the BT probability. Likert ratings are the aspect mapped
linearly to 1..5 plus Gaussian noise, rounded and clipped.

Because the probabilities are known, so is what the data can teach:

- :func:`expected_agreement` / :func:`annotator_gold_agreement`: how often an annotator should
  pick the gold-better completion (the mean of its BT probabilities), next to how often it did.
- :func:`label_ceiling`: the best expected accuracy any reward model can reach against the
  annotators' labels, ``mean(max(p, 1 - p))``; a model that knows the gold reward exactly
  reaches ``expected_agreement`` (lower when the length bias flips some pairs).
- :func:`rm_ceilings`: the same for a reward model, which scores a completion without knowing
  who will judge it: the best such model ranks by the annotator *mix*, so its accuracy against
  the labels and against the gold reward are both computable (the targets for an RM trained on
  these annotators' pairs).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from ..errors import DataError
from ..schema import Judgement, PreferencePair, Ranking
from .gold import gold_reward, word_budget, word_count


@dataclass(frozen=True)
class Annotator:
    name: str
    temperature: float = 0.2     # BT noise: larger is noisier
    length_bias: float = 0.0     # utility per budget-length of text
    rating_noise: float = 0.5    # sd of Likert noise, in rating points

    def __post_init__(self):
        if not self.temperature > 0:
            raise DataError(f"expected a positive temperature, found {self.temperature}",
                            field="temperature")
        if self.rating_noise < 0:
            raise DataError(f"expected a non-negative rating noise, found {self.rating_noise}",
                            field="rating_noise")

    def utility(self, prompt: str, completion: str, gold: float | None = None) -> float:
        if gold is None:
            gold = gold_reward(prompt, completion)["gold"]
        return gold + self.length_bias * word_count(completion) / word_budget(prompt)

    def p_prefer(self, prompt: str, a: str, b: str) -> float:
        """P(this annotator prefers ``a`` over ``b``) under its BT model."""
        return _sigmoid((self.utility(prompt, a) - self.utility(prompt, b)) / self.temperature)


DEFAULT_ANNOTATORS: tuple[Annotator, ...] = (
    Annotator("careful", temperature=0.1, length_bias=0.0, rating_noise=0.3),
    Annotator("typical", temperature=0.25, length_bias=0.2, rating_noise=0.5),
    Annotator("hasty", temperature=0.5, length_bias=0.5, rating_noise=0.8),
)


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


# ------------------------------------------------------------------------------------ pairs


def annotate_pair(rng: np.random.Generator, annotator: Annotator, prompt: str, a: str, b: str,
                  meta: dict | None = None) -> PreferencePair:
    """The annotator's choice between ``a`` and ``b``; ``meta`` records both gold scores and
    ``p_gold_better``, the probability that it picks the gold-better side."""
    gold_a, gold_b = gold_reward(prompt, a)["gold"], gold_reward(prompt, b)["gold"]
    if gold_a == gold_b:
        raise DataError("a lab pair needs two completions with different gold rewards",
                        field="rejected")
    p_a = _sigmoid((annotator.utility(prompt, a, gold_a) - annotator.utility(prompt, b, gold_b))
                   / annotator.temperature)
    picks_a = bool(rng.random() < p_a)
    chosen, rejected = (a, b) if picks_a else (b, a)
    g_c, g_r = (gold_a, gold_b) if picks_a else (gold_b, gold_a)
    p_gold_better = p_a if gold_a > gold_b else 1.0 - p_a
    return PreferencePair(prompt, chosen, rejected, annotator=annotator.name, meta={
        **(meta or {}), "gold_chosen": g_c, "gold_rejected": g_r,
        "p_gold_better": p_gold_better})


def _pair_stats(pairs: Iterable[PreferencePair]):
    rows = []
    for i, p in enumerate(pairs):
        try:
            g_c, g_r = float(p.meta["gold_chosen"]), float(p.meta["gold_rejected"])
            prob = float(p.meta["p_gold_better"])
        except (KeyError, TypeError, ValueError):
            raise DataError("expected a lab pair with meta gold_chosen, gold_rejected and "
                            "p_gold_better", line=i + 1, field="meta") from None
        if g_c != g_r:
            rows.append((p.annotator or "", g_c > g_r, prob))
    if not rows:
        raise DataError("no pair with a gold-better side", field="meta")
    return rows


def expected_agreement(pairs: Iterable[PreferencePair]) -> float:
    """Mean over pairs of P(annotator picks the gold-better completion)."""
    return float(np.mean([prob for _, _, prob in _pair_stats(pairs)]))


def label_ceiling(pairs: Iterable[PreferencePair]) -> float:
    """Best expected accuracy any model can reach against these annotators' labels:
    ``mean(max(p, 1 - p))`` (the Bayes classifier predicts the likelier label of each pair)."""
    return float(np.mean([max(prob, 1 - prob) for _, _, prob in _pair_stats(pairs)]))


def rm_ceilings(pairs: Sequence[PreferencePair],
                annotators: Sequence[Annotator] = DEFAULT_ANNOTATORS) -> dict[str, float]:
    """Expected accuracy of the best annotator-agnostic reward model on ``pairs``.

    The lab draws each pair's annotator uniformly from ``annotators``, so the best a single
    reward function can do is to prefer the side that the annotator mix prefers:
    ``q = mean_a P_a(gold-better side wins)``. That model scores ``label`` = mean over pairs of
    ``p if q > 1/2 else 1 - p`` against the labels (``p``: P(the pair's own annotator picks the
    gold-better side)), and ``gold`` = the share of pairs with ``q > 1/2`` against the gold
    reward. ``label`` <= :func:`label_ceiling`, which may also use the annotator's identity.
    """
    by_name = {a.name: a for a in annotators}
    labels, golds = [], []
    for i, pair in enumerate(pairs):
        g_c, g_r = (float(pair.meta.get(k, "nan")) for k in ("gold_chosen", "gold_rejected"))
        if pair.annotator not in by_name or not math.isfinite(g_c - g_r):
            raise DataError(f"expected a lab pair by one of {sorted(by_name)} with gold meta, "
                            f"found annotator {pair.annotator!r}", line=i + 1, field="annotator")
        if g_c == g_r:
            continue
        # (text, gold) of the gold-better and gold-worse sides; the gold comes from the meta, so
        # no completion is scored again
        hi, lo = ((pair.chosen, g_c), (pair.rejected, g_r)) if g_c > g_r else \
            ((pair.rejected, g_r), (pair.chosen, g_c))

        def p_better(a: Annotator) -> float:
            return _sigmoid((a.utility(pair.prompt, *hi) - a.utility(pair.prompt, *lo))
                            / a.temperature)

        q = float(np.mean([p_better(a) for a in annotators]))
        p = p_better(by_name[pair.annotator])
        labels.append(p if q > 0.5 else 1.0 - p)
        golds.append(q > 0.5)
    if not labels:
        raise DataError("no pair with a gold-better side", field="meta")
    return {"label": float(np.mean(labels)), "gold": float(np.mean(golds)), "n": len(labels)}


def annotator_gold_agreement(pairs: Iterable[PreferencePair]):
    """Per annotator (and ``all``): pairs ``n``, empirical agreement with the gold reward
    ``agree``, the rate its noise implies ``expected``, the binomial standard error ``se`` of
    the empirical rate (Poisson-binomial: ``sqrt(sum p(1-p)) / n``) and ``z``."""
    import pandas as pd

    rows = _pair_stats(pairs)
    df = pd.DataFrame(rows, columns=["annotator", "agree", "p"])
    out = []
    for name, g in [*df.groupby("annotator", sort=True), ("all", df)]:
        n = len(g)
        se = math.sqrt(float((g.p * (1 - g.p)).sum())) / n
        agree, expected = float(g.agree.mean()), float(g.p.mean())
        out.append({"annotator": name, "n": n, "agree": agree, "expected": expected, "se": se,
                    "z": (agree - expected) / se if se > 0 else 0.0})
    return pd.DataFrame(out).set_index("annotator")


# --------------------------------------------------------------------------------- rankings


def annotate_ranking(rng: np.random.Generator, annotator: Annotator, prompt: str,
                     completions: Sequence[str], meta: dict | None = None) -> Ranking:
    """A Plackett-Luce ranking (best first) of ``completions``."""
    golds = [gold_reward(prompt, c)["gold"] for c in completions]
    scores = np.array([annotator.utility(prompt, c, g) for c, g in zip(completions, golds)])
    noisy = scores / annotator.temperature + rng.gumbel(size=len(scores))
    order = np.argsort(-noisy, kind="stable")
    return Ranking(prompt, [completions[int(i)] for i in order], annotator.name, meta={
        **(meta or {}), "gold": [golds[int(i)] for i in order]})


# ---------------------------------------------------------------------------------- ratings

# Likert aspect -> (gold column, low, high): the gold range mapped linearly onto 1..5
RATING_ASPECTS: dict[str, tuple[str, float, float]] = {
    "coverage": ("gold_coverage", 0.0, 1.0),
    "faithfulness": ("gold_invented", -1.0, 0.0),
    "brevity": ("gold_brevity", -1.0, 0.0),
    "overall": ("gold", -2.0, 1.0),
}


def to_likert(value: float, low: float, high: float) -> float:
    """The latent (unrounded) 1..5 position of ``value`` in ``[low, high]``."""
    return 1.0 + 4.0 * (value - low) / (high - low)


def rate_sample(rng: np.random.Generator, annotator: Annotator, prompt: str, completion: str,
                sample_id: str) -> list[Judgement]:
    """1-5 ratings of one completion on each aspect of :data:`RATING_ASPECTS`. The overall
    rating sees the annotator's utility (so its length bias), the others the gold aspect."""
    gold = gold_reward(prompt, completion)
    out = []
    for aspect, (column, low, high) in RATING_ASPECTS.items():
        value = (annotator.utility(prompt, completion, gold["gold"]) if aspect == "overall"
                 else gold[column])
        latent = to_likert(value, low, high) + rng.normal(0.0, annotator.rating_noise)
        score = float(min(5, max(1, round(latent))))
        out.append(Judgement(sample_id, aspect, score, annotator.name,
                             meta={"gold": gold[column]}))
    return out
