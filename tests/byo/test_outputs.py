"""Frictions 6, 9 and 10: saved RMs reproduce with a plain pipeline; clean logs off a
terminal and eval metrics in TensorBoard/W&B; metric registry complete in a fresh process and
rlhf-eval metrics through HF `evaluate` offline with the same numbers."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from rlhf_eval.cli import main


def test_saved_rm_reproduces_with_pipeline_defaults(world):
    from transformers import pipeline

    from rlhf_eval.rm.scorer import RewardScorer

    cfg = json.loads(open(os.path.join(world["rm"], "config.json")).read())
    assert cfg["problem_type"] == "regression"
    scorer = RewardScorer(world["rm"], device="cpu")
    prompts = ["Summarize: the cat sat.", "Hi", "Tell me a story about a dog and a cat."]
    completions = [" A cat sat.", " Hello there", " Once a dog met a cat and they played."]
    want = scorer.score(prompts, completions)
    pipe = pipeline("text-classification", model=world["rm"], device="cpu")
    got = [r["score"] for r in pipe([p + c for p, c in zip(prompts, completions)])]
    np.testing.assert_allclose(got, want, atol=1e-5)  # no sigmoid: raw reward
    # over-long inputs: the saved tokenizer cuts from the left, like `score`
    long_prompts = [" ".join(["word"] * 200) + p for p in prompts]
    want = scorer.score(long_prompts, completions)
    assert scorer.stats.truncated == 3
    got = [r["score"] for r in pipe([p + c for p, c in zip(long_prompts, completions)],
                                    truncation=True)]
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_logs_are_clean_off_a_terminal(fresh_world, tmp_path, capsys):
    """stderr to a pipe (as in CI): no \\r bars, no ANSI, no transformers bars or load
    report, no tokenizer length warnings, no FutureWarnings; eval-rm has --no-progress."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env.pop("TQDM_DISABLE", None)
    res = subprocess.run(
        [sys.executable, "-m", "rlhf_eval.cli", "eval", "--run", str(fresh_world["run"]),
         "--prompts", str(fresh_world["prompts"]), "--metrics", "length,reward",
         "--judges", "reward", "--max-new-tokens", "3", "--max-prompt-tokens", "200"],
        capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr
    log = res.stderr + res.stdout
    for noise in ("\r", "\x1b[", "Loading weights", "LOAD REPORT", "Token indices",
                  "FutureWarning", "past_key_values", "it/s]"):
        assert noise not in log, (noise, log)
    assert main(["eval-rm", "--model", str(fresh_world["rm"]), "--data", str(_pairs(tmp_path)),
                 "--out", str(tmp_path / "e"), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err and "scoring" not in err


def _pairs(tmp_path):
    from rlhf_eval.io import write_records
    from rlhf_eval.schema import PreferencePair

    path = tmp_path / "pairs.jsonl"
    write_records(path, [PreferencePair(f"q{i}", f" good answer {i}", f" bad {i}")
                         for i in range(4)])
    return path


def test_eval_metrics_to_tensorboard_and_wandb(fresh_world, tmp_path, monkeypatch):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from rlhf_eval.store import ResultsStore

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    run = fresh_world["run"]
    tb, wb = tmp_path / "tb", tmp_path / "wandb"
    assert main(["eval", "--run", str(run), "--prompts", str(fresh_world["prompts"]),
                 "--metrics", "length,reward", "--judges", "reward", "--max-new-tokens", "3",
                 "--no-progress", "--tensorboard", str(tb), "--wandb", "byo-test",
                 "--wandb-dir", str(wb)]) == 0
    with ResultsStore(run / "results.sqlite", readonly=True) as s:
        summary = s.checkpoint_summary(run="run")
        winrate = s.winrates(run="run").query("judge == 'reward' and tie_policy == 'half'")
    want = {int(st): m for st, m in zip(summary.query("metric == 'reward'")["step"],
                                        summary.query("metric == 'reward'")["mean"]) if st >= 0}
    acc = EventAccumulator(str(tb))
    acc.Reload()
    got = {e.step: e.value for e in acc.Scalars("eval/reward")}
    assert got == pytest.approx(want, abs=1e-6) and set(got) == {0, 5}  # training steps
    wr = {e.step: e.value for e in acc.Scalars("eval/winrate/reward_vs_baseline")}
    assert wr == pytest.approx({5: float(winrate["winrate"].iloc[0])})
    # the offline run file (protobuf records; wandb ships no Python reader any more): the
    # metric's key and its JSON-encoded values at both steps are in it
    files = list(wb.rglob("*.wandb"))
    assert len(files) == 1
    data = files[0].read_bytes()
    assert b"eval/reward" in data and b"eval/winrate/reward_vs_baseline" in data
    for step, value in want.items():
        assert json.dumps(value).encode() in data


def test_eval_tracker_not_installed_is_a_config_error(world, monkeypatch, capsys):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "wandb" else real(name, *a))
    assert main(["eval", "--run", str(world["run"]), "--prompts", world["prompts"],
                 "--wandb", "p", "--metrics", "roueg"]) == 2
    err = capsys.readouterr().err
    assert "'wandb' package is not installed" in err and "roueg" in err


def test_list_metrics_is_complete_in_a_fresh_process():
    res = subprocess.run([sys.executable, "-c", "from rlhf_eval.evaluation.metrics import "
                          "list_metrics; print(','.join(list_metrics()))"],
                         capture_output=True, text=True, timeout=60)
    names = set(res.stdout.strip().split(","))
    assert {"reward", "kl", "gold", "rouge", "bleu", "bertscore", "length"} <= names


def test_hf_evaluate_bridge_offline_same_numbers(tmp_path, monkeypatch):
    import evaluate
    import sacrebleu
    from rouge_score import rouge_scorer

    from rlhf_eval.evaluation.metrics import get_metric
    from rlhf_eval.hf_metric import module_path

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_MODULES_CACHE", str(tmp_path / "modules"))
    preds = ["the cat sat on the mat", "a quick brown fox", "hello world again"]
    refs = [["the cat is on the mat"], ["the quick brown fox jumps"], ["hello world"]]
    rouge = evaluate.load(module_path(), "rouge").compute(predictions=preds, references=refs)
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    want = np.mean([scorer.score(r[0], p)["rougeL"].fmeasure for p, r in zip(preds, refs)])
    assert rouge["rougeL"] == pytest.approx(want, abs=1e-12)
    assert rouge["signature"] == get_metric("rouge").signature()
    bleu = evaluate.load(module_path(), "bleu").compute(predictions=preds, references=refs)
    want = sacrebleu.corpus_bleu(preds, [[r[0] for r in refs]]).score
    assert bleu["bleu"] == pytest.approx(want, abs=1e-9)


def test_saved_encoder_rm_reproduces_with_pipeline(tmp_path):
    """Encoders read (prompt, completion) as a text pair; `score` cuts over-long pairs from
    the left of the prompt, which the pipeline does with truncation="only_first"."""
    from transformers import pipeline

    from rlhf_eval.models import minilm_path
    from rlhf_eval.rm.model import build_reward_model, save_reward_model
    from rlhf_eval.rm.scorer import RewardScorer

    rm = build_reward_model(minilm_path(), seed=0)
    assert rm.fmt == "pair"
    save_reward_model(rm, tmp_path / "rm", max_length=64)
    scorer = RewardScorer(str(tmp_path / "rm"), device="cpu")
    pipe = pipeline("text-classification", model=str(tmp_path / "rm"), device="cpu")
    prompts = ["Summarize: the cat sat.", "Hi", " ".join(["word"] * 200) + " Tell me more."]
    completions = [" A cat sat.", " Hello there", " " + " ".join(["answer"] * 30)]
    short = [{"text": p, "text_pair": c} for p, c in zip(prompts[:2], completions[:2])]
    np.testing.assert_allclose([r["score"] for r in pipe(short)],
                               scorer.score(prompts[:2], completions[:2]), atol=1e-5)
    pairs = [{"text": p, "text_pair": c} for p, c in zip(prompts, completions)]
    got = [r["score"] for r in pipe(pairs, truncation="only_first")]
    np.testing.assert_allclose(got, scorer.score(prompts, completions), atol=1e-5)
