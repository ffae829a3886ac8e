"""The results store: one SQLite file per run folder (``runs/<name>/results.sqlite``).

Why SQLite: one file a user can copy, readable from any language, transactional, and in WAL
mode a reader (the dashboard) sees a consistent snapshot while the suite writes. Every write
method is one transaction, so a kill at any moment loses at most the batch in flight and
never leaves a half-written row; every table has a primary key and writes use
``INSERT OR IGNORE`` / ``UPSERT``, so a re-run after a kill completes without duplicates.

The schema is documented in ``docs/store.md`` (the contract with the dashboard and report is
``docs/store-contract.md``). A missing score is ``NULL`` (``NaN`` in pandas), never 0.

Only the standard library and pandas are imported here, so the dashboard can read a store
without loading torch.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import math
import sqlite3
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

from .errors import RlhfEvalError

SCHEMA_VERSION = 1
DEFAULT_FILENAME = "results.sqlite"
BASELINE = "baseline"       # checkpoint name of the SFT/reference model (step 0)
REFERENCES = "references"   # pseudo-checkpoint whose completions are the reference texts


class StoreError(RlhfEvalError):
    """A store that cannot be opened, is read-only, or has an unexpected schema."""


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    run TEXT PRIMARY KEY,
    path TEXT,
    config_json TEXT,
    created_at TEXT NOT NULL,
    gen_signature TEXT            -- generation signature of the latest evaluation
);
CREATE TABLE IF NOT EXISTS checkpoints (
    run TEXT NOT NULL,
    checkpoint TEXT NOT NULL,
    step INTEGER NOT NULL,
    path TEXT,
    is_baseline INTEGER NOT NULL DEFAULT 0,
    model_hash TEXT,              -- content hash of the weights (or path+size+mtime)
    kind TEXT NOT NULL DEFAULT 'checkpoint',  -- 'baseline', 'checkpoint' or 'references'
    created_at TEXT NOT NULL,
    PRIMARY KEY (run, checkpoint)
);
CREATE TABLE IF NOT EXISTS samples (
    sample_id TEXT PRIMARY KEY,   -- content hash of prompt + references
    prompt TEXT NOT NULL,
    references_json TEXT NOT NULL,
    meta_json TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS generations (
    gen_id TEXT PRIMARY KEY,      -- hash(run, checkpoint, model_hash, sample_id, gen_signature)
    run TEXT NOT NULL,
    checkpoint TEXT NOT NULL,
    sample_id TEXT NOT NULL REFERENCES samples(sample_id),
    completion TEXT NOT NULL,
    gen_signature TEXT NOT NULL,
    n_tokens INTEGER,             -- completion length in policy tokens (NULL for references)
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS generations_by_ckpt ON generations(run, checkpoint, sample_id);
CREATE TABLE IF NOT EXISTS scores (
    gen_id TEXT NOT NULL REFERENCES generations(gen_id),
    metric TEXT NOT NULL,         -- score name: rouge1, bleu, bertscore_f, reward, kl, gold, ...
    signature TEXT NOT NULL,      -- what produced it: library versions, model, settings, seed
    value REAL,                   -- NULL = missing (metric undefined for this sample), never 0
    created_at TEXT NOT NULL,
    PRIMARY KEY (gen_id, metric, signature)
);
CREATE TABLE IF NOT EXISTS winrates (
    run TEXT NOT NULL,
    checkpoint TEXT NOT NULL,
    baseline TEXT NOT NULL,       -- checkpoint name compared against (baseline, references, ...)
    judge TEXT NOT NULL,          -- reward, gold, rouge1, ..., or human
    winrate REAL,
    ci_low REAL,
    ci_high REAL,
    n INTEGER NOT NULL,
    wins INTEGER NOT NULL,
    ties INTEGER NOT NULL,
    losses INTEGER NOT NULL,
    tie_policy TEXT NOT NULL,     -- 'half' or 'exclude'
    signature TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (run, checkpoint, baseline, judge, tie_policy)
);
CREATE TABLE IF NOT EXISTS strengths (
    run TEXT NOT NULL,
    judge TEXT NOT NULL,
    checkpoint TEXT NOT NULL,
    strength REAL,                -- Bradley-Terry log-strength, anchor (baseline) = 0
    anchor TEXT NOT NULL,
    signature TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (run, judge, checkpoint)
);
CREATE TABLE IF NOT EXISTS human_judgments (
    id INTEGER PRIMARY KEY,
    gen_id TEXT NOT NULL,
    aspect TEXT NOT NULL,
    score REAL NOT NULL,
    annotator TEXT,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS pairwise_labels (
    id INTEGER PRIMARY KEY,
    run TEXT,
    sample_id TEXT NOT NULL,
    gen_a TEXT NOT NULL,
    gen_b TEXT NOT NULL,
    winner TEXT NOT NULL CHECK (winner IN ('a', 'b', 'tie')),
    annotator TEXT,
    note TEXT,
    shown_left TEXT,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS score_directions (
    metric TEXT PRIMARY KEY,      -- a score name, as in scores.metric
    higher_is_better INTEGER      -- 1, 0, or NULL: a diagnostic with no better side (e.g. kl)
);
CREATE TABLE IF NOT EXISTS judgments (
    signature TEXT NOT NULL,      -- the judge: engine, model hash, template hash, settings
    key TEXT NOT NULL,            -- content hash of what the judge was shown (fields, in order)
    label TEXT,                   -- the label it gave; NULL = its answer could not be parsed
    probs_json TEXT,              -- option-label probabilities (log-prob mode), else NULL
    raw TEXT,                     -- the generated answer (parse mode), else NULL
    gen_first TEXT,               -- generations shown first / second, when judging a run
    gen_second TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY (signature, key)
);
"""

TABLES = ("meta", "runs", "checkpoints", "samples", "generations", "scores", "winrates",
          "strengths", "human_judgments", "pairwise_labels", "score_directions", "judgments")


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def content_hash(*parts: Any, length: int = 16) -> str:
    """A short stable hash of JSON-serialisable parts (ids of samples, generations)."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:length]


def sample_id_for(prompt: str, references: Sequence[str]) -> str:
    return content_hash("sample", prompt, list(references))


def gen_id_for(run: str, checkpoint: str, model_hash: str | None, sample_id: str,
               gen_signature: str) -> str:
    return content_hash("gen", run, checkpoint, model_hash, sample_id, gen_signature)


def _clean_value(value: Any) -> float | None:
    """NaN/inf/None -> NULL: a missing score must stay missing, never become a number."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


class ResultsStore:
    """One SQLite results file. ``readonly=True`` opens it with ``mode=ro`` (the dashboard):
    any write raises :class:`StoreError` (and SQLite itself refuses)."""

    def __init__(self, path: str | Path, *, readonly: bool = False, timeout: float = 30.0):
        self.path = Path(path)
        self.readonly = readonly
        try:
            self.conn = self._connect(timeout)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: not a results store ({exc})") from exc
        self._check_schema()

    # ------------------------------------------------------------------ plumbing

    def _connect(self, timeout: float) -> sqlite3.Connection:
        if self.readonly:
            if not self.path.is_file():
                raise StoreError(f"{self.path}: no results store here (run `rlhf-eval eval` "
                                 "first)")
            # mode=ro: SQLite itself refuses writes (the dashboard can never change results)
            uri = self.path.resolve().as_uri() + "?mode=ro"
            return sqlite3.connect(uri, uri=True, timeout=timeout, check_same_thread=False)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(self.path), timeout=timeout, check_same_thread=False)
        # WAL: readers never block the writer and see a consistent snapshot; synchronous=NORMAL
        # in WAL mode is still crash-safe for the file (a power loss may drop the last
        # transactions, never corrupt it; a killed process loses nothing committed).
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(_SCHEMA)
        conn.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)",
                     (str(SCHEMA_VERSION),))
        conn.commit()
        return conn

    def _check_schema(self) -> None:
        try:
            row = self.conn.execute(
                "SELECT value FROM meta WHERE key='schema_version'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: not a results store ({exc})") from exc
        if row is None or int(row[0]) != SCHEMA_VERSION:
            raise StoreError(f"{self.path}: schema version {row and row[0]}, expected "
                             f"{SCHEMA_VERSION}")

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "ResultsStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Cursor]:
        """BEGIN IMMEDIATE ... COMMIT; rolled back on any exception."""
        if self.readonly:
            raise StoreError(f"{self.path}: the store is open read-only")
        cur = self.conn.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            yield cur
        except BaseException:
            self.conn.rollback()
            raise
        else:
            self.conn.commit()

    @contextlib.contextmanager
    def snapshot(self) -> Iterator["ResultsStore"]:
        """Every read inside sees one consistent state of the store (one read transaction:
        in WAL mode a concurrent writer's later commits stay invisible until it ends), so a
        report's gates and tables can never come from two different moments."""
        if self.conn.in_transaction:  # nested: already inside one snapshot
            yield self
            return
        self.conn.execute("BEGIN")
        try:
            # the snapshot starts at the first read, not at BEGIN: read now
            self.conn.execute("SELECT COUNT(*) FROM meta").fetchone()
            yield self
        finally:
            self.conn.rollback()

    # checkpoints that failed to load: kept in `meta` (no schema change) so a report can say
    # "failed" instead of quietly judging the previous checkpoint
    _FAILED = "eval_failed\x1f"

    def record_eval_failure(self, run: str, checkpoint: str, *, step: int, error: str,
                            path: str | None = None) -> None:
        with self.transaction() as c:
            c.execute("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE "
                      "SET value=excluded.value",
                      (f"{self._FAILED}{run}\x1f{checkpoint}",
                       json.dumps({"run": run, "checkpoint": checkpoint, "step": int(step),
                                   "error": error, "path": path, "at": now()})))

    def clear_eval_failure(self, run: str, checkpoint: str) -> None:
        with self.transaction() as c:
            c.execute("DELETE FROM meta WHERE key=?", (f"{self._FAILED}{run}\x1f{checkpoint}",))

    def eval_failures(self, run: str | None = None) -> list[dict]:
        """``{run, checkpoint, step, error, path, at}`` of checkpoints whose last evaluation
        failed to load them (their earlier results, if any, are kept)."""
        rows = self.conn.execute("SELECT value FROM meta WHERE key >= ? AND key < ?",
                                 (self._FAILED, self._FAILED[:-1] + "\x20")).fetchall()
        out = [json.loads(v) for (v,) in rows]
        return [r for r in out if run is None or r["run"] == run]

    def _frame(self, sql: str, params: Sequence[Any] = ()):
        import pandas as pd

        return pd.read_sql_query(sql, self.conn, params=list(params))

    # ------------------------------------------------------------------ writes

    def add_run(self, run: str, *, path: str | None = None, config: dict | None = None,
                gen_signature: str | None = None) -> None:
        with self.transaction() as c:
            c.execute(
                "INSERT INTO runs(run, path, config_json, created_at, gen_signature) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT(run) DO UPDATE SET path=excluded.path, "
                "config_json=excluded.config_json, "
                "gen_signature=COALESCE(excluded.gen_signature, runs.gen_signature)",
                (run, path, json.dumps(config or {}, sort_keys=True, default=str), now(),
                 gen_signature))

    def add_checkpoint(self, run: str, checkpoint: str, *, step: int, path: str | None = None,
                       is_baseline: bool = False, model_hash: str | None = None) -> bool:
        """Insert or update a checkpoint. If its ``model_hash`` changed (the folder was
        overwritten), its old generations and scores are deleted in the same transaction, so
        stale numbers never sit next to new ones. Returns True when it was new or changed."""
        with self.transaction() as c:
            row = c.execute("SELECT model_hash FROM checkpoints WHERE run=? AND checkpoint=?",
                            (run, checkpoint)).fetchone()
            if row is not None and row[0] == model_hash:
                c.execute("UPDATE checkpoints SET step=?, path=?, is_baseline=? "
                          "WHERE run=? AND checkpoint=?",
                          (step, path, int(is_baseline), run, checkpoint))
                return False
            if row is not None:
                c.execute("DELETE FROM scores WHERE gen_id IN (SELECT gen_id FROM generations "
                          "WHERE run=? AND checkpoint=?)", (run, checkpoint))
                c.execute("DELETE FROM generations WHERE run=? AND checkpoint=?",
                          (run, checkpoint))
            kind = ("baseline" if is_baseline else
                    "references" if checkpoint == REFERENCES else "checkpoint")
            c.execute(
                "INSERT INTO checkpoints(run, checkpoint, step, path, is_baseline, model_hash, "
                "kind, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(run, checkpoint) "
                "DO UPDATE SET step=excluded.step, path=excluded.path, "
                "is_baseline=excluded.is_baseline, model_hash=excluded.model_hash, "
                "kind=excluded.kind, created_at=excluded.created_at",
                (run, checkpoint, step, path, int(is_baseline), model_hash, kind, now()))
            return True

    def drop_empty_checkpoint(self, run: str, checkpoint: str) -> bool:
        """Remove a checkpoint row that has no generations (e.g. its folder did not load),
        so readers never list a checkpoint with nothing in it."""
        with self.transaction() as c:
            c.execute("DELETE FROM checkpoints WHERE run=? AND checkpoint=? AND NOT EXISTS "
                      "(SELECT 1 FROM generations WHERE run=? AND checkpoint=?)",
                      (run, checkpoint, run, checkpoint))
            return c.rowcount > 0

    def add_samples(self, samples: Iterable[tuple[str, str, Sequence[str], dict]]) -> None:
        """``(sample_id, prompt, references, meta)`` rows; existing ids are kept."""
        rows = [(sid, prompt, json.dumps(list(refs), ensure_ascii=False),
                 json.dumps(meta or {}, sort_keys=True, ensure_ascii=False, default=str))
                for sid, prompt, refs, meta in samples]
        with self.transaction() as c:
            c.executemany("INSERT OR IGNORE INTO samples(sample_id, prompt, references_json, "
                          "meta_json) VALUES (?, ?, ?, ?)", rows)

    def add_generations(self, rows: Iterable[dict]) -> int:
        """Dicts with gen_id, run, checkpoint, sample_id, completion, gen_signature and
        optional n_tokens. Returns how many were new."""
        t = now()
        data = [(r["gen_id"], r["run"], r["checkpoint"], r["sample_id"], r["completion"],
                 r["gen_signature"], r.get("n_tokens"), t) for r in rows]
        with self.transaction() as c:
            before = self.conn.total_changes
            c.executemany("INSERT OR IGNORE INTO generations(gen_id, run, checkpoint, sample_id, "
                          "completion, gen_signature, n_tokens, created_at) "
                          "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", data)
            return self.conn.total_changes - before

    def add_scores(self, rows: Iterable[tuple[str, str, str, Any]]) -> int:
        """``(gen_id, metric, signature, value)``; NaN/None are stored as NULL. Returns how
        many were new (an existing key is left as it is)."""
        t = now()
        data = [(g, m, s, _clean_value(v), t) for g, m, s, v in rows]
        with self.transaction() as c:
            before = self.conn.total_changes
            c.executemany("INSERT OR IGNORE INTO scores(gen_id, metric, signature, value, "
                          "created_at) VALUES (?, ?, ?, ?, ?)", data)
            return self.conn.total_changes - before

    def set_directions(self, directions: Mapping[str, bool | None]) -> None:
        """Record whether each score is higher-is-better (True), lower (False) or neither
        (None), as its :class:`~rlhf_eval.evaluation.metrics.Metric` declares; the last
        write of a name wins."""
        data = [(m, None if v is None else int(bool(v))) for m, v in directions.items()]
        with self.transaction() as c:
            c.executemany("INSERT OR REPLACE INTO score_directions(metric, higher_is_better) "
                          "VALUES (?, ?)", data)

    def replace_winrates(self, run: str, rows: Iterable[dict]) -> None:
        """Upsert win-rate rows (they are recomputed from the scores, cheaply, each run)."""
        t = now()
        cols = ("run", "checkpoint", "baseline", "judge", "winrate", "ci_low", "ci_high", "n",
                "wins", "ties", "losses", "tie_policy", "signature")
        data = [tuple(_clean_value(r[k]) if k in ("winrate", "ci_low", "ci_high") else r[k]
                      for k in cols) + (t,) for r in rows]
        with self.transaction() as c:
            c.executemany(
                f"INSERT INTO winrates({', '.join(cols)}, created_at) VALUES "
                f"({', '.join('?' * (len(cols) + 1))}) ON CONFLICT(run, checkpoint, baseline, "
                "judge, tie_policy) DO UPDATE SET " +
                ", ".join(f"{k}=excluded.{k}" for k in cols[4:] + ("created_at",)), data)

    def replace_strengths(self, run: str, judge: str, strengths: dict[str, float], *,
                          anchor: str, signature: str) -> None:
        t = now()
        with self.transaction() as c:
            c.execute("DELETE FROM strengths WHERE run=? AND judge=?", (run, judge))
            c.executemany("INSERT INTO strengths(run, judge, checkpoint, strength, anchor, "
                          "signature, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                          [(run, judge, k, _clean_value(v), anchor, signature, t)
                           for k, v in strengths.items()])

    def add_human_judgment(self, gen_id: str, aspect: str, score: float, *,
                           annotator: str | None = None) -> int:
        with self.transaction() as c:
            c.execute("INSERT INTO human_judgments(gen_id, aspect, score, annotator, created_at)"
                      " VALUES (?, ?, ?, ?, ?)", (gen_id, aspect, float(score), annotator, now()))
            return int(c.lastrowid)

    def add_pairwise_label(self, *, sample_id: str, gen_a: str, gen_b: str, winner: str,
                           run: str | None = None, annotator: str | None = None,
                           note: str | None = None, shown_left: str | None = None) -> int:
        if winner not in ("a", "b", "tie"):
            raise StoreError(f"pairwise label: winner must be 'a', 'b' or 'tie', found "
                             f"{winner!r}")
        with self.transaction() as c:
            c.execute("INSERT INTO pairwise_labels(run, sample_id, gen_a, gen_b, winner, "
                      "annotator, note, shown_left, created_at) VALUES (?,?,?,?,?,?,?,?,?)",
                      (run, sample_id, gen_a, gen_b, winner, annotator, note, shown_left, now()))
            return int(c.lastrowid)

    def add_judgments(self, rows: Iterable[dict]) -> int:
        """LLM-judge answers: dicts with signature, key, label (None = unparsed), probs (a list
        or None) and raw (text or None). An existing (signature, key) is kept. Returns how
        many were new."""
        t = now()
        data = [(r["signature"], r["key"], r.get("label"),
                 None if r.get("probs") is None else json.dumps([float(p) for p in r["probs"]]),
                 r.get("raw"), r.get("gen_first"), r.get("gen_second"), t) for r in rows]
        with self.transaction() as c:
            before = self.conn.total_changes
            c.executemany("INSERT OR IGNORE INTO judgments(signature, key, label, probs_json, raw,"
                          " gen_first, gen_second, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                          data)
            return self.conn.total_changes - before

    def judgments_for(self, signature: str, keys: Sequence[str]) -> dict[str, dict]:
        """key -> {label, probs, raw} of the judgments already stored under ``signature``."""
        out: dict[str, dict] = {}
        wanted = set(keys)
        try:
            rows = self.conn.execute("SELECT key, label, probs_json, raw FROM judgments WHERE "
                                     "signature = ?", (signature,)).fetchall()
        except sqlite3.OperationalError:  # a read-only store written before the table existed
            return out
        for key, label, probs, raw in rows:
            if key in wanted:
                out[key] = {"label": label, "probs": None if probs is None else json.loads(probs),
                            "raw": raw}
        return out

    def judgments_of_generations(self, gen_ids: Sequence[str]):
        """LLM-judge answers that showed two of ``gen_ids`` (signature, label, probs, raw,
        gen_first, gen_second), for the dashboard's side-by-side view."""
        import pandas as pd

        ids = list(gen_ids)
        if not ids:
            return pd.DataFrame()
        marks = ", ".join("?" * len(ids))
        try:
            return self._frame("SELECT signature, label, probs_json, raw, gen_first, gen_second "
                               f"FROM judgments WHERE gen_first IN ({marks}) AND gen_second IN "
                               f"({marks})", ids + ids)
        except Exception:  # a read-only store written before the table existed
            return pd.DataFrame()

    # ------------------------------------------------------------------ incremental keys

    def done_generations(self, run: str, checkpoint: str, gen_signature: str) -> dict[str, str]:
        """sample_id -> gen_id of the generations already stored for this checkpoint."""
        rows = self.conn.execute("SELECT sample_id, gen_id FROM generations WHERE run=? AND "
                                 "checkpoint=? AND gen_signature=?",
                                 (run, checkpoint, gen_signature)).fetchall()
        return dict(rows)

    def done_scores(self, gen_ids: Sequence[str], metric_signatures: dict[str, str]
                    ) -> set[tuple[str, str]]:
        """The ``(gen_id, metric)`` pairs already scored with the given signature per metric."""
        if not gen_ids:
            return set()
        self.conn.execute("CREATE TEMP TABLE IF NOT EXISTS _want(gen_id TEXT PRIMARY KEY)")
        self.conn.execute("DELETE FROM _want")
        self.conn.executemany("INSERT OR IGNORE INTO _want VALUES (?)", [(g,) for g in gen_ids])
        rows = self.conn.execute("SELECT s.gen_id, s.metric, s.signature FROM scores s "
                                 "JOIN _want w ON w.gen_id = s.gen_id").fetchall()
        self.conn.execute("DELETE FROM _want")
        self.conn.commit()
        return {(g, m) for g, m, s in rows if metric_signatures.get(m) == s}

    def completions(self, gen_ids: Sequence[str]) -> dict[str, str]:
        """gen_id -> completion text of the given generations (those stored)."""
        out: dict[str, str] = {}
        ids = list(gen_ids)
        for start in range(0, len(ids), 500):  # SQLite caps the number of bound parameters
            part = ids[start:start + 500]
            out.update(self.conn.execute(
                f"SELECT gen_id, completion FROM generations WHERE gen_id IN "
                f"({','.join('?' * len(part))})", part).fetchall())
        return out

    def directions(self) -> dict[str, bool | None]:
        """score name -> higher is better (True/False) or None (a diagnostic), for every score
        whose direction was recorded (:meth:`set_directions`)."""
        try:
            rows = self.conn.execute(
                "SELECT metric, higher_is_better FROM score_directions").fetchall()
        except sqlite3.OperationalError:  # a store written before directions were recorded
            return {}
        return {m: None if v is None else bool(v) for m, v in rows}

    def count(self, table: str) -> int:
        if table not in TABLES:
            raise StoreError(f"unknown table {table!r}; expected one of {TABLES}")
        return int(self.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])

    # ------------------------------------------------------------------ reads (pandas)

    def runs(self):
        return self._frame("SELECT run, path, created_at, gen_signature, config_json FROM runs "
                           "ORDER BY run")

    def checkpoints(self, run: str | None = None):
        return self._frame(
            "SELECT run, checkpoint, step, is_baseline, kind, path, model_hash, created_at "
            "FROM checkpoints WHERE (? IS NULL OR run = ?) ORDER BY run, step, checkpoint",
            (run, run))

    def samples(self):
        df = self._frame("SELECT sample_id, prompt, references_json, meta_json FROM samples")
        df["references"] = df.pop("references_json").map(json.loads)
        df["meta"] = df.pop("meta_json").map(json.loads)
        return df

    def generations(self, run: str | None = None, *, all_signatures: bool = False):
        """Generations of the run's current generation settings (plus the references);
        ``all_signatures=True`` returns older generation settings too."""
        sql = ("SELECT g.gen_id, g.run, g.checkpoint, c.step, c.is_baseline, c.kind, g.sample_id, "
               "s.prompt, s.references_json, g.completion, g.gen_signature, g.n_tokens "
               "FROM generations g JOIN samples s ON s.sample_id = g.sample_id "
               "LEFT JOIN checkpoints c ON c.run = g.run AND c.checkpoint = g.checkpoint "
               "JOIN runs r ON r.run = g.run WHERE (? IS NULL OR g.run = ?)")
        if not all_signatures:
            sql += (" AND (r.gen_signature IS NULL OR g.gen_signature = r.gen_signature "
                    f"OR g.checkpoint = '{REFERENCES}')")
        df = self._frame(sql + " ORDER BY g.run, c.step, g.checkpoint, g.sample_id", (run, run))
        df["references"] = df.pop("references_json").map(json.loads)
        return df

    def scores_frame(self, run: str | None = None, *, latest_signature: bool = True,
                     all_signatures: bool = False):
        """One row per (generation, score): run, checkpoint, step, sample_id, gen_id, prompt,
        completion, references (list), metric, value (NaN = missing), signature.

        With ``latest_signature`` (default) a metric scored under several signatures (the
        user changed its settings) keeps only the most recently written signature per run."""
        sql = ("SELECT g.run, g.checkpoint, c.step, c.is_baseline, c.kind, g.sample_id, g.gen_id, "
               "s.prompt, g.completion, s.references_json, sc.metric, sc.value, sc.signature, "
               "sc.rowid AS _written FROM scores sc JOIN generations g ON g.gen_id = sc.gen_id "
               "JOIN samples s ON s.sample_id = g.sample_id "
               "LEFT JOIN checkpoints c ON c.run = g.run AND c.checkpoint = g.checkpoint "
               "JOIN runs r ON r.run = g.run WHERE (? IS NULL OR g.run = ?)")
        if not all_signatures:
            sql += (" AND (r.gen_signature IS NULL OR g.gen_signature = r.gen_signature "
                    f"OR g.checkpoint = '{REFERENCES}')")
        df = self._frame(sql + " ORDER BY g.run, c.step, g.checkpoint, g.sample_id, sc.metric",
                         (run, run))
        df["references"] = df.pop("references_json").map(json.loads)
        df["value"] = df["value"].astype(float)
        if latest_signature and len(df):
            # rowid grows with every insert: the last signature written wins
            latest = (df.sort_values("_written").groupby(["run", "metric"])["signature"]
                      .last().rename("_latest"))
            df = df.join(latest, on=["run", "metric"])
            df = df[df["signature"] == df.pop("_latest")]
        return df.drop(columns="_written").reset_index(drop=True)

    def checkpoint_summary(self, run: str | None = None, *, confidence: float = 0.95,
                           seed: int = 0, n_resamples: int = 1000):
        """Per (run, checkpoint, metric): mean over samples with a seeded percentile
        bootstrap CI; ``n`` counts present values, ``n_missing`` the NULLs (excluded)."""
        import numpy as np
        import pandas as pd

        from .stats import bootstrap_ci

        df = self.scores_frame(run)
        out = []
        keys = ["run", "checkpoint", "step", "metric"]
        for (r, ck, step, metric), grp in df.groupby(keys, dropna=False, sort=False):
            vals = grp["value"].to_numpy(dtype=float)
            present = vals[~np.isnan(vals)]
            mean = lo = hi = float("nan")
            if len(present):
                ci = bootstrap_ci(present, n_resamples=n_resamples, seed=seed,
                                  confidence=confidence)
                mean, lo, hi = ci.estimate, ci.low, ci.high
            out.append({"run": r, "checkpoint": ck, "step": step, "metric": metric,
                        "mean": mean, "ci_low": lo, "ci_high": hi, "n": int(len(present)),
                        "n_missing": int(len(vals) - len(present))})
        cols = keys + ["mean", "ci_low", "ci_high", "n", "n_missing"]
        return pd.DataFrame(out, columns=cols)

    def winrates(self, run: str | None = None):
        return self._frame("SELECT * FROM winrates WHERE (? IS NULL OR run = ?) "
                           "ORDER BY run, judge, baseline, checkpoint", (run, run))

    def strengths(self, run: str | None = None):
        return self._frame("SELECT * FROM strengths WHERE (? IS NULL OR run = ?) "
                           "ORDER BY run, judge, strength DESC", (run, run))

    def pairwise_labels(self, run: str | None = None):
        return self._frame("SELECT * FROM pairwise_labels WHERE (? IS NULL OR run = ?) "
                           "ORDER BY id", (run, run))

    def human_judgments(self):
        return self._frame("SELECT h.*, g.run, g.checkpoint, g.sample_id FROM human_judgments h "
                           "LEFT JOIN generations g ON g.gen_id = h.gen_id ORDER BY h.id")

    def export(self, out_dir: str | Path, format: str = "parquet") -> list[Path]:
        """Write every table (and the joined ``scores_frame``) as Parquet or CSV files."""
        if format not in ("parquet", "csv"):
            raise StoreError(f"export format must be 'parquet' or 'csv', found {format!r}")
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        present = {r[0] for r in self.conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table'")}
        # a read-only store written before a table was added simply lacks it
        frames = {t: self._frame(f"SELECT * FROM {t}") for t in TABLES if t in present}
        frames["scores_frame"] = self.scores_frame()
        written = []
        for name, df in frames.items():
            path = out / f"{name}.{format}"
            if name == "scores_frame":
                df = df.assign(references=df["references"].map(json.dumps))
            if format == "parquet":
                df.to_parquet(path, index=False)
            else:
                df.to_csv(path, index=False)
            written.append(path)
        return written


def open_store(run_dir_or_file: str | Path, *, readonly: bool = False) -> ResultsStore:
    """Open ``<run_dir>/results.sqlite`` (or the file itself when a file path is given)."""
    p = Path(run_dir_or_file)
    if p.is_dir() or (not p.suffix and not p.exists()):
        p = p / DEFAULT_FILENAME
    return ResultsStore(p, readonly=readonly)
