"""Pairwise/pointwise LLM judges with a scripted engine: exact verdicts, both orders, parse
failures, the store cache."""
import numpy as np
import pytest
from judge_helpers import ScriptedEngine

from rlhf_eval.errors import ConfigError, DataError
from rlhf_eval.evaluation.judges.llm import (JudgeSettings, PairItem, PairwiseJudge,
                                             PointwiseJudge)
from rlhf_eval.evaluation.judges.templates import load_template
from rlhf_eval.store import ResultsStore

ITEMS = [PairItem("1", "q1", "a good answer", "a bad answer"),
         PairItem("2", "q2", "meh", "a good one"),
         PairItem("3", "q3", "plain", "also plain")]


def test_logprob_verdict_averages_the_two_orders(tmp_path):
    eng = ScriptedEngine(first_bias=0.1)
    judge = PairwiseJudge(eng, load_template("pairwise"))
    df = judge.judge(ITEMS, store=ResultsStore(tmp_path / "s.sqlite"))
    assert eng.calls == 6
    # item 1: a good. order ab: first good -> p_first = 0.9 -> (0.81, 0.09, 0.1);
    # order ba: first bad -> p_first = 0.3 -> (0.27, 0.63, 0.1). P(a) = (0.81 + 0.63) / 2
    r = df.iloc[0]
    assert r.p_a == pytest.approx((0.81 + 0.63) / 2) and r.p_b == pytest.approx((0.09 + 0.27) / 2)
    assert r.p_tie == pytest.approx(0.1) and r.verdict == "a" and r.outcome == 1.0
    assert (r.first_ab, r.first_ba) == ("first", "second")
    assert df.iloc[1].verdict == "b" and df.iloc[1].outcome == 0.0
    # item 3: no quality difference; the position pull cancels over the two orders
    r = df.iloc[2]
    assert r.p_a == pytest.approx(r.p_b) and r.verdict == "tie" and r.outcome == 0.5
    assert (r.first_ab, r.first_ba) == ("first", "first")      # per order: position bias


def test_cache_makes_reruns_free_and_signature_tracks_settings(tmp_path):
    store = ResultsStore(tmp_path / "s.sqlite")
    eng = ScriptedEngine()
    first = PairwiseJudge(eng, load_template("pairwise")).judge(ITEMS[:2], store=store)
    eng2 = ScriptedEngine()
    again = PairwiseJudge(eng2, load_template("pairwise"))
    second = again.judge(ITEMS, store=store)           # one new item: only its 2 orders run
    assert eng2.calls == 2 and again.model_calls == 2
    assert second.iloc[:2][["p_a", "verdict"]].equals(first[["p_a", "verdict"]])
    assert store.count("judgments") == 6
    other = PairwiseJudge(ScriptedEngine(first_bias=0.0), load_template("pairwise"))
    assert other.signature != again.signature
    parse = PairwiseJudge(ScriptedEngine(), load_template("pairwise"), JudgeSettings(mode="parse"))
    assert "mode=parse" in parse.signature and parse.signature != again.signature


def test_parse_mode_counts_failures_and_inconsistency():
    answers = {(True, False): "[[A]]", (False, True): "Verdict: B",
               (False, False): "I cannot tell"}
    eng = ScriptedEngine(supports_logprobs=False, answers=answers)
    judge = PairwiseJudge(eng, load_template("pairwise"))   # auto -> parse
    df = judge.judge(ITEMS)
    assert df.iloc[0].verdict == "a" and df.iloc[1].verdict == "b"
    r = df.iloc[2]
    assert r.first_ab is None and r.first_ba is None and r.verdict is None
    assert np.isnan(r.outcome) and r.raw_ab == "I cannot tell"
    # one order unparsed: the other decides; two parsed orders that disagree: a tie
    answers2 = {(True, False): "[[A]]", (False, True): "[[A]]"}
    df2 = PairwiseJudge(ScriptedEngine(supports_logprobs=False, answers=answers2),
                        load_template("pairwise")).judge(ITEMS[:1])
    assert df2.iloc[0].verdict == "tie"          # a first -> A (a); b first -> A (b): flip
    with pytest.raises(ConfigError, match="no log-probabilities"):
        PairwiseJudge(eng, load_template("pairwise"), JudgeSettings(mode="logprobs"))


def test_template_files(tmp_path):
    j2 = tmp_path / "t.j2"
    j2.write_text("Q: {{ instruction }}\n[Response A]\n{{ response_first }}\n[Response B]\n"
                  "{{ response_second }}\nA, B or C?")
    t = load_template(str(j2))
    assert t.jinja and "Q: hi" in t.render(instruction="hi", response_first="x",
                                          response_second="y")
    df = PairwiseJudge(ScriptedEngine(), t).judge(ITEMS[:1])
    assert df.iloc[0].verdict == "a"
    fmt = tmp_path / "t.txt"
    fmt.write_text("{instruction} {response_first}")
    with pytest.raises(DataError, match="response_second"):
        load_template(str(fmt))
    with pytest.raises(ConfigError, match="neither a built-in"):
        load_template("no-such-template")


def test_pointwise_expected_score():
    class PointEngine(ScriptedEngine):
        def option_logprobs(self, prompts, options):
            assert list(options) == ["1", "2", "3", "4", "5"]
            return np.log(np.tile([0.1, 0.1, 0.2, 0.2, 0.4], (len(prompts), 1)))

    scores = PointwiseJudge(PointEngine(), load_template("pointwise")).score(["q"], ["r"])
    assert scores[0] == pytest.approx(0.1 + 0.2 + 0.6 + 0.8 + 2.0)
    parse = PointwiseJudge(ScriptedEngine(supports_logprobs=False,
                                          answers={}), load_template("pointwise"))
    parse.engine.generate = lambda prompts, max_new_tokens: ["Rating: 4", "no idea"]
    np.testing.assert_array_equal(parse.score(["q", "q2"], ["r", "s"]), [4.0, np.nan])


def test_ab_verdict_rule_reads_the_same_cached_answers(tmp_path):
    store = ResultsStore(tmp_path / "s.sqlite")
    PairwiseJudge(ScriptedEngine(), load_template("pairwise")).judge(ITEMS, store=store)
    eng = ScriptedEngine()
    ab = PairwiseJudge(eng, load_template("pairwise"), JudgeSettings(verdict="ab"))
    df = ab.judge(ITEMS, store=store)
    assert eng.calls == 0                        # same answers, combined differently
    # item 1: order ab probs (0.81, 0.09, .1) -> 0.9; order ba (0.27, 0.63, .1) -> 0.7
    assert df.iloc[0].p_a == pytest.approx((0.81 / 0.90 + 0.63 / 0.90) / 2)
    assert df.iloc[0].verdict == "a" and (df.iloc[0].first_ab, df.iloc[0].first_ba) == (
        "first", "second")
    assert df.iloc[2].verdict == "tie" and df.iloc[2].first_ab == df.iloc[2].first_ba == "first"
