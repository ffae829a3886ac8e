"""The end-to-end demo: the whole RLHF loop on bundled data, on a CPU, in minutes.

lab data -> SFT tiny policy -> on-policy comparisons by the lab's annotators -> MiniLM reward
model -> PPO with checkpoints -> eval suite on every checkpoint -> report with a gold gate; the
correlation analyses (lab ratings, SummEval experts) run beside the training in a child process.

Every stage is an ordinary ``rlhf-eval`` subcommand (what a user would type, printed before it
runs, its own output in ``<out>/logs/<stage>.log``), and is skipped when its output already
exists, so an interrupted demo resumes where it stopped. The end is a short summary
(``demo_summary``); the full figures go to ``<out>/summary.json`` and ``<out>/curve.csv``.
``--fast`` shrinks every stage for the test suite (too small for PPO to learn anything).
"""
from __future__ import annotations

import contextlib
import os
import queue
import shlex
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable


@dataclass(frozen=True)
class DemoSizes:
    """Knobs that trade fidelity for time. ``FULL`` aims at 10 min on 2 CPU cores, set-up
    included, and is not there: measured 578-650 s for the stages plus ~1 min of set-up.
    The recipe is examples/ppo_lab.py's (docs/results/ppo_lab/: a policy that still makes
    mistakes, a MiniLM RM trained on the annotators' comparisons of that policy's own
    samples, PPO at beta 0.05 and temperature 0.7), shrunk: too far for PPO to raise gold
    (the README says so)."""

    lab: tuple[str, ...] = ("--size", "demo")
    # 3 epochs of SFT (the lab recipe's policy, greedy gold 0.28): measured here, a 1-epoch
    # policy (gold -0.76: it invents facts) made silence the easy win, and PPO learned to write
    # nothing (100% empty completions by step 40: gold 0 and KL 0 looked like a +0.76 gain;
    # demo_summary now flags it). fp32 throughout, the choice that is never slow: on an
    # AVX2-only AMD EPYC (no bf16 instructions) bf16 autocast made a tiny-GPT-2 SFT step 7x
    # slower (2.9 vs 0.41 s CPU, 16x200 tokens) and a MiniLM step more than 10x slower; on an
    # EPYC with AVX512-BF16 a MiniLM training step (32x128) was 1.55x faster in bf16 (4.1 vs
    # 6.7 s, 1 thread, load 2-3). The machines these run on differ; fp32 results also do not.
    sft: tuple[str, ...] = ("--epochs", "3")
    # on-policy comparisons (InstructGPT): the lab's annotators label pairs of the SFT
    # policy's samples; an RM trained on reference perturbations only was at 0.62 on these
    collect: tuple[str, ...] = ("--n-prompts", "600", "--samples-per-prompt", "4",
                                "--pairs-per-prompt", "2")
    collect_eval: tuple[str, ...] = ("--n-prompts", "200", "--samples-per-prompt", "4",
                                     "--pairs-per-prompt", "2")
    # MiniLM (the tiny GPT-2 RM stayed at chance on the lab pairs), short inputs
    # (max-length 128: 16 of 1,129 on-policy training pairs had a side cut from the left)
    rm: tuple[str, ...] = ("--model", "minilm", "--epochs", "1", "--batch-size", "16",
                           "--lr", "1e-4", "--max-length", "128")
    # 8 updates of 16 rollouts per batch of 32, as the lab recipe's 16 of 16 per 64; a higher
    # lr than its 1e-4 because the demo has ~1/10 of its rollouts
    ppo: tuple[str, ...] = ("--steps", "60", "--batch-size", "32", "--num-minibatches", "2",
                            "--save-every", "20", "--learning-rate", "2e-4",
                            "--lr-schedule", "constant",
                            "--kl-coef", "0.05", "--temperature", "0.7",
                            "--max-new-tokens", "48")
    # sampled at PPO's temperature, one seed per prompt shared by every checkpoint: the gains
    # are paired (common random numbers), which tightens their intervals
    eval: tuple[str, ...] = ("--max-samples", "200", "--max-new-tokens", "48", "--sample",
                             "--temperature", "0.7")
    # all 1,600 SummEval summaries x 11 references, BERTScore (MiniLM) included: ~105 s on a
    # quiet 2-core machine (metrics 52 s, bootstrap 49 s); runs beside the training stages
    summeval: tuple[str, ...] = ("--metrics", "rouge,bleu,chrf,bertscore", "--n-resamples",
                                 "1000")
    # the lab rates 3 systems: no system level (see demo_summary.MIN_SYSTEMS)
    lab_corr: tuple[str, ...] = ("--metrics", "rouge,bleu,chrf", "--n-resamples", "1000",
                                 "--levels", "summary,sample")


FULL = DemoSizes()
FAST = DemoSizes(
    lab=("--size", "test"),
    # rlhf_eval.lab.testing.FAST_SFT: learns the test lab in ~30 s (gold +1.0 over untrained)
    sft=("--max-steps", "300", "--batch-size", "16", "--lr", "3e-3"),
    collect=("--n-prompts", "24", "--samples-per-prompt", "2", "--pairs-per-prompt", "1",
             "--max-new-tokens", "16"),
    collect_eval=("--n-prompts", "16", "--samples-per-prompt", "2", "--pairs-per-prompt", "1",
                  "--max-new-tokens", "16"),
    rm=("--max-steps", "4", "--batch-size", "8", "--max-length", "96", "--model", "minilm"),
    ppo=("--steps", "4", "--batch-size", "8", "--save-every", "2", "--max-new-tokens", "16"),
    eval=("--max-samples", "16", "--sample", "--temperature", "0.7"),
    summeval=("--metrics", "rouge,bleu,chrf", "--max-inputs", "20", "--n-resamples", "200"),
    lab_corr=("--metrics", "rouge,bleu,chrf", "--n-resamples", "200", "--levels",
              "summary,sample"),
)

# the demo's gate: fail when the last checkpoint's gold reward is *significantly* below the SFT
# policy's (the upper end of the 95% paired-bootstrap interval of the change is below 0)
GATE = "gold:drop>0"


@dataclass(frozen=True)
class Stage:
    name: str
    args: tuple[str, ...]          # rlhf-eval argv
    output: Path                   # exists => the stage is done
    what: str                      # one line for the final summary
    # needs only the lab: runs in a child process beside the training stages (the second core
    # of a 2-core machine) and is waited for before the report
    background: bool = False


@dataclass(frozen=True)
class DemoConfig:
    out: Path = Path("runs/demo")
    fast: bool = False
    seed: int = 0
    force: bool = False            # re-run stages even when their output exists
    skip: tuple[str, ...] = field(default_factory=tuple)
    # torch intra-op threads for every stage. The demo's models are small (a 2-layer GPT-2,
    # MiniLM), so a second thread buys little, while on a CPU shared with other jobs OpenMP
    # spinning made steps ~10x slower (measured here by the SFT and PPO work); the second core
    # goes to the background correlation stages instead. 0 leaves torch's default.
    threads: int = 1
    # progress bars (only for a terminal); without them a stage's output is plain lines
    progress: bool = False


def stages(cfg: DemoConfig) -> list[Stage]:
    sz = FAST if cfg.fast else FULL
    o = cfg.out
    lab, sft, rm, run = o / "lab", o / "sft", o / "rm", o / "ppo"
    corr = run / "correlation"
    seed = ("--seed", str(cfg.seed))
    quiet = () if cfg.progress else ("--no-progress",)
    pairs, pairs_eval = lab / "pairs_policy.jsonl", lab / "pairs_policy_eval.jsonl"
    collect = ("lab-collect", "--lab", str(lab), "--policy", str(sft), *seed,
               "--threads", str(cfg.threads))
    # the demo's one thread count, for the stages whose --threads would otherwise pick auto
    thr = ("--threads", str(cfg.threads)) if cfg.threads > 0 else ()
    return [
        Stage("lab", ("lab", "--out", str(lab), *seed, *sz.lab), lab / "lab.json",
              "synthetic task: documents, references, annotator pairs and ratings"),
        Stage("correlate-lab", ("correlate", "--lab", str(lab), "--out", str(corr / "lab"),
                                *seed, *sz.lab_corr),
              corr / "lab" / "correlations.json",
              "metrics vs the lab's simulated Likert ratings", background=True),
        Stage("correlate-summeval", ("correlate", "--summeval", "--out",
                                     str(corr / "summeval"), *seed, *sz.summeval),
              corr / "summeval" / "correlations.json", "metrics vs SummEval expert ratings",
              background=True),
        Stage("sft", ("sft", "--data", str(lab / "sft.jsonl"), "--out", str(sft), "--tiny", "gpt2",
                      "--eval-prompts", str(lab / "prompts_eval.jsonl"), *seed, *quiet, *sz.sft),
              sft / "config.json", "tiny GPT-2 policy fine-tuned on the lab references"),
        Stage("collect", (*collect, "--out", str(pairs), "--split", "train", *sz.collect),
              pairs, "the annotators compare the SFT policy's own samples (train prompts)"),
        Stage("collect-eval", (*collect, "--out", str(pairs_eval), "--split", "eval",
                               *sz.collect_eval),
              pairs_eval, "the same on held-out prompts: the RM's test set"),
        Stage("rm", ("train-rm", "--data", str(pairs), "--eval-data", str(pairs_eval),
                     "--out", str(rm), *seed, *quiet, *thr, *sz.rm),
              rm / "config.json", "MiniLM reward model on the on-policy pairs"),
        Stage("ppo", ("ppo", "--policy", str(sft), "--reward-model", str(rm), "--prompts",
                      str(lab / "prompts_train.jsonl"), "--run-dir", str(run), *seed, *quiet,
                      *thr, *sz.ppo),
              run / "run.json", "PPO against the RM with a KL penalty; checkpoints in the run"),
        Stage("eval", ("eval", "--run", str(run), "--prompts", str(lab / "prompts_eval.jsonl"),
                       *seed, *thr, *(() if cfg.progress else ("--no-progress",)), *sz.eval),
              run / "results.sqlite", "every metric for every checkpoint, win-rates, KL"),
        Stage("report", ("report", "--run", str(run), "--fail-on", GATE),
              run / "report" / "report.html", "Markdown/HTML/JSON/JUnit report with a gold gate"),
    ]


def _done(stage: Stage) -> bool:
    out = stage.output
    return any(out.iterdir()) if out.is_dir() else out.exists()


@contextlib.contextmanager
def _output_to(log: Path, *, keep_stderr: bool):
    """Send a stage's stdout (and stderr, unless ``keep_stderr``: a terminal's progress bars)
    to ``log``, at the file-descriptor level too, so that C extensions and child processes
    write there as well."""
    log.parent.mkdir(parents=True, exist_ok=True)
    fds = (1,) if keep_stderr else (1, 2)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    with open(log, "a", encoding="utf-8") as fh:
        saved = {fd: os.dup(fd) for fd in fds}
        try:
            for fd in fds:
                os.dup2(fh.fileno(), fd)
            with contextlib.redirect_stdout(fh), (contextlib.nullcontext() if keep_stderr
                                                   else contextlib.redirect_stderr(fh)):
                yield
        finally:
            for stream in (sys.stdout, sys.stderr):
                stream.flush()
            fh.flush()
            for fd, dup in saved.items():
                os.dup2(dup, fd)
                os.close(dup)


def _child(stage: Stage, cfg: DemoConfig, log: Path) -> subprocess.Popen:
    """A background stage as ``python -m rlhf_eval.cli``, its output into ``log``."""
    env = dict(os.environ)
    if cfg.threads > 0:
        env["OMP_NUM_THREADS"] = str(cfg.threads)
    if not cfg.progress:
        env["TQDM_DISABLE"] = "1"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a", encoding="utf-8") as fh:
        return subprocess.Popen([sys.executable, "-m", "rlhf_eval.cli", *stage.args],
                                stdout=fh, stderr=subprocess.STDOUT, env=env)


class _Background:
    """Background stages, one after another in child processes, driven by a thread. Their
    one-line results are queued and echoed by the main thread between stages (while a stage
    runs, the process's stdout is that stage's log)."""

    def __init__(self, cfg: DemoConfig):
        self.cfg = cfg
        self.todo: queue.Queue = queue.Queue()
        self.messages: queue.Queue = queue.Queue()
        self.timings: list[tuple[Stage, float, float]] = []  # stage, wall s, CPU s
        self.failed: tuple[Stage, int] | None = None
        self.proc: subprocess.Popen | None = None
        self.thread: threading.Thread | None = None

    def add(self, stage: Stage) -> None:
        if self.thread is None:
            self.thread = threading.Thread(target=self._work, daemon=True)
            self.thread.start()
        self.todo.put(stage)

    def _work(self) -> None:
        while (stage := self.todo.get()) is not None:
            if self.failed:
                continue
            t0 = time.perf_counter()
            self.proc = _child(stage, self.cfg, _log(self.cfg, stage))
            # wait4 rather than wait: the child's CPU time too (the wall time on a shared
            # machine says little about a quiet one)
            _, status, usage = os.wait4(self.proc.pid, 0)
            code = self.proc.returncode = os.waitstatus_to_exitcode(status)
            took = time.perf_counter() - t0
            self.timings.append((stage, took, usage.ru_utime + usage.ru_stime))
            if code:
                self.failed = (stage, code)
                self.messages.put(f"== {stage.name} failed with exit code {code}"
                                  + _tail(_log(self.cfg, stage)))
            else:
                self.messages.put(f"   {stage.name}: {outcome(stage, self.cfg)} ({took:.0f} s, "
                                  f"CPU {self.timings[-1][2]:.0f} s, in the background)")

    def flush(self, echo) -> None:
        while not self.messages.empty():
            echo(self.messages.get())

    def wait(self, echo) -> None:
        if self.thread is not None:
            self.todo.put(None)
            self.thread.join()
            self.thread = None
        self.flush(echo)

    def stop(self) -> None:
        """On the way out (an error, Ctrl-C): no orphaned child keeps running."""
        if self.thread is not None:
            self.todo.put(None)
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait()


def _log(cfg: DemoConfig, stage: Stage) -> Path:
    return cfg.out / "logs" / f"{stage.name}.log"


def _tail(log: Path, n: int = 8) -> str:
    """Where a failed stage's output is, and its last lines (the error is usually there)."""
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()[-n:]
    except OSError:
        lines = []
    return f"; the end of {log}:\n" + "\n".join("   | " + line[-200:] for line in lines)


def run_demo(cfg: DemoConfig, *, run_command: Callable[[list[str]], int] | None = None,
             echo: Callable[[str], None] = print) -> int:
    """Run the stages in order; stop at the first failing one with its exit code.

    Each stage's own output goes to ``<out>/logs/<stage>.log``; the terminal gets the command,
    one line of what the stage did, and the summary. With an injected ``run_command`` (tests)
    every stage, background ones included, runs through it in order, output not redirected."""
    injected = run_command is not None
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
    if not injected:
        # cli.main's logging.basicConfig would otherwise bind the root handler to the first
        # stage's log file (closed after it); bound to the real stderr now, stages' log lines
        # follow fd 2 into their own log
        import logging

        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    started, cpu_started = time.perf_counter(), time.process_time()
    timings = []
    background = _Background(cfg)
    try:
        for stage in stages(cfg):
            background.flush(echo)
            if stage.name in cfg.skip or (_done(stage) and not cfg.force):
                echo(f"== {stage.name}: skipped ({'asked' if stage.name in cfg.skip else 'done'}"
                     f": {stage.output})")
                continue
            if stage.name == "report":
                background.wait(echo)
                if background.failed:
                    return background.failed[1] or 1
            echo(f"== {stage.name}: rlhf-eval {shlex.join(stage.args)}")
            if stage.background and not injected:
                background.add(stage)
                continue
            t0, cpu0 = time.perf_counter(), time.process_time()
            if injected:
                code = run_command(list(stage.args))
            else:
                with _output_to(_log(cfg, stage), keep_stderr=cfg.progress):
                    code = run_command(list(stage.args))
            took, cpu = time.perf_counter() - t0, time.process_time() - cpu0
            timings.append((stage, took, cpu))
            # the report stage exits 1 when its gate fails: the demo still finished
            if code not in (0, 1) or (code == 1 and stage.name != "report"):
                echo(f"== {stage.name} failed with exit code {code}"
                     + ("" if injected else _tail(_log(cfg, stage))))
                return code or 1
            if not injected:
                echo(f"   {stage.name}: {outcome(stage, cfg)} ({took:.0f} s, CPU {cpu:.0f} s)")
        background.wait(echo)
        if background.failed:
            return background.failed[1] or 1
    finally:
        background.stop()
    total = time.perf_counter() - started
    cpu = time.process_time() - cpu_started + sum(t[2] for t in background.timings)
    echo(summary(cfg, timings + background.timings, total, cpu))
    return 0


def outcome(stage: Stage, cfg: DemoConfig) -> str:
    """One line of what a finished stage did, read from its output files."""
    from . import demo_outcomes

    try:
        return demo_outcomes.describe(stage.name, stage, cfg) or stage.what
    except Exception:  # noqa: BLE001 - a summary line must never fail the demo
        return stage.what


def summary(cfg: DemoConfig, timings, total: float, cpu: float = float("nan")) -> str:
    from .demo_summary import headline, render

    o = cfg.out
    run = o / "ppo"
    corr = run / "correlation"
    gate = None
    report_json = run / "report" / "report.json"
    if report_json.is_file():
        import json

        gates = json.loads(report_json.read_text()).get("gates") or []
        gate = next(({"spec": g["gate"], "passed": g["passed"], "message": g["message"]}
                     for g in gates if g.get("gate") == GATE), None)
    h = headline(o, run=run, rm_dir=o / "rm", rm_eval_pairs=o / "lab" / "pairs_policy_eval.jsonl",
                 corr={"lab": corr / "lab", "summeval": corr / "summeval"}, gate=gate)
    times = ", ".join(f"{s.name} {t:.0f}/{c:.0f}" for s, t, c in timings)
    lines = ["", f"Demo finished in {total:.0f} s wall, {cpu:.0f} s CPU (per stage, wall/CPU s: "
             f"{times or 'every stage was already done'})."]
    lines += render(h, out=o, run=run)
    lines += [f"Dashboard:  rlhf-eval dashboard --run {run}",
              f"CI gate:    rlhf-eval report --run {run} --fail-on '{GATE}'"]
    return "\n".join(lines)
