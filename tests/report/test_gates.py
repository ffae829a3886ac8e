"""Gate parsing and evaluation against hand computations."""
import numpy as np
import pandas as pd
import pytest

from rlhf_eval.errors import ConfigError
from rlhf_eval.gates import Gate, evaluate_gate, evaluate_gates, load_gates, parse_gate
from rlhf_eval.stats import paired_bootstrap_ci


@pytest.mark.parametrize("text, expected", [
    ("gold:drop>0.02", Gate("gold", max_drop=0.02)),
    ("rougeL:drop>5%", Gate("rougeL", max_drop=5.0, relative=True)),
    ("kl:>12", Gate("kl", max=12.0)),
    ("distinct_2:<0.3", Gate("distinct_2", min=0.3)),
    (" reward : drop > 0 ", Gate("reward", max_drop=0.0)),
])
def test_parse_gate(text, expected):
    assert parse_gate(text) == expected


@pytest.mark.parametrize("text", ["gold", "gold:drop<0.1", "kl:>=3", "kl:>5%", "gold:drop>-1",
                                  ":drop>1", "gold:drop>abc"])
def test_parse_gate_rejects_malformed(text):
    with pytest.raises(ConfigError) as err:
        parse_gate(text)
    assert text.strip() in str(err.value) or "must" in str(err.value)


def test_bootstrap_ci_is_seeded_and_brackets_the_mean():
    d = np.random.default_rng(1).normal(0.5, 1.0, size=200)
    lo, hi = paired_bootstrap_ci(d, seed=3)
    assert (lo, hi) == paired_bootstrap_ci(d, seed=3)
    assert lo < d.mean() < hi
    # normal-theory interval as the independent check: within 15% in width
    se = d.std(ddof=1) / np.sqrt(len(d))
    assert abs((hi - lo) - 2 * 1.96 * se) < 0.15 * 2 * 1.96 * se


def _scores(base, ck):
    ids = [f"s{i}" for i in range(len(base))]
    return dict(zip(ids, base)), dict(zip(ids, ck))


def test_drop_gate_significance_aware():
    rng = np.random.default_rng(0)
    base = rng.normal(1.0, 0.3, size=100)
    b, c = _scores(base, base - 0.05 + rng.normal(0, 0.01, size=100))  # clear small drop
    # allowed 0.02: the whole CI is below -0.02 -> fail
    r = evaluate_gate(Gate("gold", max_drop=0.02), c, b, checkpoint="ck", baseline="base")
    assert not r.passed and r.diff == pytest.approx(np.mean(list(c.values())) - base.mean())
    assert r.ci_high < -0.02
    # allowed 0.1: passes
    assert evaluate_gate(Gate("gold", max_drop=0.1), c, b).passed


def test_significance_gives_noisy_drops_the_benefit_of_the_doubt():
    rng = np.random.default_rng(0)
    base = rng.normal(1.0, 0.3, size=20)
    noise = rng.normal(0, 0.5, size=20)
    b, c = _scores(base, base - 0.03 + noise - noise.mean())  # noisy, small drop of exactly 0.03
    assert evaluate_gate(Gate("gold", max_drop=0.0), c, b).passed
    assert not evaluate_gate(Gate("gold", max_drop=0.0, significance=False), c, b).passed


def test_lower_is_better_and_relative_and_absolute():
    b, c = _scores([1.0] * 10, [1.3] * 10)  # KL-like: went up by 0.3
    assert not evaluate_gate(Gate("kl", max_drop=0.1, significance=False), c, b,
                             higher_is_better=False).passed
    assert evaluate_gate(Gate("kl", max_drop=0.1, significance=False), c, b).passed
    # relative, baseline 1.3 -> checkpoint 1.0: a drop of 23.1% of the baseline
    assert not evaluate_gate(Gate("x", max_drop=20, relative=True, significance=False), b, c).passed
    assert evaluate_gate(Gate("x", max_drop=25, relative=True, significance=False), b, c).passed
    assert not evaluate_gate(Gate("kl", max=1.2), c, None).passed
    assert evaluate_gate(Gate("kl", max=1.5), c, None).passed
    assert evaluate_gate(Gate("kl", min=1.2), c, None).passed


def test_missing_values_are_not_zeros():
    b, c = _scores([1.0, 1.0, 1.0], [1.0, float("nan"), 1.0])
    r = evaluate_gate(Gate("gold", max_drop=0.0, significance=False), c, b)
    assert r.passed and r.n == 2


def test_evaluate_gates_unknown_metric_suggests():
    df = pd.DataFrame({"checkpoint": ["b", "c"], "sample_id": ["1", "1"],
                       "metric": ["rougeL", "rougeL"], "value": [0.3, 0.2]})
    with pytest.raises(ConfigError, match="did you mean 'rougeL'"):
        evaluate_gates([Gate("rougel", max_drop=0)], df, checkpoint="c", baseline="b")


def test_load_gates_yaml(tmp_path):
    f = tmp_path / "g.yaml"
    f.write_text("gates:\n  - {metric: gold, max_drop: 0.02}\n  - 'kl:>12'\ncheckpoint: last\n")
    gates, opts = load_gates(f)
    assert gates == [Gate("gold", max_drop=0.02), Gate("kl", max=12.0)]
    assert opts == {"checkpoint": "last"}
    f.write_text("gates:\n  - {metric: gold, max_drop: 0.02, bogus: 1}\n")
    with pytest.raises(ConfigError, match=r"gates\[0\].*bogus"):
        load_gates(f)
    f.write_text("gates:\n  - {metric: gold}\n")
    with pytest.raises(ConfigError, match="exactly one"):
        load_gates(f)


def test_gate_result_with_undefined_interval_serialises_as_null():
    import json

    b, c = _scores([1.0], [0.5])  # one sample: no bootstrap interval
    r = evaluate_gate(Gate("gold", max_drop=0.1), c, b)
    assert not r.passed  # falls back to the mean change (-0.5 < -0.1)
    d = r.to_dict()
    assert d["ci_low"] is None and d["ci_high"] is None
    json.dumps(d, allow_nan=False)
