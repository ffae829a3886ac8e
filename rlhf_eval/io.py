"""Read and write records (:mod:`rlhf_eval.schema`) in the formats people keep them in.

Formats (picked from the file name unless ``format=`` is given):

=============  ==========================================================================
``jsonl``      one JSON object per line (``.jsonl``; ``.jsonl.gz`` is read/written gzipped)
``json``       one JSON list of objects (``.json``)
``csv``        a header row; list/object fields (``references``, ``completions``, ``meta``)
               are JSON-encoded cells; an empty cell is a missing value
``parquet``    via pyarrow; lists stay lists, ``meta`` is a JSON-encoded string column
``hf``         a folder written by ``datasets.Dataset.save_to_disk`` (``DatasetDict`` too);
               :func:`read_records` also takes a ``Dataset``/``DatasetDict`` object
=============  ==========================================================================

Every problem in a record is a :class:`~rlhf_eval.errors.DataError` naming the file, the
1-based line (text formats: the line in the file where the record starts, so an editor can jump
there; for CSV that is also the spreadsheet row, the header being row 1; Parquet and datasets:
the 1-based row) and the field; a non-UTF-8 byte is reported with its byte offset. ``on_error="skip"`` keeps going and lists every
skipped record with its reason in :class:`ReadResult` - nothing is dropped silently. Problems
with the file as a whole (missing, not gzip, a JSON list that does not parse) always raise,
because no record after them can be located reliably.

Every writer is atomic (:func:`atomic_write`): the target is either absent, its old content,
or the complete new content - never half a file, even if the process is killed.
"""
from __future__ import annotations

import csv
import gzip
import io
import json
import os
import re
import shutil
import stat
import tempfile
import zlib
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from .errors import DataError, Location
from .adapters import Row, _decode_utf8, get_adapter
from .schema import RECORD_TYPES, PreferencePair, Ranking, record_type

FORMATS = ("jsonl", "jsonl.gz", "json", "csv", "parquet", "hf")
ON_ERROR = ("raise", "skip")

# Fields whose CSV cell is JSON (lists and objects); numbers are parsed; an empty cell is a
# missing value except for the texts that may legitimately be empty.
_JSON_FIELDS = frozenset({"references", "completions", "meta"})
_NUMBER_FIELDS = frozenset({"margin", "score"})
_EMPTY_TEXT_FIELDS = frozenset({"prompt", "completion"})

# The process umask, read once: mkstemp creates 0600 files, but a file the user keeps should
# get the same permissions `open(path, "w")` would have given it.
_UMASK = os.umask(0)
os.umask(_UMASK)

# ============================================================================ atomic writing


def _fsync_dir(folder: Path) -> None:
    # the rename itself must reach the disk too, or a power cut can bring back the old name
    with suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8",
                 newline: str | None = None):
    """Open a temp file next to ``path``; on success fsync it and ``os.replace`` it onto
    ``path``. On any exception (or a kill) the temp file is gone (or left as a hidden
    ``.name.*.tmp``) and ``path`` keeps its old content or stays absent.

    The temp file lives in the same folder because ``os.replace`` is only atomic within one
    file system.
    """
    if mode not in ("w", "wb", "wt", "x", "xb"):
        raise ValueError(f"atomic_write supports write modes 'w'/'wb', not {mode!r}")
    target = Path(path)
    if mode.startswith("x") and target.exists():
        raise FileExistsError(str(target))
    folder = target.parent
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    binary = "b" in mode
    try:
        # a rewritten file keeps its permissions; a new one gets what open() would give it
        os.fchmod(fd, stat.S_IMODE(os.stat(target).st_mode) if target.exists()
                  else 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb" if binary else "w", encoding=None if binary else encoding,
                       newline=newline) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(folder)


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> None:
    with atomic_write(path, "w", encoding=encoding) as handle:
        handle.write(text)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_write(path, "wb") as handle:
        handle.write(data)


def atomic_write_json(path: str | os.PathLike, obj: Any, *, indent: int | None = 2,
                      sort_keys: bool = False) -> None:
    """JSON with a trailing newline; NaN/Infinity are refused (they are not JSON and break
    strict readers): convert them to ``None`` first."""
    text = json.dumps(obj, indent=indent, sort_keys=sort_keys, ensure_ascii=False,
                      allow_nan=False)
    atomic_write_text(path, text + "\n")


@contextmanager
def atomic_dir(path: str | os.PathLike):
    """Yield a fresh temp folder next to ``path``; on success it replaces ``path``.

    A folder cannot be swapped atomically onto a non-empty one, so the old folder is first
    renamed aside, the new one renamed in, and the old one removed: at every moment ``path`` is
    absent, the old folder or the complete new one - never a partly written folder.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        old = None
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old",
                                        dir=target.parent))
            os.replace(target, old / "x")
        os.replace(tmp, target)
        _fsync_dir(target.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextmanager
def publish_into(folder: str | os.PathLike, *, last: Sequence[str] = ()):
    """Yield a temp folder inside ``folder``; when the block succeeds, fsync everything in it
    and rename each entry into ``folder`` (the names in ``last`` after the others, e.g. the
    ``config.json`` loaders look for). For several files that belong together (a report, a
    saved model) in a folder that also holds other things: a full disk or any error while
    writing leaves ``folder`` exactly as it was, never half old and half new."""
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".publish.", suffix=".tmp", dir=target))
    try:
        yield tmp
        entries = sorted(tmp.iterdir(), key=lambda p: (p.name in last, p.name))
        for path in tmp.rglob("*"):
            if path.is_file():
                with open(path, "rb") as fh:
                    os.fsync(fh.fileno())
        for entry in entries:
            dest = target / entry.name
            if entry.is_dir() and dest.is_dir():
                shutil.rmtree(dest)
            os.replace(entry, dest)
        _fsync_dir(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ============================================================================ format detection


def detect_format(path: str | os.PathLike) -> str:
    p = Path(path)
    name = p.name.lower()
    if p.is_dir():
        return "hf"
    for suffix, fmt in ((".jsonl.gz", "jsonl.gz"), (".jsonl", "jsonl"), (".ndjson", "jsonl"),
                        (".json", "json"), (".csv", "csv"), (".parquet", "parquet"),
                        (".pq", "parquet")):
        if name.endswith(suffix):
            return fmt
    raise DataError(f"cannot tell the format from the file name; expected one of the "
                    f"extensions .jsonl, .jsonl.gz, .json, .csv, .parquet or a folder saved with "
                    f"datasets' save_to_disk (or pass format= one of {FORMATS})", path=str(path))


def _check_format(fmt: str, path: str | None = None) -> str:
    if fmt not in FORMATS:
        raise DataError(f"unknown format {fmt!r}; expected one of {FORMATS}", path=path)
    return fmt


# ============================================================================ raw rows


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json.loads keeps the last of two equal keys; a record that says two things is an error
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise DataError("the key appears twice in one JSON object", field=key)
        out[key] = value
    return out


MAX_DEPTH = 32          # records are flat; messages/meta nest a few levels at most
MAX_INT_DIGITS = 30     # beyond any count or id a record holds (2**64 has 20 digits)
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def check_plain_value(value: Any, field: str | None = None, depth: int = 0) -> None:
    """Refuse what JSON can spell but no record means, before it crashes a later stage: lone
    UTF-16 surrogates (``"\\ud800"`` decodes to a string UTF-8 cannot encode), nesting deeper
    than :data:`MAX_DEPTH`, integers longer than :data:`MAX_INT_DIGITS` digits, NaN/Infinity."""
    if depth > MAX_DEPTH:
        raise DataError(f"nested more than {MAX_DEPTH} levels deep", field=field)
    if isinstance(value, str):
        m = _LONE_SURROGATE.search(value)
        if m:
            raise DataError(f"a lone UTF-16 surrogate {ascii(m.group())} at character "
                            f"{m.start()} (not valid Unicode text)", field=field)
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int):
        if abs(value) >= 10 ** MAX_INT_DIGITS:
            raise DataError(f"an integer of more than {MAX_INT_DIGITS} digits", field=field)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            check_plain_value(key, field, depth + 1)
            check_plain_value(item, key if field is None else f"{field}.{key}", depth + 1)
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            check_plain_value(item, f"{field or ''}[{i}]", depth + 1)


def _parse_json_line(text: str) -> Any:
    """``json.loads`` whose every failure is a DataError (deep nesting, huge integers and
    lone surrogates included)."""
    try:
        obj = json.loads(text, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        raise DataError(f"malformed JSON: {exc.msg} at column {exc.colno}") from None
    except RecursionError:
        raise DataError(f"JSON nested more than {MAX_DEPTH} levels deep") from None
    except DataError:  # a duplicate key (DataError is a ValueError too)
        raise
    except ValueError as exc:  # e.g. "Exceeds the limit (4300 digits) for integer string"
        raise DataError(f"unreadable JSON value: {exc}") from None
    check_plain_value(obj)
    return obj


def _jsonl_rows(path: str, gz: bool) -> Iterator[Row]:
    opener = gzip.open if gz else open
    where = " (in the uncompressed stream)" if gz else ""
    offset = 0
    try:
        with opener(path, "rb") as handle:
            for lineno, raw in enumerate(handle, 1):
                start, offset = offset, offset + len(raw)
                if not raw.strip():
                    continue  # a blank line holds no record (e.g. a trailing newline)
                if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
                    raw, start = raw[3:], 3  # a UTF-8 byte-order mark some editors write
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    yield Row(lineno, DataError(
                        f"not valid UTF-8: byte 0x{raw[exc.start]:02x} at byte offset "
                        f"{start + exc.start} of the file{where} (column {exc.start + 1})"))
                    continue
                try:
                    obj = _parse_json_line(text)
                except DataError as exc:
                    yield Row(lineno, exc)
                    continue
                if not isinstance(obj, dict):
                    yield Row(lineno, DataError(
                        f"expected a JSON object per line, found {type(obj).__name__}"))
                    continue
                yield Row(lineno, obj)
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise DataError(f"not a readable gzip file: {exc}", path=path) from None





_WS = re.compile(r"\s*")


def iter_jsonl(path: str | os.PathLike) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for every record of a JSONL file (``.gz`` too), raising the
    first bad line as a :class:`DataError` with file and line. For readers of free-form JSONL
    (prompt files, logs) that do not map to one record kind of :func:`read_records`."""
    path = str(path)
    if not Path(path).is_file():
        raise DataError("file not found", path=path)
    for row in _jsonl_rows(path, path.endswith(".gz")):
        if isinstance(row.data, DataError):
            raise row.data.at(path=path, line=row.line)
        yield row.line, dict(row.data)


def _json_list_rows(path: str) -> Iterator[Row]:
    """Elements of a JSON list, each with the line it starts on (raw_decode keeps offsets)."""
    text = _decode_utf8(Path(path).read_bytes(), path)
    decoder = json.JSONDecoder(object_pairs_hook=_unique_keys)
    pos = _WS.match(text, 0).end()
    if not text[pos:pos + 1] == "[":
        found = "an object" if text[pos:pos + 1] == "{" else "no list"
        raise DataError(f"expected a JSON list of records, found {found} (a file with one "
                        f"object per line should be named .jsonl)", path=path, line=1)
    pos = _WS.match(text, pos + 1).end()
    line, counted = 1, 0
    if text[pos:pos + 1] == "]":
        return
    while True:
        line += text.count("\n", counted, pos)
        counted = pos
        try:
            obj, end = decoder.raw_decode(text, pos)
            check_plain_value(obj)
        except json.JSONDecodeError as exc:
            raise DataError(f"malformed JSON: {exc.msg} at column {exc.colno}", path=path,
                            line=exc.lineno) from None
        except RecursionError:
            raise DataError(f"JSON nested more than {MAX_DEPTH} levels deep", path=path,
                            line=line) from None
        except DataError as exc:  # a duplicate key or a bad value: skip just this record
            try:
                end = json.JSONDecoder().raw_decode(text, pos)[1]
            except (ValueError, RecursionError):
                raise exc.at(path=path, line=line) from None
            obj = exc
        except ValueError as exc:  # an integer too long to convert
            raise DataError(f"unreadable JSON value: {exc}", path=path, line=line) from None
        if isinstance(obj, (dict, DataError)):
            yield Row(line, obj)
        else:
            yield Row(line, DataError(f"expected a JSON object, found {type(obj).__name__}"))
        pos = _WS.match(text, end).end()
        sep = text[pos:pos + 1]
        if sep == ",":
            pos = _WS.match(text, pos + 1).end()
        elif sep == "]":
            if text[pos + 1:].strip():
                raise DataError("unexpected content after the closing ']'", path=path,
                                line=text.count("\n", 0, pos) + 1)
            return
        else:
            raise DataError(f"malformed JSON: expected ',' or ']' after a record, found "
                            f"{sep or 'the end of the file'!r}", path=path,
                            line=text.count("\n", 0, pos) + 1)


_SURROGATE = re.compile("[\udc80-\udcff]")


def _csv_value(name: str, cell: str, json_fields: frozenset[str]) -> Any:
    if cell == "":
        return "" if name in _EMPTY_TEXT_FIELDS else None
    if name in _NUMBER_FIELDS:
        try:
            return int(cell) if re.fullmatch(r"[+-]?\d+", cell) else float(cell)
        except ValueError:
            raise DataError(f"expected a number, found {cell!r:.60}", field=name) from None
    looks_json = cell.lstrip().startswith(("[", "{"))
    if name == "meta" or (name in _JSON_FIELDS and looks_json):
        try:
            return json.loads(cell)
        except json.JSONDecodeError as exc:
            raise DataError(f"expected a JSON-encoded cell ({exc.msg} at column {exc.colno}), "
                            f"found {cell!r:.60}", field=name) from None
        except (RecursionError, ValueError):
            raise DataError("a JSON-encoded cell nested too deeply or holding a number too "
                            "long to read", field=name) from None
    if name in json_fields and looks_json:  # an adapter's field that may hold messages
        with suppress(json.JSONDecodeError, RecursionError, ValueError):
            return json.loads(cell)
    return cell  # a single reference may be a plain string: the schema accepts it


def _csv_rows(path: str, json_fields: frozenset[str] = frozenset()) -> Iterator[Row]:
    data = Path(path).read_bytes()
    # surrogateescape keeps undecodable bytes as lone surrogates, so one bad byte costs one
    # record, and re-encoding a prefix gives the exact byte offset of the bad byte
    text = data.decode("utf-8", "surrogateescape")
    bad = []  # (line, byte offset in the file, byte value) of every undecodable byte
    for m in _SURROGATE.finditer(text):
        prefix = text[:m.start()].encode("utf-8", "surrogateescape")
        bad.append((prefix.count(b"\n") + 1, len(prefix), ord(m.group()) - 0xDC00))
    if text.startswith("\ufeff"):
        text = text[1:]  # a byte-order mark (Excel writes one)
    csv.field_size_limit(max(csv.field_size_limit(), 2**31 - 1))  # dialogues exceed 128 KiB
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        return
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise DataError(f"duplicate column name(s) {dupes} in the header", path=path, line=1,
                        field=dupes[0])
    previous = reader.line_num
    for cells in reader:
        start, previous = previous + 1, reader.line_num
        if not cells:
            continue  # a blank line
        if len(cells) != len(header):
            yield Row(start, DataError(f"expected {len(header)} cells (columns {header}), "
                                       f"found {len(cells)}"))
            continue
        broken = [(name, cell) for name, cell in zip(header, cells) if _SURROGATE.search(cell)]
        if broken:
            line, offset, byte = next(((ln, off, b) for ln, off, b in bad
                                       if start <= ln <= previous), (start, -1, 0))
            yield Row(line, DataError(f"not valid UTF-8: byte 0x{byte:02x} at byte offset "
                                      f"{offset} of the file", field=broken[0][0]))
            continue
        try:
            yield Row(start, {name: value for name, cell in zip(header, cells)
                              if (value := _csv_value(name, cell, json_fields)) is not None})
        except DataError as exc:
            yield Row(start, exc)


def _decode_arrow_row(row: dict[str, Any]) -> dict[str, Any]:
    # Arrow tables have a column for every key: None there means "absent in this record".
    out = {k: v for k, v in row.items() if v is not None}
    meta = out.get("meta")
    if isinstance(meta, str):  # our Parquet/HF writers store meta as a JSON string
        try:
            out["meta"] = json.loads(meta)
        except (RecursionError, ValueError):  # JSONDecodeError is a ValueError
            pass  # left as a string: the schema check reports it with the field name
    if isinstance(out.get("meta"), dict):
        out["meta"] = {k: v for k, v in out["meta"].items() if v is not None}
    return out


def _parquet_rows(path: str) -> Iterator[Row]:
    import pyarrow.parquet as pq

    try:
        pfile = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises ArrowInvalid/OSError with a useful text
        raise DataError(f"not a readable Parquet file: {exc}", path=path) from None
    index = 0
    for batch in pfile.iter_batches(batch_size=4096):
        for row in batch.to_pylist():
            index += 1
            yield Row(index, _decode_arrow_row(row), "row")


def _dataset_rows(dataset) -> Iterator[Row]:
    for index, row in enumerate(dataset, 1):
        yield Row(index, _decode_arrow_row(dict(row)), "row")


def _is_hf_dataset(obj: Any) -> bool:
    mod = type(obj).__module__ or ""
    return mod.startswith("datasets") and type(obj).__name__ in ("Dataset", "DatasetDict")


def _hf_sources(obj, split: str | None, label: str) -> Iterator[tuple[str, Iterator[Row]]]:
    """(location label, rows) for a Dataset, or for each (or the chosen) split of a DatasetDict."""
    if type(obj).__name__ == "DatasetDict":
        names = list(obj)
        if split is not None:
            if split not in obj:
                raise DataError(f"no split {split!r}; the DatasetDict has {names}", path=label)
            names = [split]
        for name in names:
            yield f"{label}[{name}]", _dataset_rows(obj[name])
    else:
        yield label, _dataset_rows(obj)


def _load_from_disk(path: str):
    import datasets

    try:
        return datasets.load_from_disk(path)
    except Exception as exc:  # FileNotFoundError for a folder that is not a saved dataset
        raise DataError(f"not a folder written by datasets' save_to_disk: {exc}",
                        path=path) from None


# ============================================================================ reading


@dataclass
class ReadResult:
    """Records read from one source, and every record that was skipped (with its reason)."""

    records: list
    skipped: list[tuple[Location, str]] = field(default_factory=list)
    source: str = "<data>"
    kind: str = ""
    n_read: int = 0  # input records (lines/rows/documents) seen

    @property
    def counts(self) -> dict[str, int]:
        return {"read": self.n_read, "ok": len(self.records), "skipped": len(self.skipped),
                "input_ok": self.n_read - len(self.skipped)}

    def summary(self) -> str:
        c = self.counts
        text = (f"{self.source}: read {c['read']} input record(s): {c['input_ok']} ok, "
                f"{c['skipped']} skipped; {c['ok']} {self.kind} record(s)")
        if self.skipped:
            text += "\nskipped:\n" + "\n".join(f"  {loc}: {reason}" for loc, reason in self.skipped)
        return text

    def __iter__(self):
        return iter(self.records)

    def __len__(self) -> int:
        return len(self.records)


def _sources(source, fmt: str | None, split: str | None,
             adapter) -> Iterator[tuple[str, Iterator[Row]]]:
    if _is_hf_dataset(source):
        yield from _hf_sources(source, split, f"<{type(source).__name__}>")
        return
    if not isinstance(source, (str, os.PathLike)):
        raise DataError(f"expected a file path, a folder or a datasets.Dataset, found "
                        f"{type(source).__name__}")
    path = str(source)
    if not os.path.exists(path):
        raise DataError("no such file or folder", path=path)
    if adapter is not None and adapter.rows is not None:  # an input layout of its own
        yield path, adapter.rows(path)
        return
    fmt = _check_format(fmt, path) if fmt else detect_format(path)
    if fmt in ("jsonl", "jsonl.gz"):
        yield path, _jsonl_rows(path, gz=fmt == "jsonl.gz" or path.endswith(".gz"))
    elif fmt == "json":
        yield path, _json_list_rows(path)
    elif fmt == "csv":
        yield path, _csv_rows(path, adapter.csv_json_fields if adapter else frozenset())
    elif fmt == "parquet":
        yield path, _parquet_rows(path)
    else:
        yield from _hf_sources(_load_from_disk(path), split, path)


def read_records(source, kind: str, *, on_error: str = "raise", format: str | None = None,
                 strict: bool = True, adapter=None, split: str | None = None) -> ReadResult:
    """Read and validate records of ``kind`` (one of ``schema.RECORD_TYPES``).

    ``source``: a path (format from the extension unless ``format=`` is given), a folder saved
    with ``save_to_disk``, or a ``datasets.Dataset``/``DatasetDict`` (``split=`` picks one
    split; otherwise all splits are read in order). ``adapter``: a name in
    ``rlhf_eval.adapters.ADAPTERS`` (``"hh-rlhf"``, ``"trl"``, ``"summeval"``) or an
    ``Adapter``, to read data in another layout. ``strict``: unknown fields are an error
    (``False``: they are ignored). ``on_error="skip"``: bad records are listed in
    ``ReadResult.skipped`` instead of raising.
    """
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {ON_ERROR}, found {on_error!r}")
    if adapter is not None:
        adapter = get_adapter(adapter)
        if kind not in adapter.kinds:
            raise DataError(f"the {adapter.name!r} adapter produces {list(adapter.kinds)} "
                            f"records, not {kind!r}")
        convert: Callable[[Mapping[str, Any]], list] = lambda d: adapter.convert(d, strict)
    else:
        cls = record_type(kind)
        convert = lambda d: [cls.from_dict(d, strict=strict)]

    result = ReadResult(records=[], kind=kind)
    labels = []
    for label, rows in _sources(source, format, split, adapter):
        labels.append(label)
        for row in rows:
            result.n_read += 1
            try:
                if isinstance(row.data, DataError):
                    raise row.data
                check_plain_value(row.data)  # CSV JSON cells, Parquet, datasets
                result.records.extend(r for r in convert(row.data) if r.kind == kind)
            except DataError as exc:
                located = exc.at(path=label, line=row.line, unit=row.unit)
                if on_error == "raise":
                    raise located from None
                result.skipped.append((located.location, located.reason))
    result.source = ", ".join(labels) if labels else str(source)
    return result


def guess_kind(source, *, format: str | None = None, split: str | None = None) -> str:
    """The record kind of a file from the keys of its first readable record."""
    for label, rows in _sources(source, format, split, None):
        for row in rows:
            if isinstance(row.data, DataError):
                continue
            keys = set(row.data)
            for kind, cls in RECORD_TYPES.items():
                required = {"pair": {"chosen", "rejected"}, "ranking": {"completions"},
                            "sample": {"completion"}, "judgement": {"sample_id", "score"},
                            "choice": {"sample_a", "sample_b", "winner"}}[kind]
                if required <= keys:
                    if kind == "pair" and "prompt" not in keys:
                        raise DataError("records have 'chosen'/'rejected' but no 'prompt': for "
                                        "whole dialogues (HH-RLHF) use --adapter hh-rlhf",
                                        path=label, line=row.line, unit=row.unit)
                    return kind
            raise DataError(f"cannot tell the record kind from the fields {sorted(keys)}; "
                            f"pass the kind ({sorted(RECORD_TYPES)})", path=label,
                            line=row.line, unit=row.unit)
    raise DataError("no readable record to tell the kind from; pass the kind",
                    path=str(source))


def to_pairs(records: Iterable) -> list[PreferencePair]:
    """Preference pairs from pairs and rankings (a ranking of K gives K(K-1)/2 pairs)."""
    out: list[PreferencePair] = []
    for record in records:
        if isinstance(record, Ranking):
            out.extend(record.to_pairs())
        elif isinstance(record, PreferencePair):
            out.append(record)
        else:
            raise DataError(f"expected preference pairs or rankings, found a "
                            f"{type(record).__name__}")
    return out


# ============================================================================ writing


def _as_dict(record) -> dict[str, Any]:
    if hasattr(record, "to_dict"):
        return record.to_dict()
    if isinstance(record, Mapping):
        return dict(record)
    raise TypeError(f"expected schema records or dicts, found {type(record).__name__}")


def _columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for row in rows:
        for key in row:
            seen.setdefault(key, None)
    return list(seen)


def _arrow_columns(rows: Sequence[Mapping[str, Any]]) -> dict[str, list]:
    # meta holds arbitrary per-record keys and value types, which an Arrow struct cannot:
    # store it as a JSON string (the readers decode it back)
    cols = {}
    for name in _columns(rows):
        values = [row.get(name) for row in rows]
        if name == "meta":
            values = [None if v is None else json.dumps(v, ensure_ascii=False) for v in values]
        cols[name] = values
    return cols


def to_dataset(records: Iterable):
    """A ``datasets.Dataset`` of the records (``meta`` as a JSON string column)."""
    import datasets

    rows = [_as_dict(r) for r in records]
    return datasets.Dataset.from_dict(_arrow_columns(rows))


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float):
        return repr(value)  # round-trips exactly
    return str(value)


def _write_lines(handle, rows: Sequence[Mapping[str, Any]], chunk: int = 512) -> None:
    # in chunks: a few MB at a time instead of one string as large as the file
    for start in range(0, len(rows), chunk):
        handle.write("".join(json.dumps(r, ensure_ascii=False) + "\n"
                             for r in rows[start:start + chunk]).encode("utf-8"))


def write_records(path: str | os.PathLike, records: Iterable, format: str | None = None) -> int:
    """Write schema records (or plain dicts) atomically; returns the number written.

    The records are materialised before the target is touched, so an exception raised while
    iterating them leaves the target as it was.
    """
    target = str(path)
    fmt = _check_format(format, target) if format else (
        "hf" if target.endswith(os.sep) else detect_format(target))
    rows = [_as_dict(r) for r in records]
    if fmt in ("jsonl", "jsonl.gz"):
        with atomic_write(target, "wb") as handle:
            if fmt == "jsonl.gz" or target.endswith(".gz"):
                # mtime=0: the same records give the same bytes (reproducible artefacts)
                with gzip.GzipFile(fileobj=handle, mode="wb", mtime=0) as gz:
                    _write_lines(gz, rows)
            else:
                _write_lines(handle, rows)
    elif fmt == "json":
        with atomic_write(target) as handle:
            json.dump(rows, handle, ensure_ascii=False, indent=1)
            handle.write("\n")
    elif fmt == "csv":
        columns = _columns(rows)
        with atomic_write(target, newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(columns)
            for row in rows:
                writer.writerow([_csv_cell(row.get(c)) for c in columns])
    elif fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table(_arrow_columns(rows)) if rows else pa.table({})
        with atomic_write(target, "wb") as handle:
            pq.write_table(table, handle)
    else:  # hf
        dataset = to_dataset(rows)
        with atomic_dir(target.rstrip(os.sep)) as tmp:
            dataset.save_to_disk(str(tmp))
    return len(rows)
