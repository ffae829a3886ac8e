"""Every problem of an evaluation's settings, found at once and before torch is imported.

Setting up an evaluation used to be trial and error: one error per attempt, each after torch
and the models had loaded (~14 s). :func:`validate` collects all problems -- unknown keys,
wrong types, bad choices, missing files, models that are neither a folder nor a reachable
Hub id, unknown metrics, metrics without their model -- names each by the CLI flag that sets
it, and raises one :class:`ConfigError` listing them all. Only the standard library, yaml and
the torch-free parts of the package are imported here.
"""
from __future__ import annotations

import dataclasses
import difflib
import os
import typing
from pathlib import Path
from typing import Any, Mapping

from ..errors import ConfigError, DataError

RUN_PATH_KEYS = ("policy_init", "ref_model", "reward_model", "eval_prompts", "train_prompts")
# run.json key -> the flag that overrides it
RUN_KEY_FLAG = {"policy_init": "--baseline-model", "ref_model": "--ref-model",
                "reward_model": "--reward-model", "eval_prompts": "--prompts"}


def _usable(value: Any) -> str | None:
    """A model/file reference from run.json ('<in-memory>' means the trainer got an object)."""
    if not isinstance(value, str) or not value or value.startswith("<"):
        return None
    return value


def localize_run_json(run_dir: str | Path | None, run_json: Mapping[str, Any]
                      ) -> tuple[dict, dict[str, str]]:
    """run.json with its paths made usable from here, and the problems of those that are not.

    Paths are stored relative to the run folder (or absolute), so a moved or copied run still
    finds its models; older run.json files stored them relative to the folder training was
    launched from, which is tried second. Anything else that is shaped like a Hub id stays a
    Hub id. Returns ``(run_json, {key: problem})``.
    """
    from ..hub import looks_like_hub_id

    out, problems = dict(run_json), {}
    if run_dir is None:
        return out, problems
    for key in RUN_PATH_KEYS:
        value = _usable(run_json.get(key))
        if value is None:
            continue
        here = Path(run_dir) / value
        if Path(value).is_absolute() and Path(value).exists():
            continue
        if here.exists():
            out[key] = str(here)
        elif Path(value).exists() or looks_like_hub_id(value):
            continue  # an older run.json (relative to the launch folder), or a Hub id
        else:
            flag = RUN_KEY_FLAG.get(key)
            problems[key] = (f"{Path(run_dir) / 'run.json'}: field {key!r}: {value!r} is "
                             f"neither a folder relative to the run folder {run_dir} nor "
                             f"relative to the current folder (the run was moved?)"
                             + (f"; pass {flag}" if flag else ""))
    return out, problems


def _coerce_all(cls, values: Mapping[str, Any], where: str, problems: list[str]) -> dict:
    from ..config import _coerce, _suggest
    from .eval_config import flag

    fields = {f.name for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    good = {}
    for key, value in values.items():
        if key not in fields:
            problems.append(f"{where}: unknown key {key!r}{_suggest(key, sorted(fields))}")
            continue
        try:
            good[key] = _coerce(value, hints[key], f"{flag(key)}")
        except ConfigError as exc:
            problems.append(str(exc))
    return good


def _metric_problems(cfg, sources, problems: list[str]) -> None:
    from .metrics import list_metrics
    from .eval_config import DEFAULT_METRICS, flag

    known = list_metrics()
    for name in cfg.metrics:
        key = str(name).strip().lower()
        if key not in known:
            close = difflib.get_close_matches(key, known, n=3, cutoff=0.5)
            hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            problems.append(f"{flag('metrics')}: unknown metric {name!r}{hint} (available: "
                            f"{', '.join(known)})")
    explicit = tuple(cfg.metrics) != DEFAULT_METRICS
    if "reward" in cfg.metrics and not sources.reward and (explicit or not cfg.completions):
        problems.append("metric 'reward' needs a reward model: pass --reward-model (or set "
                        "reward_model in run.json)")
    if "kl" in cfg.metrics:
        if cfg.completions and explicit:
            problems.append(f"{flag('metrics')}: 'kl' needs the policy's log-probs; it cannot "
                            "be computed for --completions (text generated elsewhere)")
        elif not cfg.completions and sources.ref is None:
            problems.append("metric 'kl' needs a reference model: pass --ref-model (or "
                            "--baseline-model, or set policy_init in run.json)")


def _file_problems(cfg, run_json: dict, problems: list[str]) -> None:
    from .eval_config import flag

    if cfg.run and not Path(cfg.run).is_dir():
        problems.append(f"{flag('run')}: run folder {cfg.run} does not exist")
    if cfg.completions:
        if not os.path.exists(cfg.completions):
            problems.append(f"{flag('completions')}: {cfg.completions} does not exist")
        else:
            from ..io import require_split

            try:
                require_split(cfg.completions, cfg.split)
            except DataError as exc:
                problems.append(f"{flag('split')}: {exc}")
        return
    prompts = cfg.prompts or _usable(run_json.get("eval_prompts"))
    if prompts is None:
        problems.append(f"{flag('prompts')}: no prompts to evaluate on: pass --prompts FILE "
                        "(a JSONL of Sample records, e.g. the lab's prompts_eval.jsonl)")
    elif not Path(prompts).is_file():
        problems.append(f"{flag('prompts')}: prompt file {prompts} does not exist")
    if not cfg.store and not cfg.run:
        problems.append(f"{flag('store')}: pass --store FILE (a results file) when evaluating "
                        "without --run")


def _model_problems(cfg, sources, run_problems: dict[str, str], problems: list[str]) -> None:
    from ..hub import problem_with_source
    from .eval_config import flag

    overridden = {"policy_init": cfg.baseline_model, "ref_model": cfg.ref_model,
                  "reward_model": cfg.reward_model, "eval_prompts": cfg.prompts}
    for key, problem in run_problems.items():
        if not overridden.get(key):
            problems.append(problem)
    bad = set(run_problems)
    from .eval_config import _served_checkpoint

    # NAME=MODEL_ID names a model the openai engine's server holds: no local files to check
    checks = [(c, "--checkpoint [checkpoints]", "checkpoint") for c in cfg.checkpoints
              if not _served_checkpoint(c)]
    if cfg.include_baseline and not cfg.completions:
        if sources.baseline is None:
            problems.append(f"no baseline model: pass --baseline-model (or set policy_init in "
                            f"run.json), or {flag('include_baseline')} to evaluate without it")
        elif cfg.baseline_model or "policy_init" not in bad:
            checks.append((sources.baseline, flag("baseline_model"), "baseline model"))
    if "kl" in cfg.metrics and sources.ref and not cfg.completions and \
            (cfg.ref_model or "ref_model" not in bad) and sources.ref != sources.baseline:
        checks.append((sources.ref, flag("ref_model"), "reference model"))
    if "reward" in cfg.metrics and sources.reward and \
            (cfg.reward_model or "reward_model" not in bad):
        checks.append((sources.reward, flag("reward_model"), "reward model"))
    if cfg.tokenizer:
        checks.append((cfg.tokenizer, flag("tokenizer"), "tokenizer"))
    for source, where, what in checks:
        problem = problem_with_source(source, what)
        if problem:
            problems.append(f"{where}: {problem}")


def validate(values: Mapping[str, Any] | Any, *, where: str = "config"):
    """An :class:`EvalConfig` from ``values`` (a dict of fields, or an EvalConfig), after
    checking everything that can be checked without loading a model; raises one
    :class:`ConfigError` whose ``problems`` lists every problem found."""
    from ..runs import read_run_json
    from .eval_config import EvalConfig, resolve_sources

    problems: list[str] = []
    if isinstance(values, EvalConfig):
        cfg = values
    else:
        good = _coerce_all(EvalConfig, values, where, problems)
        # built without __post_init__ so its own problems join the others instead of stopping
        cfg = object.__new__(EvalConfig)
        for f in dataclasses.fields(EvalConfig):
            default = f.default_factory() if f.default is dataclasses.MISSING else f.default
            object.__setattr__(cfg, f.name, good.get(f.name, default))
    problems += [p for p in cfg.problems() if p not in problems]
    run_json: dict = {}
    if cfg.run and Path(cfg.run).is_dir():
        try:
            run_json = read_run_json(cfg.run)
        except DataError as exc:
            problems.append(str(exc))
    local, run_problems = localize_run_json(cfg.run, run_json)
    sources = resolve_sources(cfg, local)
    _file_problems(cfg, local, problems)
    _metric_problems(cfg, sources, problems)
    _model_problems(cfg, sources, run_problems, problems)
    _raise(problems)
    return cfg if isinstance(values, EvalConfig) else EvalConfig(**good)


def _raise(problems: list[str]) -> None:
    if not problems:
        return
    problems = list(dict.fromkeys(problems))
    if len(problems) == 1:
        raise ConfigError(problems[0], problems=problems)
    raise ConfigError(f"{len(problems)} problems:\n  " + "\n  ".join(problems),
                      problems=problems)
