"""Issue 19: a seeded, derandomized hypothesis fuzz of the data readers, gate specs and CLI
options. Property: no input produces a traceback or an exit code outside its documented
meaning (validate: 0 ok, 1 only with --on-error skip, 2 bad input; report: 0/1/2; never 3).
The trial counts and outcome classes are printed at the end (run with -s to see them)."""
from __future__ import annotations

import collections
import json

import pytest
from hypothesis import HealthCheck, Phase, given, settings, strategies as st

from rlhf_eval.cli import main

# no shrinking phase: a failure prints its (unshrunk) example at once instead of spending
# minutes minimising it inside the CI budget
FUZZ = settings(max_examples=120, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck), print_blob=True,
                phases=[Phase.explicit, Phase.generate])
OUTCOMES: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)

# JSON values with the nasty corners: lone surrogates, huge and negative ints, NaN, deep lists
nasty_text = st.one_of(st.text(max_size=20), st.sampled_from(
    ["\ud800", "a\udfffb", "\x00", "\u202e", "", " ", "\n", "<script>", "|", "## x"]))
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10 ** 60, 10 ** 60),
                    st.floats(allow_nan=True, allow_infinity=True), nasty_text)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(nasty_text, inner, max_size=4)), max_leaves=12)
FIELDS = ["prompt", "chosen", "rejected", "margin", "annotator", "meta", "id", "completion",
          "completions", "references", "score", "winner", "sample_id"]
records = st.dictionaries(st.sampled_from(FIELDS) | nasty_text, values, max_size=6)


lines = st.one_of(records.map(lambda r: json.dumps(r, allow_nan=True)),
                  st.text(max_size=40),
                  st.sampled_from(["[" * 3000 + "]" * 3000, '{"prompt": ' + "9" * 5000 + "}",
                                   '{"prompt": "\\ud800", "chosen": "a", "rejected": "b"}',
                                   '{"a": 1, "a": 2}', "\ufeff{}", "null", "[]"]))


@FUZZ
@given(body=st.lists(lines, min_size=1, max_size=4), skip=st.booleans(),
       kind=st.sampled_from([None, "pair", "ranking", "sample", "judgement", "choice"]),
       suffix=st.sampled_from([".jsonl", ".json", ".csv"]))
def test_fuzz_data_validate(tmp_path_factory, body, skip, kind, suffix):
    path = tmp_path_factory.mktemp("fz") / f"data{suffix}"
    text = "\n".join(body) + "\n"
    if suffix == ".json":
        text = "[" + ",\n".join(body) + "]"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    argv = ["data", "validate", str(path)] + (["--kind", kind] if kind else []) + (
        ["--on-error", "skip"] if skip else [])
    code = main(argv)
    OUTCOMES["data validate"][code] += 1
    assert code in ((0, 1, 2) if skip else (0, 2)), argv


gate_values = st.one_of(scalars, st.sampled_from(["false", "no", "true", ".nan", "1e999"]))
gate_entries = st.one_of(
    st.text(max_size=30),
    st.fixed_dictionaries({"metric": st.sampled_from(["gold", "kl", "reward", "nope", ""]) |
                           nasty_text},
                          optional={k: gate_values for k in
                                    ("max_drop", "max", "min", "relative", "significance",
                                     "extra")}))
gate_docs = st.one_of(values, st.fixed_dictionaries(
    {"gates": st.lists(gate_entries, max_size=3)},
    optional={"confidence": gate_values, "checkpoint": gate_values, "baseline": gate_values}))


@FUZZ
@given(doc=gate_docs)
def test_fuzz_gate_files(tmp_path_factory, doc):
    import yaml

    from rlhf_eval.errors import ConfigError
    from rlhf_eval.gates import load_gates

    path = tmp_path_factory.mktemp("gz") / "gates.yaml"
    try:
        path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    except (UnicodeEncodeError, yaml.YAMLError):
        OUTCOMES["gate file"]["unwritable input"] += 1
        return
    try:
        gates, options = load_gates(path)
    except ConfigError:
        OUTCOMES["gate file"]["refused (ConfigError)"] += 1
        return
    OUTCOMES["gate file"]["accepted"] += 1
    import math

    for g in gates:
        assert isinstance(g.relative, bool) and isinstance(g.significance, bool)
        for v in (g.max_drop, g.max, g.min):
            assert v is None or (isinstance(v, float) and math.isfinite(v))


FLAGS = {
    "--fail-on": st.one_of(st.text(max_size=20), st.sampled_from(
        ["gold:drop>0.1", "kl:>1e999", "gold:drop>5%", "reward:<nan", "x:drop>1"])),
    "--format": st.sampled_from(["md", "json,junit", "pdf", "", "md,,html"]),
    "--confidence": st.sampled_from(["0.9", "nan", "1", "-0.1", "abc", "1e999"]),
    "--checkpoint": st.one_of(nasty_text, st.sampled_from(["checkpoint-300", "last"])),
    "--baseline": st.one_of(nasty_text, st.just("baseline")),
    "--run-name": st.one_of(nasty_text, st.just("ppo-a")),
    "--seed": st.sampled_from(["0", "-1", "99999999999999999999", "x"]),
    "--no-significance": st.none(),
}


@settings(FUZZ, max_examples=25)
@given(flags=st.lists(st.sampled_from(sorted(FLAGS)).flatmap(
    lambda f: st.tuples(st.just(f), FLAGS[f])), max_size=4))
def test_fuzz_report_options(lean_template, tmp_path_factory, flags):
    out = tmp_path_factory.mktemp("rz")
    argv = ["report", "--store", str(lean_template), "--out", str(out)]
    for flag, value in flags:
        argv += [flag] if value is None else [flag, value]
    if "\x00" in "".join(argv):  # argv cannot hold NUL: the OS refuses before we start
        return
    code = main(argv)
    OUTCOMES["report"][code] += 1
    assert code in (0, 1, 2), argv


@pytest.fixture(scope="module", autouse=True)
def _print_outcomes():
    yield
    lines = [f"{name}: {sum(c.values())} trials, outcomes {dict(sorted(c.items(), key=str))}"
             for name, c in sorted(OUTCOMES.items())]
    print("\nfuzz outcomes:\n  " + "\n  ".join(lines))
