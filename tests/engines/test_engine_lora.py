"""hf engine: a LoRA sweep loads the base once (adapters swapped), with the same completions
and metrics as evaluating each merged model; chat prompts; the engine in the signature."""
from __future__ import annotations

import json
import sqlite3

import pytest

import rlhf_eval
import rlhf_eval.models as models
from engine_helpers import MAX_NEW

N = 12


def _kw(world, store, run_name):
    return dict(baseline_model=world["sft"], reward_model=world["rm"],
                prompts=world["prompts"], store=str(store), run_name=run_name,
                metrics=("length", "reward", "kl"), judges=("reward",), max_samples=N,
                max_new_tokens=MAX_NEW, batch_size=8, n_bootstrap=50, progress=False,
                device="cpu")


def test_lora_sweep_loads_base_once_and_equals_merged(world, tmp_path, monkeypatch):
    calls = []
    real = models.load_causal_lm

    def counting(path, **kw):
        calls.append(str(path))
        return real(path, **kw)

    monkeypatch.setattr(models, "load_causal_lm", counting)
    a = rlhf_eval.evaluate(checkpoints=tuple(world["loras"]),
                           **_kw(world, tmp_path / "a.sqlite", "lora"))
    # the policy base once (baseline, then 3 adapters swapped onto it) + the KL reference
    assert calls == [world["sft"], world["sft"]], calls
    assert a.attrs["report"]["base_loads"] == 1
    assert a.attrs["report"]["models_loaded"] == 4
    calls.clear()
    b = rlhf_eval.evaluate(checkpoints=tuple(world["merged"]),
                           **_kw(world, tmp_path / "b.sqlite", "merged"))
    assert len(calls) == 5 and b.attrs["report"]["base_loads"] == 4
    ma = a.set_index(["checkpoint", "metric"])["mean"]
    mb = b.set_index(["checkpoint", "metric"])["mean"].rename(
        lambda ck: ck.replace("merged", "lora"), level=0)
    assert sorted(ma.index) == sorted(mb.index)
    for key in ma.index:
        assert ma[key] == pytest.approx(mb[key], rel=1e-4, abs=1e-5), key
    with sqlite3.connect(tmp_path / "a.sqlite") as c:
        ga = dict(c.execute("SELECT checkpoint || sample_id, completion FROM generations"))
    with sqlite3.connect(tmp_path / "b.sqlite") as c:
        gb = dict(c.execute("SELECT replace(checkpoint, 'merged', 'lora') || sample_id, "
                            "completion FROM generations"))
    assert ga == gb
    # the adapters really change the policy (else this test could not fail)
    assert len({round(v, 6) for v in ma.xs("kl", level="metric")}) > 1


def test_engine_is_in_the_signature_and_hf_is_the_default(world, tmp_path):
    df = rlhf_eval.evaluate(**{**_kw(world, tmp_path / "s.sqlite", "sig"),
                               "metrics": ("length",), "judges": ()})
    with sqlite3.connect(df.attrs["store"]) as c:
        sigs = {r[0] for r in c.execute("SELECT gen_signature FROM generations WHERE "
                                        "checkpoint='baseline'")}
    (sig,) = sigs
    assert sig.startswith("engine=hf:torch=") and "|greedy|" in sig


def test_chat_prompts_rendered_with_the_template(world, tmp_path):
    from rlhf_eval.evaluation.suite import Suite, EvalConfig

    template = tmp_path / "chat.jinja"
    template.write_text("{% for m in messages %}<{{ m.role }}> {{ m.content }}\n{% endfor %}"
                        "{% if add_generation_prompt %}<assistant> {% endif %}")
    prompts = tmp_path / "chat.jsonl"
    rows = [{"prompt": [{"role": "system", "content": "Be brief."},
                        {"role": "user", "content": s.prompt}], "references": s.references}
            for s in world["samples"][:3]]
    prompts.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = EvalConfig(baseline_model=world["sft"], prompts=str(prompts),
                     store=str(tmp_path / "c.sqlite"), metrics=("length",), judges=(),
                     max_new_tokens=4, progress=False, chat_template=str(template),
                     device="cpu")
    suite = Suite(cfg)
    try:
        tok = suite._tokenizer(world["sft"])
        text = suite._prompt_text(suite.samples[0], tok)
        assert text == (f"<system> Be brief.\n<user> {world['samples'][0].prompt}\n"
                        "<assistant> ")
        report = suite.run_once()
        assert report.generated == 3
    finally:
        suite.close()
    # without a template, chat prompts are an error that says what to pass
    from rlhf_eval.cli import main

    rc = main(["eval", "--baseline-model", world["sft"], "--prompts", str(prompts),
               "--store", str(tmp_path / "d.sqlite"), "--metrics", "length"])
    assert rc == 2


def test_bad_chat_message_names_file_line_field(world, tmp_path, capsys):
    from rlhf_eval.cli import main

    p = tmp_path / "bad.jsonl"
    p.write_text(json.dumps({"prompt": "ok"}) + "\n" +
                 json.dumps({"prompt": [{"role": "robot", "content": "hi"}]}) + "\n")
    rc = main(["eval", "--baseline-model", world["sft"], "--prompts", str(p),
               "--store", str(tmp_path / "e.sqlite"), "--metrics", "length"])
    assert rc == 2
    assert f"{p}:2: field 'prompt[0].role'" in capsys.readouterr().err


def test_chat_prompts_use_the_tokenizers_own_template_automatically(world, tmp_path):
    import shutil

    from rlhf_eval.evaluation.suite import EvalConfig, Suite
    from rlhf_eval.models import load_tokenizer

    model = tmp_path / "chat-sft"
    shutil.copytree(world["sft"], model)
    tok = load_tokenizer(str(model), require_pad=True)
    tok.chat_template = ("{% for m in messages %}[{{ m.role }}] {{ m.content }} {% endfor %}"
                         "{% if add_generation_prompt %}[assistant] {% endif %}")
    tok.save_pretrained(model)
    prompts = tmp_path / "chat.jsonl"
    prompts.write_text(json.dumps({"prompt": [{"role": "user", "content": "Hi there"}]}) + "\n"
                       + json.dumps({"prompt": "a plain prompt"}) + "\n")
    suite = Suite(EvalConfig(baseline_model=str(model), prompts=str(prompts),
                             store=str(tmp_path / "c.sqlite"), metrics=("length",), judges=(),
                             max_new_tokens=4, progress=False, device="cpu"))
    try:
        t = suite._tokenizer(str(model))
        assert suite._prompt_text(suite.samples[0], t) == "[user] Hi there [assistant] "
        assert suite._prompt_text(suite.samples[1], t) == "a plain prompt"
        assert suite.run_once().generated == 2
    finally:
        suite.close()
