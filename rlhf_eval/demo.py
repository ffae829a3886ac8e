"""The end-to-end demo: the whole RLHF loop on bundled data, on a CPU, in minutes.

lab data -> SFT tiny policy -> reward model -> PPO with checkpoints -> eval suite on every
checkpoint -> correlation analysis (lab and SummEval) -> report.

Every stage is an ordinary ``rlhf-eval`` subcommand (what a user would type, printed before it
runs), and is skipped when its output already exists, so an interrupted demo resumes where it
stopped. ``--fast`` shrinks every stage for the test suite (under two minutes on 2 cores).
"""
from __future__ import annotations

import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable


@dataclass(frozen=True)
class DemoSizes:
    """Knobs that trade fidelity for time. ``FULL`` targets < 10 min on 2 CPU cores."""

    lab: tuple[str, ...] = ("--size", "demo")
    # SFT defaults: 1000 steps of 16 (the lab README's measured config: gold 0.75 vs -0.53
    # untrained, ROUGE-L 0.91 vs 0)
    sft: tuple[str, ...] = ("--precision", "bf16")  # bf16 autocast: ~2x faster steps on CPU
    # RM initialised from the SFT policy (InstructGPT), lr for a tiny model trained from scratch
    rm: tuple[str, ...] = ("--epochs", "1", "--batch-size", "16", "--lr", "1e-3",
                           "--max-length", "256")
    # examples/ppo_lab.py's lab settings (lr 1e-4, beta 0.02, 48 new tokens)
    ppo: tuple[str, ...] = ("--steps", "80", "--batch-size", "16", "--save-every", "20",
                            "--learning-rate", "1e-4", "--kl-coef", "0.02",
                            "--max-new-tokens", "48")
    eval: tuple[str, ...] = ("--max-samples", "100", "--max-new-tokens", "48")
    # all 1,600 SummEval summaries x 11 references, BERTScore (MiniLM) included: ~105 s on a
    # quiet 2-core machine (metrics 52 s, bootstrap 49 s)
    summeval: tuple[str, ...] = ("--metrics", "rouge,bleu,chrf,bertscore", "--n-resamples",
                                 "1000")
    lab_corr: tuple[str, ...] = ("--metrics", "rouge,bleu,chrf", "--n-resamples", "1000")


FULL = DemoSizes()
FAST = DemoSizes(
    lab=("--size", "test"),
    # rlhf_eval.lab.testing.FAST_SFT: learns the test lab in ~30 s (gold +1.0 over untrained)
    sft=("--max-steps", "300", "--batch-size", "16", "--lr", "3e-3", "--precision", "bf16"),
    rm=("--max-steps", "40", "--batch-size", "16"),
    ppo=("--steps", "4", "--batch-size", "8", "--save-every", "2", "--max-new-tokens", "16"),
    eval=("--max-samples", "16"),
    summeval=("--metrics", "rouge,bleu,chrf", "--max-inputs", "20", "--n-resamples", "200"),
    lab_corr=("--metrics", "rouge,bleu,chrf", "--n-resamples", "200"),
)


@dataclass(frozen=True)
class Stage:
    name: str
    args: tuple[str, ...]          # rlhf-eval argv
    output: Path                   # exists => the stage is done
    what: str                      # one line for the final summary


@dataclass(frozen=True)
class DemoConfig:
    out: Path = Path("runs/demo")
    fast: bool = False
    seed: int = 0
    force: bool = False            # re-run stages even when their output exists
    skip: tuple[str, ...] = field(default_factory=tuple)
    # torch intra-op threads for every stage. The demo's models are tiny (0.5M parameters), so a
    # second thread buys little, while on a CPU shared with other jobs OpenMP spinning made steps
    # ~10x slower (measured here by the SFT and PPO work); 0 leaves torch's default.
    threads: int = 1


def stages(cfg: DemoConfig) -> list[Stage]:
    sz = FAST if cfg.fast else FULL
    o = cfg.out
    lab, sft, rm, run = o / "lab", o / "sft", o / "rm", o / "ppo"
    corr = run / "correlation"
    seed = ("--seed", str(cfg.seed))
    quiet = ("--no-progress",) if cfg.fast else ()
    # the demo's one thread count, for the stages whose --threads would otherwise pick auto
    thr = ("--threads", str(cfg.threads)) if cfg.threads > 0 else ()
    return [
        Stage("lab", ("lab", "--out", str(lab), *seed, *sz.lab), lab / "lab.json",
              "synthetic task: documents, references, annotator pairs and ratings"),
        Stage("sft", ("sft", "--data", str(lab / "sft.jsonl"), "--out", str(sft), "--tiny", "gpt2",
                      "--eval-prompts", str(lab / "prompts_eval.jsonl"), *seed, *quiet, *sz.sft),
              sft / "config.json", "tiny GPT-2 policy fine-tuned on the lab references"),
        Stage("rm", ("train-rm", "--data", str(lab / "pairs.jsonl"), "--eval-split", "0.1",
                     "--model", str(sft), "--out", str(rm), *seed, *quiet, *thr, *sz.rm),
              rm / "config.json", "reward model (initialised from the SFT policy) on annotator pairs"),
        Stage("ppo", ("ppo", "--policy", str(sft), "--reward-model", str(rm), "--prompts",
                      str(lab / "prompts_train.jsonl"), "--run-dir", str(run), *seed, *quiet,
                      *thr, *sz.ppo),
              run / "run.json", "PPO against the RM with a KL penalty; checkpoints in the run"),
        Stage("eval", ("eval", "--run", str(run), "--prompts", str(lab / "prompts_eval.jsonl"),
                       *seed, *thr, *sz.eval),
              run / "results.sqlite", "every metric for every checkpoint, win-rates, KL"),
        Stage("correlate-lab", ("correlate", "--lab", str(lab), "--out", str(corr / "lab"),
                                *seed, *sz.lab_corr),
              corr / "lab", "metrics vs the lab's simulated Likert ratings"),
        Stage("correlate-summeval", ("correlate", "--summeval", "--out",
                                     str(corr / "summeval"), *seed, *thr, *sz.summeval),
              corr / "summeval", "metrics vs SummEval expert ratings"),
        Stage("report", ("report", "--run", str(run), "--fail-on", "gold:drop>0.5"),
              run / "report" / "report.html", "Markdown/HTML/JSON/JUnit report with a gold gate"),
    ]


def _done(stage: Stage) -> bool:
    out = stage.output
    return any(out.iterdir()) if out.is_dir() else out.exists()


def run_demo(cfg: DemoConfig, *, run_command: Callable[[list[str]], int] | None = None,
             echo: Callable[[str], None] = print) -> int:
    """Run the stages in order; stop at the first failing one with its exit code."""
    if run_command is None:
        from .cli import main as run_command
    known = {s.name for s in stages(cfg)}
    unknown = set(cfg.skip) - known
    if unknown:
        from .errors import ConfigError

        raise ConfigError(f"unknown stage(s) {sorted(unknown)}; stages are {sorted(known)}")
    if cfg.threads > 0:
        import torch

        torch.set_num_threads(cfg.threads)
    started = time.perf_counter()
    timings = []
    for stage in stages(cfg):
        if stage.name in cfg.skip or (_done(stage) and not cfg.force):
            echo(f"== {stage.name}: skipped ({'asked' if stage.name in cfg.skip else 'done'}: "
                 f"{stage.output})")
            continue
        echo(f"== {stage.name}: rlhf-eval {shlex.join(stage.args)}")
        t0 = time.perf_counter()
        code = run_command(list(stage.args))
        timings.append((stage, time.perf_counter() - t0))
        # the report stage exits 1 when its gate fails: the demo still finished
        if code not in (0, 1) or (code == 1 and stage.name != "report"):
            echo(f"== {stage.name} failed with exit code {code}")
            return code or 1
    total = time.perf_counter() - started
    echo(summary(cfg, timings, total))
    return 0


def summary(cfg: DemoConfig, timings, total: float) -> str:
    run = cfg.out / "ppo"
    lines = ["", f"Demo finished in {total:.0f} s. What is where:"]
    for stage in stages(cfg):
        lines.append(f"  {stage.name:19s} {stage.output}  ({stage.what})")
    lines += ["", "Stage times: " + ", ".join(f"{s.name} {t:.0f}s" for s, t in timings), "",
              f"Report:     {run / 'report' / 'report.md'} (and report.html, report.json, junit.xml)",
              f"Dashboard:  rlhf-eval dashboard --run {run}",
              f"CI gate:    rlhf-eval report --run {run} --fail-on 'gold:drop>0.02'"]
    return "\n".join(lines)
