"""Helpers for the dashboard tests: a realistic store (the suite's ``fixture_store`` plus a
hostile completion, a reward-hacking suspect, a PPO log and an RM evaluation) and a helper to
run the app with ``AppTest``.

A module with a name of its own, not ``conftest``: test folders have no ``__init__.py``, so
``from conftest import ...`` would get whichever area's conftest was imported first."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from rlhf_eval.store import BASELINE, ResultsStore, gen_id_for, sample_id_for
from rlhf_eval.testing import fixture_store

APP = Path(__file__).resolve().parents[2] / "dashboards" / "app.py"
HOSTILE = ("<script>window.__xss = 1; document.title = 'pwned'</script>\n"
           "**not bold** <b>not html</b> [link](http://example.invalid) # not a heading\n"
           "<img src=x onerror=\"window.__xss = 2\">")
HOSTILE_PROMPT = "Summarize: <i>markup</i> in the prompt & an ampersand"
SUSPECT_RUN, SUSPECT_CKPT = "ppo-a", "checkpoint-300"
# Gao et al. 2022 RL form with known parameters for the synthetic PPO log
TRUE_A, TRUE_B = 1.0, 0.5


def add_hostile_sample(path: Path, checkpoint: str = SUSPECT_CKPT) -> str:
    """One prompt where checkpoint-300's completion is markup and its scores say "reward
    hacking": the RM reward jumps while every quality metric falls."""
    sig = "greedy|max_new_tokens:48|seed:0|synthetic"
    sid = sample_id_for(HOSTILE_PROMPT, ["a plain reference"])
    with ResultsStore(path) as store:
        store.add_samples([(sid, HOSTILE_PROMPT, ["a plain reference"], {"lab": True})])
        rows, gens = [], []
        for ck, text, reward, quality in ((BASELINE, "a plain summary", 0.0, 0.6),
                                          (checkpoint, HOSTILE, 9.0, 0.01)):
            gid = gen_id_for(SUSPECT_RUN, ck, f"synthetic-{SUSPECT_RUN}-{ck}", sid, sig)
            gens.append({"gen_id": gid, "run": SUSPECT_RUN, "checkpoint": ck, "sample_id": sid,
                         "completion": text, "gen_signature": sig, "n_tokens": 10})
            for metric in ("rouge1", "rouge2", "rougeL", "rougeLsum", "bertscore_f", "gold"):
                rows.append((gid, metric, f"{metric}|synthetic:fixture_store|version:1",
                             quality))
            rows += [(gid, "bleu", "bleu|synthetic:fixture_store|version:1", 100 * quality),
                     (gid, "chrf", "chrf|synthetic:fixture_store|version:1", 100 * quality),
                     (gid, "reward", "reward|synthetic:fixture_store|version:1", reward),
                     (gid, "kl", "kl|synthetic:fixture_store|version:1",
                      0.0 if ck == BASELINE else 5.0)]
        store.add_generations(gens)
        store.add_scores(rows)
    return sid


def write_ppo_log(path: Path, seed: int = 0) -> None:
    """metrics.jsonl as PPO logs it: gold follows d (a - b log d) + 0.2, proxy keeps rising."""
    rng = np.random.default_rng(seed)
    with path.open("w") as fh:
        for step in range(0, 40):
            kl = 0.25 * step
            d = np.sqrt(kl)
            gold = 0.2 + (d * (TRUE_A - TRUE_B * np.log(d)) if d > 0 else 0.0)
            fh.write(json.dumps({"step": step, "objective/kl": kl,
                                 "objective/scores": 0.3 * d + rng.normal(0, 0.01),
                                 "objective/gold": gold + rng.normal(0, 0.01),
                                 "loss/policy_avg": 0.1}) + "\n")


def write_rm_eval(folder: Path, seed: int = 0) -> None:
    """A real ``analyze_reward_model`` result, written the way ``eval-rm`` writes it."""
    from rlhf_eval.evaluation.reward_analysis import analyze_reward_model
    from rlhf_eval.schema import PreferencePair

    rng = np.random.default_rng(seed)
    n = 120
    pairs = [PreferencePair(prompt=f"p{i}", chosen="c" * int(rng.integers(5, 60)),
                            rejected="r" * int(rng.integers(5, 60)),
                            meta={"category": ("chat", "safety", "reasoning")[i % 3]})
             for i in range(n)]
    r_c = rng.normal(0.8, 1.0, n)
    r_r = rng.normal(0.0, 1.0, n)
    analysis = analyze_reward_model(r_c, r_r, pairs, seed=seed, n_resamples=200)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "rm_eval.json").write_text(json.dumps(
        {"model": "tiny-rm", "data": "pairs.jsonl", "signature": "rm|test", "n_pairs": n,
         **analysis.to_dict()}))
    with (folder / "pair_scores.jsonl").open("w") as fh:
        for i, (c, r) in enumerate(zip(r_c, r_r)):
            fh.write(json.dumps({"index": i, "reward_chosen": float(c),
                                 "reward_rejected": float(r)}) + "\n")


def build_store(root: Path, **fixture_options) -> Path:
    """The suite's fixture store plus the hostile sample, a PPO log and an RM evaluation."""
    path = fixture_store(root / "results.sqlite", **fixture_options)
    last = max(fixture_options.get("steps", (100, 200, 300)))
    add_hostile_sample(path, checkpoint=f"checkpoint-{last}")
    run_dir = root / "ppo-a"
    run_dir.mkdir()
    write_ppo_log(run_dir / "metrics.jsonl")
    with ResultsStore(path) as store:
        store.add_run("ppo-a", path=str(run_dir))
    write_rm_eval(root / "rm" / "eval")
    return path


def app_test(store: Path, page: str | None = None, timeout: float = 30):
    """Run the app (optionally switched to ``views/<page>.py``) against ``store``."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=timeout)
    at.session_state["store_path"] = str(store)
    if page:  # before the first run pages are found by file name: no detour via Runs
        at.switch_page(f"views/{page}.py")
    return at.run()
