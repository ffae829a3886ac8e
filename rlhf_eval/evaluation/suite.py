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
import os
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

from .eval_config import (BASELINES, DEFAULT_JUDGES, DEFAULT_METRICS, FLAGS,  # noqa: F401
                          NO_FLAG, EvalConfig, Sources, _served_checkpoint, _source, flag,
                          resolve_sources)

# --------------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class EvalSample:
    sample_id: str
    prompt: str                          # chat messages: their canonical JSON (lm.chat)
    references: tuple[str, ...]
    meta: dict
    messages: tuple | None = None        # chat messages, when the prompt is a conversation


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
    from ..lm.chat import check_messages, prompt_key

    for line_no, record in iter_jsonl(path):
        record.setdefault("completion", "")
        messages = None
        if isinstance(record.get("prompt"), list):  # a conversation
            messages = check_messages(record["prompt"], path=str(path), line=line_no)
            record["prompt"] = prompt_key(messages)
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
        out.append(EvalSample(sid, s.prompt, tuple(s.references), meta,
                              tuple(messages) if messages else None))
        if max_samples is not None and len(out) >= max_samples:
            break
    if not out:
        raise DataError("no prompts found (the file is empty)", path=str(path))
    return out


@dataclass(frozen=True)
class CheckpointSpec:
    name: str
    step: int
    path: str | None
    is_baseline: bool = False
    served_name: str | None = None   # a model the openai server serves (no local weights)


def discover_checkpoints(run_dir: str | Path | None, explicit: Sequence[str] = ()
                         ) -> list[CheckpointSpec]:
    """``checkpoint-<step>`` folders of the run (``.tmp`` ones are incomplete and ignored),
    or the explicit folders (step from trailing digits, else their order)."""
    found: list[CheckpointSpec] = []
    if explicit:
        names = [Path(p).name or str(p) for p in explicit]
        for k, (p, name) in enumerate(zip(explicit, names), 1):
            served = _served_checkpoint(p)
            if served:
                m = re.search(r"(\d+)$", served[0])
                found.append(CheckpointSpec(served[0], int(m.group(1)) if m else k, None,
                                            served_name=served[1]))
                continue
            m = re.search(r"(\d+)$", name)
            if names.count(name) > 1:  # a sweep: r8/checkpoint-500, r16/checkpoint-500
                name = "/".join(Path(p).parts[-2:])
            found.append(CheckpointSpec(name, int(m.group(1)) if m else k, str(p)))
    elif run_dir is not None:
        found += [CheckpointSpec(folder.name, step, str(folder))
                  for step, folder in list_checkpoints(run_dir)]
    return sorted(found, key=lambda c: (c.step, c.name))


# --------------------------------------------------------------------------------- report


@dataclass
class SuiteReport:
    run: str
    store: str
    checkpoints: list[str] = field(default_factory=list)
    generated: int = 0            # new generations written
    scores_written: int = 0       # new score rows written
    models_loaded: int = 0        # policy checkpoints loaded (0 on a re-run with nothing to do)
    base_loads: int = 0           # full-weight loads (a LoRA sweep loads its base once)
    engine: str = "hf"
    failed: list[str] = field(default_factory=list)   # "name: error" of checkpoints not loaded
    winrates: int = 0


# ---------------------------------------------------------------------------------- suite


class Suite:
    def __init__(self, cfg: EvalConfig):
        from ..config import to_dict

        from ..quiet import install_filters
        from .eval_checks import localize_run_json, validate

        install_filters()  # warnings the suite makes moot (it truncates inputs itself)

        self.cfg = cfg = validate(cfg)  # every settings problem at once, before any model
        self.run_dir = Path(cfg.run) if cfg.run else None
        self.run_json = read_run_json(self.run_dir) if self.run_dir else {}
        # paths in run.json are relative to the run folder: a moved or copied run still works
        local, _ = localize_run_json(self.run_dir, self.run_json)
        self.sources = resolve_sources(cfg, local)
        self.baseline_name = BASELINE
        self.imported = None  # completions generated elsewhere: no policy is loaded
        if cfg.completions:
            store_path, prompts = self._read_completions()
        else:
            self.run_name = check_name(cfg.run_name or (self.run_dir.resolve().name
                                                        if self.run_dir else "default"),
                                       "run name")
            store_path = cfg.store or (self.run_dir / "results.sqlite" if self.run_dir else
                                       None)
            if store_path is None:
                raise ConfigError("pass --store FILE (a results file) when evaluating without "
                                  "--run")
            prompts = cfg.prompts or _source(local.get("eval_prompts"))
            if prompts is None:
                raise ConfigError("no prompts to evaluate on: pass --prompts FILE (a JSONL of "
                                  "Sample records, e.g. the lab's prompts_eval.jsonl)")
            self.samples = load_samples(prompts, cfg.max_samples)
        self.gen = cfg.generation()
        from ..lm.chat import load_template
        from ..lm.engines.hf_engine import PolicyLoader

        self.chat_template = load_template(cfg.chat_template)
        self.loader = PolicyLoader(cfg.device)   # KL pass (and the hf engine)
        self.engine = cfg.build_engine(self.loader)
        self.gen_signature = self.engine.signature(self.gen)
        if self.imported is not None:
            from .completions import IMPORTED_SIGNATURE

            self.gen_signature = IMPORTED_SIGNATURE
        self.metrics = self._build_metrics()
        self._check_reference_counts(prompts)
        from ..threads import apply_threads

        # before any model is loaded; recorded because it can change the last bits
        self.threads = apply_threads(cfg.threads)
        self.store = open_store(store_path)
        run_id = self.run_json.get("run_id")
        if self.run_dir is not None and not cfg.run_name:
            # a moved or copied run is the same run: found by its id (or its recorded name)
            self.run_name = self.store.run_for(run_id, self.run_json.get("name")) or \
                self.run_name
        self.store.add_run(self.run_name, path=self._run_path_for_store(store_path),
                           config={**to_dict(cfg), **({"run_id": run_id} if run_id else {}),
                                   "provenance": {"torch_threads": self.threads.as_dict()}},
                           gen_signature=self.gen_signature)
        self.store.add_samples((s.sample_id, s.prompt, s.references, s.meta)
                               for s in self.samples)
        self._ref_model = None
        self._tokenizers: dict[str, Any] = {}

    # ------------------------------------------------------------------ set-up

    def _run_path_for_store(self, store_path) -> str | None:
        """The run folder relative to the store's folder (readers resolve it against the
        store, not their own working folder), absolute when they share no root."""
        if self.run_dir is None:
            return None
        try:
            return os.path.relpath(self.run_dir.resolve(), Path(store_path).resolve().parent)
        except ValueError:  # another drive (Windows)
            return str(self.run_dir.resolve())

    def _read_completions(self):
        from .completions import (default_store_and_name, pick_baseline, read_completions,
                                  samples_of)

        src = self.cfg.completions
        self.imported = read_completions(src, split=self.cfg.split,
                                         max_samples=self.cfg.max_samples)
        self.baseline_name = pick_baseline(self.imported, self.cfg.baseline_checkpoint, src)
        default_store, default_name = default_store_and_name(src)
        self.run_name = check_name(self.cfg.run_name or default_name, "run name")
        self.samples = [EvalSample(r.sample_id, r.prompt, r.references, r.meta)
                        for r in samples_of(self.imported)]
        return self.cfg.store or default_store, src

    def _build_metrics(self):
        from . import model_metrics  # noqa: F401  (registers reward, kl)
        from .metrics import get_metric

        metrics = []
        self.use_kl = False
        for name in dict.fromkeys(self.cfg.metrics):
            opts = dict(self.cfg.metric_options.get(name, {}))
            if name == "kl" and self.imported is not None:
                if tuple(self.cfg.metrics) != DEFAULT_METRICS:
                    raise ConfigError("--metrics kl needs the policy's log-probs: it cannot be "
                                      "computed for --completions (text generated elsewhere)")
                log.info("kl is not computed for imported completions (it needs the policy)")
                continue
            if name == "reward" and self.imported is not None and not self.sources.reward \
                    and tuple(self.cfg.metrics) == DEFAULT_METRICS:
                log.info("reward is not computed: pass --reward-model to score the completions")
                continue
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
        if self.imported is not None:
            return [CheckpointSpec(c.name, 0 if c.name == self.baseline_name else c.step,
                                   str(self.cfg.completions), c.name == self.baseline_name)
                    for c in self.imported]
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
        """The policy for the KL pass, from the loader the hf engine shares (a LoRA checkpoint
        is an adapter swapped onto the base already in memory)."""
        model = self.loader.load(spec.path)
        return model, self._tokenizer(spec.path)

    def _model_ref(self, spec: CheckpointSpec):
        from ..lm.engines import ModelRef

        if spec.served_name is not None:  # no local files: only an explicit --tokenizer
            tok = self._tokenizer(self.cfg.tokenizer) if self.cfg.tokenizer else None
        else:
            tok = self._tokenizer(spec.path)
        return ModelRef(spec.name, spec.path, spec.served_name, tok)

    def _prompt_text(self, s: EvalSample, tokenizer=None):
        """The text every engine continues: chat messages (or, with chat_template, any prompt)
        rendered with the tokenizer's template; a plain prompt as it is. Without a tokenizer
        (a served model) the messages go to the server's chat endpoint as they are."""
        from ..lm.chat import render

        if s.messages is None and self.chat_template is None:
            return s.prompt
        if tokenizer is None:
            if s.messages is None:
                raise ConfigError("chat_template needs a local tokenizer: pass --tokenizer")
            return list(s.messages)
        return render(tokenizer, list(s.messages) if s.messages else s.prompt,
                      chat_template=self.chat_template)

    def _scoring_prompts(self, chunk) -> list[str]:
        """Prompts as the RM/KL see them: rendered like generation (baseline's tokenizer)."""
        if all(s.messages is None for s in chunk) and self.chat_template is None:
            return [s.prompt for s in chunk]
        tok = self._tokenizer(self.cfg.tokenizer or self.sources.baseline)
        return [self._prompt_text(s, tok) for s in chunk]

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

    def _import_checkpoint(self, spec: CheckpointSpec, report: SuiteReport) -> None:
        """Completions generated elsewhere: stored like generated ones (gen_signature
        ``imported``), keyed by the checkpoint's content so an edited file replaces them."""
        from .completions import IMPORTED_SIGNATURE

        ck = next(c for c in self.imported if c.name == spec.name)
        model_hash = ck.content_hash()
        self.store.add_checkpoint(self.run_name, spec.name, step=spec.step, path=spec.path,
                                  is_baseline=spec.is_baseline, model_hash=model_hash)
        rows = [{"gen_id": gen_id_for(self.run_name, spec.name, model_hash, r.sample_id,
                                      IMPORTED_SIGNATURE),
                 "run": self.run_name, "checkpoint": spec.name, "sample_id": r.sample_id,
                 "completion": r.completion, "gen_signature": IMPORTED_SIGNATURE}
                for r in ck.rows]
        report.generated += self.store.add_generations(rows)

    def _evaluate_checkpoint(self, spec: CheckpointSpec, report: SuiteReport) -> None:
        from .model_metrics import path_fingerprint

        if self.imported is not None:
            return self._import_checkpoint(spec, report)
        if spec.served_name is None:
            from ..hub import check_model_source

            # a folder or a Hub id (`--checkpoint gpt2`); either way the error names it at once
            check_model_source(spec.path, "baseline model" if spec.is_baseline else "checkpoint")
        # a served model has no files to hash: its id on the server stands for its weights
        model_hash = (f"served:{spec.served_name}" if spec.served_name is not None
                      else path_fingerprint(spec.path))
        model = tok = None
        known = self.store.checkpoints(self.run_name)
        stored = known.loc[known["checkpoint"] == spec.name, "model_hash"]
        if spec.served_name is None and len(stored) and stored.iloc[0] != model_hash:
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
        use_kl = self.use_kl and spec.served_name is None
        if self.use_kl and not use_kl:
            log.warning("checkpoint %s is served (no local weights): no KL for it", spec.name)
        if use_kl:
            have = {g for g, _ in self.store.done_scores(list(done.values()),
                                                         {"kl": self._kl_signature()})}
            kl_todo = [s for s in self.samples if s.sample_id in done
                       and done[s.sample_id] not in have]
        if not todo and not kl_todo:
            return  # nothing to do: the model is not even loaded
        if model is None:
            report.models_loaded += 1
        ref = self._model_ref(spec)
        if todo:
            self._generate(spec, ref, model_hash, todo, done, report)
        if use_kl:
            if model is None:
                model, tok = self._load_policy(spec)
            self._score_kl(spec, model, tok, kl_todo + todo, done, self._kl_signature(), report)

    def _generate(self, spec, ref, model_hash, todo, done, report) -> None:
        """Generate ``todo`` with the engine in batches; each batch is one store transaction
        (a run killed mid-way keeps its whole batches and a re-run does the rest)."""
        from tqdm.auto import tqdm

        bs = self.gen.batch_size
        with tqdm(total=len(todo), desc=f"generate {spec.name}", unit="sample",
                  disable=not self.cfg.progress or not todo) as bar:
            for start in range(0, len(todo), bs):
                batch = todo[start:start + bs]
                outs = self.engine.generate(ref, [self._prompt_text(s, ref.tokenizer)
                                                  for s in batch],
                                            [s.sample_id for s in batch], self.gen)
                rows = []
                for s, out in zip(batch, outs):
                    text, n_tok = out.text, out.n_tokens
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
            vals = kl.sentence_scores(predictions=preds,
                                      prompts=self._scoring_prompts(chunk))["kl"]
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
                    prompts=self._scoring_prompts(chunk))
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
        pairs = baseline_pairs(ck_steps, self.cfg.baseline, self.baseline_name or BASELINE)
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
                                                anchor=self.baseline_name, l2=self.cfg.bt_l2,
                                                tol=self.cfg.tie_tolerance)
                if strengths:
                    self.store.replace_strengths(
                        self.run_name, j, strengths, anchor=self.baseline_name,
                        signature=f"bradley-terry|judge:{j}|l2:{self.cfg.bt_l2}|"
                                  f"tol:{self.cfg.tie_tolerance}")

    # ------------------------------------------------------------------ driver

    def run_once(self) -> SuiteReport:
        report = SuiteReport(self.run_name, str(self.store.path), engine=self.engine.name)
        specs = self.checkpoint_specs()
        for spec in specs:  # a bad endpoint, model name or chat template fails here, before
            if spec.served_name is not None or self.engine.name == "openai":  # any model work
                self.engine.check(self._model_ref(spec))
            if self.chat_template is not None or any(x.messages for x in self.samples):
                ref = self._model_ref(spec)
                for x in self.samples:
                    self._prompt_text(x, ref.tokenizer)
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
        report.base_loads = self.loader.base_loads + getattr(self.engine, "base_loads", 0)
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
        self.engine.close()
        self.loader.close()
        self.store.close()


def evaluate(run_dir: str | None = None, *, config: "str | EvalConfig | None" = None,
             **overrides):
    """Evaluate a run and return the per-checkpoint summary (pandas DataFrame: run,
    checkpoint, step, metric, mean, ci_low, ci_high, n, n_missing).

    ``config`` is an optional YAML file or an :class:`EvalConfig`; ``overrides`` are
    :class:`EvalConfig` fields (they win over the file or object). The
    :class:`SuiteReport` is in ``df.attrs["report"]`` and the store path in
    ``df.attrs["store"]``; read everything else with :class:`rlhf_eval.store.ResultsStore`.
    ``completions="outputs.jsonl"`` evaluates completions generated elsewhere instead of a
    run (:mod:`rlhf_eval.evaluation.completions`).
    """
    from ..config import merged_values

    if run_dir is not None:
        overrides["run"] = str(run_dir)
    if isinstance(config, EvalConfig):
        cfg = dataclasses.replace(config, **overrides) if overrides else config
    else:
        from .eval_checks import validate

        cfg = validate(merged_values(config, overrides), where=str(config or "config"))
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
