"""Win-rates of a run from stored scores and from an LLM judge (scripted engine), and the
`winrate` command, on the schema-true fixture store."""
import json

import numpy as np
import pytest
from judge_helpers import ScriptedEngine

from rlhf_eval.evaluation.judges import runs as jr
from rlhf_eval.evaluation.judges.llm import PairwiseJudge
from rlhf_eval.evaluation.judges.stats import lc_winrate
from rlhf_eval.evaluation.judges.templates import load_template
from rlhf_eval.evaluation.winrate import outcomes
from rlhf_eval.store import open_store
from rlhf_eval.testing import fixture_store


@pytest.fixture()
def store_path(tmp_path):
    return fixture_store(tmp_path / "run", runs=("ppo-a",))


def test_llm_winrates_on_a_run_cached_in_its_store(store_path):
    store = open_store(store_path)
    gens = store.generations("ppo-a")
    pairs = [("checkpoint-100", "baseline"), ("checkpoint-300", "baseline")]
    eng = ScriptedEngine()
    judge = PairwiseJudge(eng, load_template("pairwise"), name="llm:scripted")
    rows, frames = jr.llm_winrates(judge, gens, run="ppo-a", pairs=pairs, store=store,
                                   n_resamples=100)
    differ = [int((pg["x"] != pg["y"]).sum())
              for pg in (jr.paired_generations(gens, *p) for p in pairs)]
    assert len(rows) == 2 and eng.calls == 2 * sum(differ)    # identical pairs: no model call
    f = frames[pairs[0]]
    assert rows[0]["winrate"] == pytest.approx(f["outcome"].mean())
    assert rows[0]["n_identical"] == len(f) - differ[0]
    bt = jr.judge_strengths(frames, anchor="baseline", n_resamples=30)
    assert set(bt["player"]) == {"baseline", *[p[0] for p in pairs]}
    store.replace_winrates("ppo-a", rows)
    assert "llm:scripted" in set(store.winrates("ppo-a")["judge"])
    again = PairwiseJudge(ScriptedEngine(), load_template("pairwise"), name="llm:scripted")
    rows2, _ = jr.llm_winrates(again, gens, run="ppo-a", pairs=pairs, store=store,
                               n_resamples=100)
    assert again.model_calls == 0 and rows2[0]["winrate"] == rows[0]["winrate"]


def test_score_winrates_and_lc_equal_direct_computation(store_path):
    store = open_store(store_path)
    gens, scores = store.generations("ppo-a"), store.scores_frame("ppo-a")
    rows = jr.score_winrates(scores, gens, run="ppo-a", judges={"reward": True},
                             pairs=[("checkpoint-100", "references")], n_resamples=100)
    (row,) = rows
    pg = jr.paired_generations(gens, "checkpoint-100", "references")
    w = scores[scores.metric == "reward"].pivot(index="sample_id", columns="checkpoint",
                                                values="value")
    o = outcomes(w.loc[pg.sample_id, "checkpoint-100"].to_numpy(),
                 w.loc[pg.sample_id, "references"].to_numpy())
    assert row["winrate"] == pytest.approx(np.nanmean(o))
    d = pg["x"].str.len() - pg["y"].str.len()
    if (d > 0).any() and (d < 0).any():
        lc = lc_winrate(o, pg["x"].str.len(), pg["y"].str.len(), n_resamples=100)
        assert row["lc_winrate"] == pytest.approx(lc.lc_winrate)
    else:
        assert np.isnan(row["lc_winrate"]) and "same sign" in row["lc_note"]
    tab = jr.score_strengths(scores, "reward", higher_is_better=True, anchor="baseline",
                             n_resamples=50)
    assert tab.set_index("player").loc["baseline", "strength"] == 0.0
    assert (tab["ci_low"] <= tab["strength"] + 1e-12).all()


def test_winrate_cli(store_path, capsys):
    from rlhf_eval.cli import main

    run_dir = store_path.parent
    code = main(["winrate", "--run", str(run_dir), "--n-resamples", "50"])
    out = capsys.readouterr().out
    assert code == 0
    data = json.loads((run_dir / "winrate.json").read_text())
    judges = {row["judge"] for row in data["winrates"]}
    assert {"reward", "gold", "human"} <= judges
    assert set(data["strengths"]) == {"reward", "gold"}
    assert "LC win-rate" in out


def test_report_gates_on_an_llm_judge_winrate(store_path):
    """The LLM judge's rows land in the win-rate table; the report shows them and gates on
    them (fails only when the whole interval is below the bound); bad gates exit 2."""
    store = open_store(store_path)
    judge = PairwiseJudge(ScriptedEngine(), load_template("pairwise"), name="llm:scripted")
    rows, _ = jr.llm_winrates(judge, store.generations("ppo-a"), run="ppo-a",
                              pairs=[("checkpoint-300", "baseline")], store=store,
                              n_resamples=100)
    store.replace_winrates("ppo-a", rows)
    store.close()
    hi = rows[0]["ci_high"]

    from rlhf_eval.errors import ConfigError
    from rlhf_eval.report import build_report_data, render_markdown

    def gate(spec):
        data = build_report_data(run_dir=store_path.parent, gate_specs=[spec])
        return data, data.gates[0].passed

    data, passed = gate(f"winrate:llm:scripted<{min(1.0, hi + 0.01):.3f}")
    assert not passed and "llm:scripted" in render_markdown(data)
    assert gate(f"winrate:llm:scripted<{max(0.0, hi - 0.01):.3f}")[1]
    with pytest.raises(ConfigError, match="llm:nobody"):
        gate("winrate:llm:nobody<0.5")


@pytest.mark.slow  # two judged runs of a tiny model (~40-80 s on 2 loaded cores)
def test_winrate_cli_with_a_tiny_llm_judge(tmp_path, caplog):
    """`winrate --llm FOLDER` end to end with a locally built tiny Llama through the hf engine:
    LLM-judge rows land in the store; a second run sends nothing to the model."""
    from rlhf_eval.evaluation.judges.templates import BUILTINS
    from rlhf_eval.models import TinyModelConfig, build_tiny_causal_lm, train_bpe_tokenizer

    store_path = fixture_store(tmp_path / "run", runs=("ppo-a",), steps=(100, 200),
                               n_samples=4, n_pairwise_labels=2)
    store = open_store(store_path)
    texts = list(store.generations("ppo-a")["completion"]) + [BUILTINS["pairwise"][1]] * 3
    store.close()
    tok = train_bpe_tokenizer(texts, vocab_size=400)
    model = build_tiny_causal_lm(tok, TinyModelConfig(arch="llama", max_positions=2048))
    model.save_pretrained(tmp_path / "judge")
    tok.save_pretrained(tmp_path / "judge")
    from rlhf_eval.cli import main

    args = ["winrate", "--run", str(store_path.parent), "--llm", str(tmp_path / "judge"),
            "--judges", "reward", "--n-resamples", "30"]
    assert main(args) == 0
    store = open_store(store_path)
    n_answers = store.count("judgments")
    rows = store.winrates("ppo-a")
    assert n_answers > 0 and set(rows.loc[rows.judge == "llm:pairwise", "checkpoint"]) == {
        "checkpoint-100", "checkpoint-200"}
    first = rows.loc[rows.judge == "llm:pairwise", "winrate"].tolist()
    store.close()
    with caplog.at_level("INFO", logger="rlhf_eval.evaluation.judges.llm"):
        assert main(args) == 0
    assert "judged" not in caplog.text and "cached" in caplog.text   # all from the store
    store = open_store(store_path)
    assert store.count("judgments") == n_answers
    rows = store.winrates("ppo-a")
    assert rows.loc[rows.judge == "llm:pairwise", "winrate"].tolist() == first
    store.close()
    data = json.loads((store_path.parent / "winrate.json").read_text())
    assert "llm:pairwise" in data["strengths"]
