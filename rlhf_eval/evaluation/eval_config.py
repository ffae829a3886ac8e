"""The evaluation's settings (:class:`EvalConfig`), how they are named on the command line,
and where its models come from (run.json or flags). Torch-free: the CLI checks settings
(:mod:`.eval_checks`) before any heavy import; :mod:`.suite` re-exports these names."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError

DEFAULT_METRICS = ("rouge", "bleu", "chrf", "bertscore", "length", "distinct", "repetition",
                   "reward", "kl", "gold")
DEFAULT_JUDGES = ("reward", "gold", "rougeL", "bleu", "chrf", "bertscore_f")
BASELINES = ("sft", "references", "previous")


# EvalConfig field -> the flag of `rlhf-eval eval` that sets it (errors name what users type)
FLAGS = {"checkpoints": "--checkpoint", "do_sample": "--sample", "progress": "--no-progress",
         "include_baseline": "--no-baseline", "include_references": "--no-references"}
NO_FLAG = ("metric_options", "tie_tolerance", "n_bootstrap", "bt_l2", "score_batch_size",
           "score_chunk", "engine_options")


def flag(name: str) -> str:
    """How a user sets EvalConfig field ``name``: its CLI flag, else its config key."""
    if name in NO_FLAG:
        return f"config key {name!r}"
    return f"{FLAGS.get(name, '--' + name.replace('_', '-'))} [{name}]"


@dataclass(frozen=True)
class EvalConfig:
    """Defaults < YAML (``--config``) < CLI flags (:func:`rlhf_eval.config.load_config`)."""

    run: str | None = None               # run folder: run.json + checkpoint-<step>/
    run_name: str | None = None          # name in the store (default: the run folder's name)
    store: str | None = None             # default: <run>/results.sqlite
    prompts: str | None = None           # JSONL of Sample records (prompt, references, id, meta)
    checkpoints: tuple[str, ...] = ()    # explicit checkpoint folders (any from_pretrained dir)
    completions: str | None = None       # completions generated elsewhere (see .completions)
    split: str | None = None             # split of a saved DatasetDict (prompts/completions)
    baseline_checkpoint: str | None = None  # completions: which checkpoint is the baseline
    baseline_model: str | None = None    # overrides run.json policy_init (the SFT model)
    ref_model: str | None = None         # overrides run.json ref_model (KL reference)
    reward_model: str | None = None      # overrides run.json reward_model
    tokenizer: str | None = None         # default: the checkpoint's own, else the baseline's
    metrics: tuple[str, ...] = DEFAULT_METRICS
    metric_options: dict = field(default_factory=dict)  # {"rouge": {"use_stemmer": true}}
    baseline: str = "sft"                # win-rates against: sft | references | previous
    judges: tuple[str, ...] = DEFAULT_JUDGES
    tie_policy: str = "half"             # half | exclude
    tie_tolerance: float = 0.0
    confidence: float = 0.95
    n_bootstrap: int = 1000
    bt_l2: float = 0.01                  # Bradley-Terry ridge, keeps strengths finite
    seed: int = 0
    max_new_tokens: int = 64
    do_sample: bool = False
    temperature: float = 1.0
    max_prompt_tokens: int = 512
    top_p: float = 1.0                   # sampling only
    top_k: int = 0                       # sampling only; 0 = off
    stop: tuple[str, ...] = ()           # stop strings (not included in the completion)
    chat_template: str | None = None     # None: automatic for chat prompts; "tokenizer"; a file
    engine: str = "hf"                   # hf | vllm | openai (rlhf_eval.lm.engines)
    engine_options: dict = field(default_factory=dict)  # the engine's constructor arguments
    batch_size: int = 16                 # generation batch (= one store transaction)
    score_batch_size: int = 32           # RM / KL forward batch
    score_chunk: int = 128               # samples per metric transaction
    max_samples: int | None = None
    device: str = "auto"
    threads: int = 0                     # torch CPU threads; 0: auto (rlhf_eval.threads)
    include_baseline: bool = True
    include_references: bool = True
    watch: bool = False
    poll_seconds: float = 10.0
    progress: bool = True

    def __post_init__(self):
        problems = self.problems()
        if problems:
            raise ConfigError("; ".join(problems) if len(problems) == 1 else
                              f"{len(problems)} problems:\n  " + "\n  ".join(problems),
                              problems=problems)

    def problems(self) -> list[str]:
        """Every inconsistency of the settings, named by their CLI flags (all at once)."""
        out = []
        if self.baseline not in BASELINES:
            out.append(f"{flag('baseline')}: the win-rate baseline must be one of "
                       f"{', '.join(BASELINES)}, found {self.baseline!r}")
        if self.tie_policy not in ("half", "exclude"):
            out.append(f"{flag('tie_policy')}: expected 'half' or 'exclude', found "
                       f"{self.tie_policy!r}")
        for name in ("max_samples", "max_new_tokens", "batch_size", "score_batch_size",
                     "score_chunk", "n_bootstrap", "max_prompt_tokens"):
            value = getattr(self, name)
            if value is not None and value < 1:
                out.append(f"{flag(name)}: expected >= 1, found {value}")
        if not isinstance(self.threads, int) or isinstance(self.threads, bool) \
                or self.threads < 0:
            out.append(f"{flag('threads')}: expected an integer >= 0 (0: auto), found "
                       f"{self.threads!r}")
        out += self._engine_problems()
        if not 0 < self.confidence < 1:
            out.append(f"{flag('confidence')}: expected a level in (0, 1), found "
                       f"{self.confidence}")
        if self.temperature <= 0:
            out.append(f"{flag('temperature')}: expected > 0, found {self.temperature}")
        if not (self.run or self.checkpoints or self.baseline_model or self.completions):
            out.append("nothing to evaluate: pass --run (a run folder), --completions FILE, or "
                       "--checkpoint/--baseline-model")
        if self.completions and (self.run or self.checkpoints):
            out.append("--completions evaluates text generated elsewhere: it cannot be "
                       "combined with --run or --checkpoint")
        if not isinstance(self.metric_options, dict):
            out.append(f"{flag('metric_options')}: expected a mapping of metric name to its "
                       "options")
        return out

    def generation(self):
        from ..lm.generate import GenerationSettings

        return GenerationSettings(max_new_tokens=self.max_new_tokens, do_sample=self.do_sample,
                                  temperature=self.temperature,
                                  max_prompt_tokens=self.max_prompt_tokens,
                                  batch_size=self.batch_size, seed=self.seed, top_p=self.top_p,
                                  top_k=self.top_k, stop=tuple(self.stop))

    def _engine_problems(self) -> list[str]:
        from ..lm.engines import ENGINES

        out = []
        if self.engine not in ENGINES:
            out.append(f"{flag('engine')}: expected one of {', '.join(ENGINES)}, found "
                       f"{self.engine!r}")
        if not isinstance(self.engine_options, dict):
            out.append(f"{flag('engine_options')}: expected a mapping of option names to values")
        try:
            served = [c for c in self.checkpoints if _served_checkpoint(c)]
        except ConfigError as exc:
            return out + [f"{flag('checkpoints')}: {exc}"]
        if served and self.engine != "openai":
            out.append(f"{flag('checkpoints')}: {served[0]!r} names a served model "
                       f"(NAME=MODEL_ID): that needs engine: openai (--engine openai)")
        return out

    def build_engine(self, loader=None):
        """The generation engine (``engine`` + ``engine_options``); ``hf`` and the suite's KL
        pass share ``loader`` so that a model is loaded once for both."""
        from ..lm.engines import get_engine

        opts = dict(self.engine_options)
        if self.engine == "hf":
            opts.setdefault("device", self.device)
            opts.setdefault("loader", loader)
        return get_engine(self.engine, **opts)


def _served_checkpoint(spec: str) -> tuple[str, str] | None:
    """``NAME=MODEL_ID`` -> (name, model id); None for a folder (a folder named with '=' that
    exists stays a folder)."""
    from pathlib import Path

    if "=" not in spec or Path(spec).exists():
        return None
    name, model_id = spec.split("=", 1)
    if not name or not model_id:
        raise ConfigError(f"checkpoint {spec!r}: expected NAME=MODEL_ID")
    return name, model_id


def _source(value: Any) -> str | None:
    """A usable model path from run.json ('<in-memory>' means the trainer got an object)."""
    if not isinstance(value, str) or not value or value.startswith("<"):
        return None
    return value



@dataclass
class Sources:
    baseline: str | None
    ref: str | None
    reward: str | None


def resolve_sources(cfg: EvalConfig, run_json: dict) -> Sources:
    baseline = cfg.baseline_model or _source(run_json.get("policy_init"))
    ref = cfg.ref_model or _source(run_json.get("ref_model")) or baseline
    reward = cfg.reward_model or _source(run_json.get("reward_model"))
    return Sources(baseline, ref, reward)
