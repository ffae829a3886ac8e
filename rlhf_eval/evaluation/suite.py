"""The evaluation suite: every checkpoint of a run, generated and scored on held-out prompts.

    rlhf-eval eval --run runs/my-ppo [--config eval.yaml] [--watch]
    rlhf_eval.evaluate(run_dir="runs/my-ppo", max_samples=200)   # -> pandas DataFrame

For the baseline (the SFT/reference model) and each ``checkpoint-<step>/`` folder of the run
(``.tmp`` folders, still being written, are ignored; other tools' checkpoints can be named
with ``checkpoints:``) the suite

1. generates on the prompts with fixed settings (:mod:`.generation`), one store transaction
   per batch, and computes the per-sample KL to the reference while the policy is loaded;
2. scores every generation, and the references as a pseudo-checkpoint, with every configured
   metric (reference-side caches shared across checkpoints through ``score_many``), one
   transaction per chunk of samples;
3. recomputes win-rates (bootstrap CIs) and Bradley-Terry strengths from the stored scores.

Incremental: a generation is keyed by (run, checkpoint, weights hash, sample, generation
signature) and a score by (generation, score name, metric signature); what is in the store is
never recomputed, so a re-run does no model work and a run killed at any moment resumes where
it stopped. Paths in ``run.json`` (policy_init, ref_model, reward_model) can all be overridden.
"""
from __future__ import annotations

import dataclasses
import logging
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

from ..errors import ConfigError, DataError, ModelError
from ..escape import check_name
from ..runs import list_checkpoints, read_run_json
from ..store import BASELINE, REFERENCES, ResultsStore, gen_id_for, open_store, sample_id_for

log = logging.getLogger(__name__)

DEFAULT_METRICS = ("rouge", "bleu", "chrf", "bertscore", "length", "distinct", "repetition",
                   "reward", "kl", "gold")
DEFAULT_JUDGES = ("reward", "gold", "rougeL", "bleu", "chrf", "bertscore_f")
BASELINES = ("sft", "references", "previous")


@dataclass(frozen=True)
class EvalConfig:
    """Defaults < YAML (``--config``) < CLI flags (:func:`rlhf_eval.config.load_config`)."""

    run: str | None = None               # run folder: run.json + checkpoint-<step>/
    run_name: str | None = None          # name in the store (default: the run folder's name)
    store: str | None = None             # default: <run>/results.sqlite
    prompts: str | None = None           # JSONL of Sample records (prompt, references, id, meta)
    checkpoints: tuple[str, ...] = ()    # explicit checkpoint folders (any from_pretrained dir)
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
        if not isinstance(self.threads, int) or isinstance(self.threads, bool) \
                or self.threads < 0:
            raise ConfigError(f"threads must be an integer >= 0 (0: auto), found "
                              f"{self.threads!r}")
        if self.baseline not in BASELINES:
            raise ConfigError(f"baseline must be one of {BASELINES}, found {self.baseline!r}")
        if self.tie_policy not in ("half", "exclude"):
            raise ConfigError(f"tie_policy must be 'half' or 'exclude', found "
                              f"{self.tie_policy!r}")
        if self.max_samples is not None and self.max_samples < 1:
            raise ConfigError(f"max_samples must be >= 1, found {self.max_samples}")
        if not self.run and not self.checkpoints and not self.baseline_model:
            raise ConfigError("nothing to evaluate: pass --run (a run folder) or checkpoints/"
                              "baseline_model in the config")
        if not isinstance(self.metric_options, dict):
            raise ConfigError("metric_options must map a metric name to its options")

    def generation(self):
        from ..lm.generate import GenerationSettings

        return GenerationSettings(max_new_tokens=self.max_new_tokens, do_sample=self.do_sample,
                                  temperature=self.temperature,
                                  max_prompt_tokens=self.max_prompt_tokens,
                                  batch_size=self.batch_size, seed=self.seed)


# --------------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class EvalSample:
    sample_id: str
    prompt: str
    references: tuple[str, ...]
    meta: dict


def load_samples(path: str | Path, max_samples: int | None = None) -> list[EvalSample]:
    """Sample records from a JSONL file (``completion`` is not needed). Errors name the file,
    line and field; an empty file is an error, not an empty evaluation."""
    from ..schema import Sample

    path = Path(path)
    if not path.is_file():
        raise DataError("prompt file not found", path=str(path))
    from ..io import iter_jsonl

    out: list[EvalSample] = []
    seen: set[str] = set()
    for line_no, record in iter_jsonl(path):
        record.setdefault("completion", "")
        try:
            s = Sample.from_dict(record, strict=False)
        except DataError as exc:
            raise exc.at(path=str(path), line=line_no) from None
        if not s.prompt.strip():
            raise DataError("expected a non-empty prompt", path=str(path), line=line_no,
                            field="prompt")
        sid = sample_id_for(s.prompt, s.references)
        if sid in seen:  # the same prompt + references twice would be one sample
            continue
        seen.add(sid)
        meta = dict(s.meta, **({"id": s.id} if s.id is not None else {}))
        out.append(EvalSample(sid, s.prompt, tuple(s.references), meta))
        if max_samples is not None and len(out) >= max_samples:
            break
    if not out:
        raise DataError("no prompts found (the file is empty)", path=str(path))
    return out


@dataclass(frozen=True)
class CheckpointSpec:
    name: str
    step: int
    path: str
    is_baseline: bool = False


def _source(value: Any) -> str | None:
    """A usable model path from run.json ('<in-memory>' means the trainer got an object)."""
    if not isinstance(value, str) or not value or value.startswith("<"):
        return None
    return value


def discover_checkpoints(run_dir: str | Path | None, explicit: Sequence[str] = ()
                         ) -> list[CheckpointSpec]:
    """``checkpoint-<step>`` folders of the run (``.tmp`` ones are incomplete and ignored),
    or the explicit folders (step from trailing digits, else their order)."""
    found: list[CheckpointSpec] = []
    if explicit:
        for k, p in enumerate(explicit, 1):
            name = Path(p).name or str(p)
            m = re.search(r"(\d+)$", name)
            found.append(CheckpointSpec(name, int(m.group(1)) if m else k, str(p)))
    elif run_dir is not None:
        found += [CheckpointSpec(folder.name, step, str(folder))
                  for step, folder in list_checkpoints(run_dir)]
    return sorted(found, key=lambda c: (c.step, c.name))


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


# --------------------------------------------------------------------------------- report


@dataclass
class SuiteReport:
    run: str
    store: str
    checkpoints: list[str] = field(default_factory=list)
    generated: int = 0            # new generations written
    scores_written: int = 0       # new score rows written
    models_loaded: int = 0        # policy checkpoints loaded (0 on a re-run with nothing to do)
    failed: list[str] = field(default_factory=list)   # "name: error" of checkpoints not loaded
    winrates: int = 0


# ---------------------------------------------------------------------------------- suite


class Suite:
    def __init__(self, cfg: EvalConfig):
        from ..config import to_dict

        self.cfg = cfg
        self.run_dir = Path(cfg.run) if cfg.run else None
        if self.run_dir is not None and not self.run_dir.is_dir():
            raise ConfigError(f"run folder {self.run_dir} does not exist")
        self.run_json = read_run_json(self.run_dir) if self.run_dir else {}
        self.sources = resolve_sources(cfg, self.run_json)
        self.run_name = check_name(cfg.run_name or (self.run_dir.resolve().name if self.run_dir
                                                    else "default"), "run name")
        store_path = cfg.store or (self.run_dir / "results.sqlite" if self.run_dir else None)
        if store_path is None:
            raise ConfigError("pass store: (a results file) when evaluating without --run")
        prompts = cfg.prompts or _source(self.run_json.get("eval_prompts"))
        if prompts is None:
            raise ConfigError("no prompts to evaluate on: pass --prompts FILE (a JSONL of "
                              "Sample records, e.g. the lab's prompts_eval.jsonl)")
        self.samples = load_samples(prompts, cfg.max_samples)
        self.gen = cfg.generation()
        self.gen_signature = self.gen.signature()
        self.metrics = self._build_metrics()
        self._check_reference_counts(prompts)
        from ..threads import apply_threads

        # before any model is loaded; recorded because it can change the last bits
        self.threads = apply_threads(cfg.threads)
        self.store = open_store(store_path)
        self.store.add_run(self.run_name, path=str(self.run_dir) if self.run_dir else None,
                           config={**to_dict(cfg),
                                   "provenance": {"torch_threads": self.threads.as_dict()}},
                           gen_signature=self.gen_signature)
        self.store.add_samples((s.sample_id, s.prompt, s.references, s.meta)
                               for s in self.samples)
        self._ref_model = None
        self._tokenizers: dict[str, Any] = {}

    # ------------------------------------------------------------------ set-up

    def _build_metrics(self):
        from . import model_metrics  # noqa: F401  (registers reward, kl)
        from .metrics import get_metric

        metrics = []
        self.use_kl = False
        for name in dict.fromkeys(self.cfg.metrics):
            opts = dict(self.cfg.metric_options.get(name, {}))
            if name == "kl":
                if self.sources.ref is None:
                    raise ConfigError("metric 'kl' needs a reference model: set ref_model "
                                      "(or policy_init in run.json)")
                self.use_kl = True
                self.kl_options = opts
                continue
            if name == "reward":
                opts.setdefault("model", self.sources.reward)
                if not opts["model"]:
                    raise ConfigError("metric 'reward' needs a reward model: pass "
                                      "--reward-model or set reward_model in run.json")
                opts.setdefault("device", self.cfg.device)
                opts.setdefault("batch_size", self.cfg.score_batch_size)
            metrics.append(get_metric(name, **opts))
        return metrics

    def _check_reference_counts(self, prompts_path) -> None:
        """Metrics that need a fixed number of references fail before any model runs."""
        counts = {}  # reference count -> first sample with it (no references: NULL, not a count)
        for k, s in enumerate(self.samples):
            if s.references:
                counts.setdefault(len(s.references), k)
        for m in self.metrics:
            if not m.needs_references:
                continue
            if len(counts) > 1 and not m.supports_variable_references:
                (c1, i1), (c2, i2) = sorted(counts.items())[:2]
                raise DataError(f"metric {m.name!r} needs the same number of references for "
                                f"every sample; sample {i1 + 1} has {c1}, sample {i2 + 1} has "
                                f"{c2}", path=str(prompts_path), field="references")
        if not counts:
            log.warning("no sample has references: reference-based metrics will be missing "
                        "(NULL) for every sample")

    def checkpoint_specs(self) -> list[CheckpointSpec]:
        specs = []
        if self.cfg.include_baseline:
            if self.sources.baseline is None:
                raise ConfigError("no baseline model: set baseline_model (or policy_init in "
                                  "run.json), or include_baseline: false")
            specs.append(CheckpointSpec(BASELINE, 0, self.sources.baseline, True))
        found = discover_checkpoints(self.run_dir, self.cfg.checkpoints)
        for spec in found:  # names reach reports and CI summaries: printable, one line
            check_name(spec.name, f"checkpoint folder {spec.path}")
        return specs + found

    # ------------------------------------------------------------------ models

    def _tokenizer(self, path: str):
        from ..models import load_tokenizer

        candidates = [self.cfg.tokenizer] if self.cfg.tokenizer else [path, self.sources.baseline]
        last = None
        for cand in candidates:
            if cand is None:
                continue
            if cand in self._tokenizers:
                return self._tokenizers[cand]
            p = Path(cand)
            if p.is_dir() and not any((p / f).is_file() for f in
                                      ("tokenizer.json", "tokenizer_config.json", "vocab.json")):
                continue
            try:
                tok = load_tokenizer(cand, require_pad=True)
            except ModelError as exc:
                last = exc
                continue
            self._tokenizers[cand] = tok
            return tok
        raise last or ModelError(f"no tokenizer found for {path!r} (nor the baseline's); pass "
                                 "--tokenizer")

    def _load_policy(self, spec: CheckpointSpec):
        from ..models import load_causal_lm, pick_device

        try:
            model = load_causal_lm(spec.path, device=pick_device(self.cfg.device))
        except ModelError:
            raise
        except Exception as exc:  # corrupt weights raise library-specific errors
            raise ModelError(f"cannot load a causal LM from {spec.path!r}: "
                             f"{type(exc).__name__}: {exc}") from exc
        return model, self._tokenizer(spec.path)

    def _reference_model(self):
        from ..models import load_causal_lm, pick_device

        if self._ref_model is None:
            self._ref_model = load_causal_lm(self.sources.ref,
                                             device=pick_device(self.cfg.device))
        return self._ref_model

    def _kl_signature(self) -> str:
        if getattr(self, "_kl_sig", None) is None:  # hashes the reference's files once
            self._kl_sig = self._kl_metric(None, None).signature()
        return self._kl_sig

    def _kl_metric(self, model, tokenizer):
        from .model_metrics import KLMetric

        opts = dict(getattr(self, "kl_options", {}))
        opts.setdefault("batch_size", self.cfg.score_batch_size)
        opts.setdefault("max_prompt_tokens", self.cfg.max_prompt_tokens)
        return KLMetric(policy=model, ref=None, tokenizer=tokenizer, ref_path=self.sources.ref,
                        device=self.cfg.device, **opts)

    # ------------------------------------------------------------------ phase 1

    def _evaluate_checkpoint(self, spec: CheckpointSpec, report: SuiteReport) -> None:
        from .model_metrics import path_fingerprint

        if not Path(spec.path).exists() and not spec.is_baseline:
            raise ModelError(f"checkpoint folder {spec.path} does not exist")
        model_hash = path_fingerprint(spec.path)
        model = tok = None
        known = self.store.checkpoints(self.run_name)
        stored = known.loc[known["checkpoint"] == spec.name, "model_hash"]
        if len(stored) and stored.iloc[0] != model_hash:
            # the folder changed: load it *before* its earlier results are dropped, so a
            # corrupted overwrite fails with those results intact (and reported as failed)
            model, tok = self._load_policy(spec)
            report.models_loaded += 1
        # a changed weights hash drops the checkpoint's stale rows in this same transaction
        self.store.add_checkpoint(self.run_name, spec.name, step=spec.step, path=spec.path,
                                  is_baseline=spec.is_baseline, model_hash=model_hash)
        done = self.store.done_generations(self.run_name, spec.name, self.gen_signature)
        todo = [s for s in self.samples if s.sample_id not in done]
        kl_todo: list[EvalSample] = []
        if self.use_kl:
            have = {g for g, _ in self.store.done_scores(list(done.values()),
                                                         {"kl": self._kl_signature()})}
            kl_todo = [s for s in self.samples if s.sample_id in done
                       and done[s.sample_id] not in have]
        if not todo and not kl_todo:
            return  # nothing to do: the model is not even loaded
        if model is None:
            model, tok = self._load_policy(spec)
            report.models_loaded += 1
        self._generate(spec, model, tok, model_hash, todo, done, report)
        if self.use_kl:
            self._score_kl(spec, model, tok, kl_todo + todo, done, self._kl_signature(), report)

    def _generate(self, spec, model, tok, model_hash, todo, done, report) -> None:
        """Generate ``todo`` in batches; each batch is one store transaction."""
        from tqdm.auto import tqdm

        from ..models import pick_device
        from ..lm.generate import generate_batch

        device = pick_device(self.cfg.device)
        bs = self.gen.batch_size
        with tqdm(total=len(todo), desc=f"generate {spec.name}", unit="sample",
                  disable=not self.cfg.progress or not todo) as bar:
            for start in range(0, len(todo), bs):
                batch = todo[start:start + bs]
                outs = generate_batch(model, tok, [s.prompt for s in batch],
                                      [s.sample_id for s in batch], self.gen, device)
                rows = []
                for s, (text, n_tok) in zip(batch, outs):
                    gid = gen_id_for(self.run_name, spec.name, model_hash, s.sample_id,
                                     self.gen_signature)
                    done[s.sample_id] = gid
                    rows.append({"gen_id": gid, "run": self.run_name, "checkpoint": spec.name,
                                 "sample_id": s.sample_id, "completion": text,
                                 "gen_signature": self.gen_signature, "n_tokens": n_tok})
                report.generated += self.store.add_generations(rows)
                bar.update(len(batch))

    def _score_kl(self, spec, model, tok, samples, done, sig, report) -> None:
        kl = self._kl_metric(model, tok)
        kl.ref = self._reference_model()
        self.store.set_directions(kl.higher_is_better)
        step = self.cfg.score_chunk
        for start in range(0, len(samples), step):
            chunk = samples[start:start + step]
            text = self.store.completions([done[s.sample_id] for s in chunk])
            preds = [text[done[s.sample_id]] for s in chunk]
            vals = kl.sentence_scores(predictions=preds, prompts=[s.prompt for s in chunk])["kl"]
            report.scores_written += self.store.add_scores(
                (done[s.sample_id], "kl", sig, v) for s, v in zip(chunk, vals))

    # ------------------------------------------------------------------ references

    def _add_references(self) -> None:
        """The references pseudo-checkpoint: completion = the first reference."""
        self.store.add_checkpoint(self.run_name, REFERENCES, step=-1, path=None,
                                  model_hash="references")
        rows = [{"gen_id": gen_id_for(self.run_name, REFERENCES, "references", s.sample_id,
                                      "references"),
                 "run": self.run_name, "checkpoint": REFERENCES, "sample_id": s.sample_id,
                 "completion": s.references[0], "gen_signature": "references"}
                for s in self.samples if s.references]
        self.store.add_generations(rows)

    # ------------------------------------------------------------------ phase 2

    def _score_metrics(self, names: Sequence[str], report: SuiteReport) -> None:
        from tqdm.auto import tqdm

        self.store.set_directions(self.directions())  # report, gates, dashboard read them
        gens = self.store.generations(self.run_name)
        gens = gens[gens["checkpoint"].isin(list(names))]
        table: dict[str, dict[str, tuple[str, str]]] = {}
        for ck, sid, gid, text in zip(gens["checkpoint"], gens["sample_id"], gens["gen_id"],
                                      gens["completion"]):
            table.setdefault(ck, {})[sid] = (gid, text)
        all_ids = list(gens["gen_id"])
        for metric in self.metrics:
            sig = metric.signature()
            done = self.store.done_scores(all_ids, {k: sig for k in metric.score_names})
            need = {gid for gid in all_ids
                    if any((gid, k) not in done for k in metric.score_names)}
            cks = [ck for ck in table if not (ck == REFERENCES and metric.needs_references)]
            todo = [i for i, s in enumerate(self.samples)
                    if any(table[ck].get(s.sample_id, (None,))[0] in need for ck in cks)]
            if not todo:
                continue
            step = self.cfg.score_chunk
            for start in tqdm(range(0, len(todo), step), desc=f"score {metric.name}",
                              unit="chunk", disable=not self.cfg.progress):
                idx = todo[start:start + step]
                chunk = [self.samples[i] for i in idx]
                preds = {}
                for ck in cks:
                    col = [table[ck].get(s.sample_id) for s in chunk]
                    col = [g[1] if g is not None and g[0] in need else None for g in col]
                    if any(c is not None for c in col):
                        preds[ck] = col
                if not preds:
                    continue
                scores = metric.score_many(
                    predictions=preds, references=[list(s.references) for s in chunk],
                    prompts=[s.prompt for s in chunk])
                rows = []
                for ck, col in preds.items():
                    for j, (s, text) in enumerate(zip(chunk, col)):
                        if text is None:
                            continue
                        gid = table[ck][s.sample_id][0]
                        rows += [(gid, k, sig, scores[ck][k][j]) for k in metric.score_names]
                report.scores_written += self.store.add_scores(rows)  # one transaction

    # ------------------------------------------------------------------ phase 3

    def directions(self) -> dict[str, bool | None]:
        out: dict[str, bool | None] = {}
        for m in self.metrics:
            out.update(m.higher_is_better)
        return out

    def _winrates(self, specs: Sequence[CheckpointSpec], report: SuiteReport) -> None:
        from .winrate import (baseline_pairs, human_winrate_rows, strengths_for_judge,
                              winrate_rows)

        scores = self.store.scores_frame(self.run_name)
        present = set(scores["metric"])
        direction = self.directions()
        judges = {}
        for j in self.cfg.judges:
            if j not in present:
                continue
            if direction.get(j) is None:
                log.warning("judge %r has no better direction; skipped", j)
                continue
            judges[j] = bool(direction[j])
        ck_steps = [(s.name, s.step) for s in specs]
        if not any(s.is_baseline for s in specs) and self.cfg.baseline != "references":
            log.warning("no baseline model evaluated: win-rates against it are skipped")
            return
        pairs = baseline_pairs(ck_steps, self.cfg.baseline, BASELINE)
        kw = dict(tie_policy=self.cfg.tie_policy, confidence=self.cfg.confidence,
                  n_resamples=self.cfg.n_bootstrap, seed=self.cfg.seed)
        rows = winrate_rows(scores, run=self.run_name, judges=judges, pairs=pairs,
                            tol=self.cfg.tie_tolerance, **kw)
        rows += human_winrate_rows(self.store.pairwise_labels(self.run_name),
                                   self.store.generations(self.run_name), run=self.run_name,
                                   pairs=pairs, **kw)
        self.store.replace_winrates(self.run_name, rows)
        report.winrates = len(rows)
        if any(s.is_baseline for s in specs):
            for j, hib in judges.items():
                strengths = strengths_for_judge(scores, j, higher_is_better=hib,
                                                anchor=BASELINE, l2=self.cfg.bt_l2,
                                                tol=self.cfg.tie_tolerance)
                if strengths:
                    self.store.replace_strengths(
                        self.run_name, j, strengths, anchor=BASELINE,
                        signature=f"bradley-terry|judge:{j}|l2:{self.cfg.bt_l2}|"
                                  f"tol:{self.cfg.tie_tolerance}")

    # ------------------------------------------------------------------ driver

    def run_once(self) -> SuiteReport:
        report = SuiteReport(self.run_name, str(self.store.path))
        specs = self.checkpoint_specs()
        good = []
        for spec in specs:
            try:
                self._evaluate_checkpoint(spec, report)
                good.append(spec)
                self.store.clear_eval_failure(self.run_name, spec.name)
            except ModelError as exc:
                # earlier results (if any) stay; the failure is recorded for `report`
                self.store.drop_empty_checkpoint(self.run_name, spec.name)
                self.store.record_eval_failure(self.run_name, spec.name, step=spec.step,
                                               error=str(exc), path=str(spec.path))
                if spec.is_baseline:
                    raise
                log.error("checkpoint %s: %s", spec.name, exc)
                report.failed.append(f"{spec.name}: {exc}")
        report.checkpoints = [s.name for s in good]
        names = [s.name for s in good]
        if self.cfg.include_references and any(s.references for s in self.samples):
            self._add_references()
            names.append(REFERENCES)
        self._score_metrics(names, report)
        self._winrates(good, report)
        return report

    def watch(self, *, max_rounds: int | None = None) -> SuiteReport:
        """Evaluate, then poll the run folder for new checkpoints until interrupted."""
        total = SuiteReport(self.run_name, str(self.store.path))
        rounds = 0
        try:
            while True:
                r = self.run_once()
                for k in ("generated", "scores_written", "models_loaded", "winrates"):
                    setattr(total, k, getattr(total, k) + getattr(r, k))
                total.checkpoints, total.failed = r.checkpoints, r.failed
                rounds += 1
                if max_rounds is not None and rounds >= max_rounds:
                    break
                time.sleep(self.cfg.poll_seconds)
        except KeyboardInterrupt:
            log.info("watch stopped")
        return total

    def close(self) -> None:
        self.store.close()


def evaluate(run_dir: str | None = None, *, config: "str | EvalConfig | None" = None,
             **overrides):
    """Evaluate a run and return the per-checkpoint summary (pandas DataFrame: run,
    checkpoint, step, metric, mean, ci_low, ci_high, n, n_missing).

    ``config`` is an optional YAML file or an :class:`EvalConfig`; ``overrides`` are
    :class:`EvalConfig` fields (they win over the file or object). The
    :class:`SuiteReport` is in ``df.attrs["report"]`` and the store path in
    ``df.attrs["store"]``; read everything else with :class:`rlhf_eval.store.ResultsStore`.
    """
    from ..config import load_config

    if run_dir is not None:
        overrides["run"] = str(run_dir)
    if isinstance(config, EvalConfig):
        cfg = dataclasses.replace(config, **overrides) if overrides else config
    else:
        cfg = load_config(EvalConfig, config, overrides)
    suite = Suite(cfg)
    try:
        report = suite.watch() if cfg.watch else suite.run_once()
        df = suite.store.checkpoint_summary(suite.run_name, confidence=cfg.confidence,
                                            seed=cfg.seed)
    finally:
        suite.close()
    df.attrs["report"] = asdict(report)
    df.attrs["store"] = report.store
    if report.failed:
        raise ModelError("checkpoint(s) could not be loaded (the others were evaluated): " +
                         "; ".join(report.failed))
    return df


def open_results(run_dir: str | Path, *, readonly: bool = True) -> ResultsStore:
    return open_store(run_dir, readonly=readonly)
