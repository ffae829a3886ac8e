"""One policy for torch's CPU threads, shared by every command that runs torch.

``--threads N`` (an ``EvalConfig``/trainer field where the command has a config) sets torch's
intra-op threads; ``0`` means *auto*:

- ``OMP_NUM_THREADS`` when set (the environment has already decided, e.g. a scheduler or CI);
- else the CPUs this process may run on minus the work already running on them (the 1-minute
  load average, rounded), at least 1.

Why not torch's default (one thread per core): on a machine shared with other jobs it
oversubscribes the cores, and spinning OpenMP threads then wait on each other. Measured (issue
18, 2-core machine): ``rlhf-eval eval`` on the demo run took 45-47 s with 2 threads next
to another job and 23.7 s with 1; on a quiet machine 2 threads won (13.1 vs 16.9 s). The load
average tells those two cases apart at start-up.

The number used is returned as a :class:`ThreadChoice` and recorded with the run (eval: the
store's ``runs.config_json`` under ``"provenance"``), since the thread count can change float
reductions and so the last bits of results. Pass an explicit N for bit-reproducible runs.
"""
from __future__ import annotations

import argparse
import os
from dataclasses import asdict, dataclass

from .errors import ConfigError

HELP = ("torch CPU threads (0: auto = OMP_NUM_THREADS if set, else the free CPUs by the "
        "1-minute load average, at least 1)")


@dataclass(frozen=True)
class ThreadChoice:
    threads: int          # what torch was set to
    requested: int        # what the user asked for (0: auto)
    reason: str           # how auto decided, or "requested"

    def as_dict(self) -> dict:
        return asdict(self)


def available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def resolve_threads(requested: int = 0) -> ThreadChoice:
    """The thread count for ``requested`` (0: auto, see the module docstring)."""
    if not isinstance(requested, int) or isinstance(requested, bool) or requested < 0:
        raise ConfigError(f"threads must be an integer >= 0 (0: auto), found {requested!r}")
    if requested > 0:
        return ThreadChoice(requested, requested, "requested")
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return ThreadChoice(int(env), 0, f"auto: OMP_NUM_THREADS={env}")
    cpus = available_cpus()
    try:
        load = os.getloadavg()[0]
    except OSError:
        return ThreadChoice(cpus, 0, f"auto: {cpus} CPUs, load average unknown")
    free = max(1, min(cpus, int(cpus - load + 0.5)))
    return ThreadChoice(free, 0, f"auto: {cpus} CPUs, 1-minute load {load:.1f}")


def apply_threads(requested: int = 0) -> ThreadChoice:
    """Resolve and set torch's intra-op threads; returns what was set."""
    import torch

    choice = resolve_threads(requested)
    torch.set_num_threads(choice.threads)
    return choice


def add_threads_argument(parser: argparse.ArgumentParser, default: int | None = 0,
                         dest: str = "threads") -> None:
    parser.add_argument("--threads", type=int, default=default, dest=dest, metavar="N",
                        help=HELP + (f"; default {default}" if default else ""))
