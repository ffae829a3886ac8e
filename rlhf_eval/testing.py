"""Test helpers other areas reuse: a realistic results store written without running models.

``fixture_store(path)`` writes a schema-true store (the same write API the suite uses):
2 PPO runs, each with the baseline (SFT, step 0) + 3 checkpoints + the ``references``
pseudo-checkpoint, 20 samples, every metric the suite writes, win-rates with bootstrap
intervals against every baseline, Bradley-Terry strengths, human judgments and a few pairwise
labels. The numbers are synthetic but shaped like a real PPO run: the reward rises with the
step, KL to the reference grows, completions get longer, and the gold reward rises then falls
(over-optimisation, Gao et al. 2022), so dashboards and reports have something to show.
Deterministic from ``seed``; a few scores are NULL (gold is missing on non-lab prompts, BLEU
on an empty completion) because real stores have those.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .store import BASELINE, REFERENCES, ResultsStore, gen_id_for, sample_id_for

#: score name -> higher is better (None: a diagnostic); the names the suite writes
#: with its default metrics (see docs/store.md)
FIXTURE_METRICS: dict[str, bool | None] = {
    "rouge1": True, "rouge2": True, "rougeL": True, "rougeLsum": True,
    "bleu": True, "chrf": True,
    "bertscore_p": True, "bertscore_r": True, "bertscore_f": True,
    "reward": True, "kl": None, "gold": True, "gold_coverage": True,
    "gold_invented": True, "gold_brevity": True,
    "length": None, "length_chars": None, "distinct_1": True, "distinct_2": True,
    "rep_2": False, "rep_4": False,
}
REFERENCE_FREE = {"reward", "gold", "gold_coverage", "gold_invented", "gold_brevity",
                  "length", "length_chars", "distinct_1", "distinct_2", "rep_2", "rep_4"}
_WORDS = ("the report says revenue grew while costs fell and the team hired two new engineers "
          "in march the plant in lyon opened late because of a strike").split()


def _text(rng: np.random.Generator, n_words: int) -> str:
    return " ".join(rng.choice(_WORDS, size=max(n_words, 1)))


def _scores(rng, step_frac: float, lab: bool, completion: str) -> dict[str, float]:
    """Synthetic scores of one completion at training progress ``step_frac`` in [0, 1]."""
    n_words = len(completion.split())
    overlap = float(np.clip(0.35 - 0.1 * step_frac + rng.normal(0, 0.08), 0, 1))
    kl = 0.0 if step_frac == 0 else float(max(0.0, 8 * step_frac ** 1.5 + rng.normal(0, 0.5)))
    d = np.sqrt(kl)
    coverage = float(np.clip(0.3 + 0.5 * d - 0.1 * d * d + rng.normal(0, 0.05), 0, 1))
    invented = -float(min(1.0, 0.5 * int(rng.poisson(0.2 + 0.1 * kl))))
    brevity = -float(min(1.0, max(0.0, n_words - 20) / 20))
    words = completion.split()
    bigrams = list(zip(words, words[1:]))
    grams4 = list(zip(words, words[1:], words[2:], words[3:]))
    lab_or_nan = (lambda v: v) if lab else (lambda v: np.nan)
    out = {
        "rouge1": overlap + 0.1, "rouge2": overlap * 0.5, "rougeL": overlap,
        "rougeLsum": overlap + 0.02,
        "bleu": 100 * overlap * 0.4 if n_words else np.nan, "chrf": 100 * (overlap + 0.1),
        "bertscore_p": 0.6 + overlap / 2, "bertscore_r": 0.55 + overlap / 2,
        "bertscore_f": 0.57 + overlap / 2,
        "reward": float(-0.5 + 1.5 * step_frac + rng.normal(0, 0.8)),
        "kl": kl, "gold": lab_or_nan(coverage + invented + brevity),
        "gold_coverage": lab_or_nan(coverage), "gold_invented": lab_or_nan(invented),
        "gold_brevity": lab_or_nan(brevity),
        "length": float(n_words), "length_chars": float(len(completion)),
        # distinct-n / seq-rep-n are undefined (NaN) without an n-gram, as in the metric
        "distinct_1": len(set(words)) / len(words) if words else np.nan,
        "distinct_2": len(set(bigrams)) / len(bigrams) if bigrams else np.nan,
        "rep_2": 1 - len(set(bigrams)) / len(bigrams) if bigrams else np.nan,
        "rep_4": 1 - len(set(grams4)) / len(grams4) if grams4 else np.nan,
    }
    return out


def _signature(metric: str) -> str:
    return f"{metric}|synthetic:fixture_store|version:1"


def fixture_store(path: str | Path, *, runs: tuple[str, ...] = ("ppo-a", "ppo-b"),
                  steps: tuple[int, ...] = (100, 200, 300), n_samples: int = 20,
                  seed: int = 0, n_pairwise_labels: int = 6) -> Path:
    """Write a synthetic but schema-true results store at ``path`` (a file, or a folder that
    gets ``results.sqlite``) and return the file path. Fast: no models, a few seconds."""
    from .evaluation.winrate import (baseline_pairs, human_winrate_rows, strengths_for_judge,
                                     winrate_rows)

    path = Path(path)
    if path.suffix != ".sqlite":
        path = path / "results.sqlite"
    rng = np.random.default_rng(seed)
    gen_signature = "greedy|max_new_tokens:48|seed:0|synthetic"
    samples = []
    for i in range(n_samples):
        prompt = f"Summarize document {i}: " + _text(rng, 25)
        refs = [_text(rng, 12)] + ([_text(rng, 10)] if i % 3 == 0 else [])
        meta = {"lab": i % 5 != 4, "index": i}
        samples.append((sample_id_for(prompt, refs), prompt, refs, meta))
    with ResultsStore(path) as store:
        store.add_samples(samples)
        store.set_directions(FIXTURE_METRICS)
        for r_i, run in enumerate(runs):
            store.add_run(run, path=f"runs/{run}", config={"synthetic": True, "seed": seed},
                          gen_signature=gen_signature)
            cks = [(BASELINE, 0)] + [(f"checkpoint-{s}", s) for s in steps]
            for ck, step in cks:
                store.add_checkpoint(run, ck, step=step, path=f"runs/{run}/{ck}",
                                     is_baseline=ck == BASELINE,
                                     model_hash=f"synthetic-{run}-{ck}")
            store.add_checkpoint(run, REFERENCES, step=-1, path=None, is_baseline=False,
                                 model_hash="references")
            score_rows = []
            for ck, step in cks + [(REFERENCES, -1)]:
                frac = 0.0 if step <= 0 else (step / max(steps)) * (1.0 + 0.3 * r_i)
                gens = []
                for sid, prompt, refs, meta in samples:
                    if ck == REFERENCES:
                        completion = refs[0]
                    else:
                        # one empty completion: a real (bad) model output the metrics must score
                        n = 0 if (ck == f"checkpoint-{steps[-1]}" and sid == samples[-1][0]) \
                            else int(8 + 30 * frac + rng.integers(0, 6))
                        completion = _text(rng, n) if n else ""
                    sig = "references" if ck == REFERENCES else gen_signature
                    gid = gen_id_for(run, ck, f"synthetic-{run}-{ck}", sid, sig)
                    gens.append({"gen_id": gid, "run": run, "checkpoint": ck, "sample_id": sid,
                                 "completion": completion, "gen_signature": sig,
                                 "n_tokens": None if ck == REFERENCES else
                                 round(len(completion.split()) * 1.3)})
                    for metric, value in _scores(rng, frac, meta["lab"], completion).items():
                        if ck == REFERENCES and metric not in REFERENCE_FREE:
                            continue
                        if ck == REFERENCES and metric == "kl":
                            continue
                        score_rows.append((gid, metric, _signature(metric), value))
                store.add_generations(gens)
            store.add_scores(score_rows)
            scores = store.scores_frame(run)
            ck_steps = [(c, s) for c, s in cks]
            judges = {m: FIXTURE_METRICS[m] for m in ("reward", "gold", "rougeL", "bleu",
                                                      "chrf", "bertscore_f")}
            rows = []
            for baseline in ("sft", "references", "previous"):
                rows += winrate_rows(scores, run=run, judges=judges,
                                     pairs=baseline_pairs(ck_steps, baseline, BASELINE),
                                     n_resamples=200, seed=seed)
            store.replace_winrates(run, rows)
            for judge in ("reward", "gold"):
                store.replace_strengths(run, judge, strengths_for_judge(
                    scores, judge, higher_is_better=store.directions()[judge], anchor=BASELINE),
                    anchor=BASELINE, signature=f"bradley-terry|judge:{judge}|l2:0.01")
            gens = store.generations(run)
            by = {(c, s): g for c, s, g in zip(gens["checkpoint"], gens["sample_id"],
                                               gens["gen_id"])}
            last = f"checkpoint-{steps[-1]}"
            for k in range(n_pairwise_labels):
                sid = samples[k][0]
                winner = ("a", "b", "tie")[int(rng.integers(0, 3))]
                store.add_pairwise_label(run=run, sample_id=sid, gen_a=by[(last, sid)],
                                         gen_b=by[(BASELINE, sid)], winner=winner,
                                         annotator=f"ann{k % 2}", shown_left="a")
            store.replace_winrates(run, human_winrate_rows(
                store.pairwise_labels(run), gens, run=run, pairs=[(last, BASELINE)],
                n_resamples=200, seed=seed))
            for k in range(4):
                sid = samples[k][0]
                store.add_human_judgment(by[(last, sid)], "overall",
                                         float(rng.integers(1, 6)), annotator="ann0")
    return path


def small_disk(folder: str | Path, size: str):
    """Context manager: a tmpfs of ``size`` (e.g. ``"256k"``) mounted on ``folder`` for a
    full-disk test; unmounted afterwards. Needs root (``mount -t tmpfs``): when mounting is
    not permitted it calls ``pytest.skip`` with the reason."""
    import contextlib
    import subprocess

    import pytest

    @contextlib.contextmanager
    def _mounted():
        Path(folder).mkdir(parents=True, exist_ok=True)
        res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                              str(folder)], capture_output=True, text=True)
        if res.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs for the full-disk test: "
                        f"{(res.stderr or res.stdout).strip() or res.returncode}")
        try:
            yield Path(folder)
        finally:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True)

    return _mounted()


def fill_disk(folder: str | Path, leave: int = 0) -> Path:
    """Fill the file system holding ``folder`` up to ``leave`` free bytes (a filler file)."""
    import os

    filler = Path(folder) / ".filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        chunk = b"\0" * 4096
        while True:
            if os.write(fd, chunk) == 0:
                break
    except OSError:
        pass
    finally:
        os.close(fd)
    if leave:
        os.truncate(filler, max(0, filler.stat().st_size - leave))
    return filler
