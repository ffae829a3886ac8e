"""Registry: close-name suggestions, option errors, custom registration, cheap import."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from rlhf_eval.errors import ConfigError
from rlhf_eval.evaluation.metrics import Metric, get_metric, list_metrics, register_metric
from rlhf_eval.evaluation.metrics import registry


def test_builtins_listed():
    assert {"rouge", "bleu", "chrf", "bertscore", "length", "distinct",
            "repetition"} <= set(list_metrics())


@pytest.mark.parametrize("typo,suggestion", [("rogue", "rouge"), ("bertscor", "bertscore"),
                                             ("chrF", None), ("Blue", "bleu")])
def test_unknown_name_suggests_close_names(typo, suggestion):
    if suggestion is None:  # names are case-insensitive
        assert get_metric(typo).name == "chrf"
        return
    with pytest.raises(ConfigError, match=f"did you mean '{suggestion}'"):
        get_metric(typo)


def test_unknown_option_lists_the_valid_ones():
    with pytest.raises(ConfigError, match="stemmer.*use_stemmer"):
        get_metric("rouge", stemmer=True)


class Shout(Metric):
    name = "shout"
    score_names = ("shout",)
    higher_is_better = {"shout": True}
    needs_references = False

    def __init__(self, *, factor: float = 1.0):
        self.factor = factor

    def signature(self):
        return f"shout|factor={self.factor}"

    def _score(self, batch):
        return {"shout": self.factor * np.array([p.count("!") for p in batch.predictions], float)}


@pytest.fixture
def clean_registry():
    saved = dict(registry._REGISTRY)
    yield
    registry._REGISTRY.clear()
    registry._REGISTRY.update(saved)


def test_custom_registration(clean_registry):
    register_metric("shout", Shout)
    assert "shout" in list_metrics()
    m = get_metric("Shout", factor=2.0)
    out = m.sentence_scores(predictions=["hi!!", None])
    assert out["shout"][0] == 4.0 and np.isnan(out["shout"][1])
    register_metric("shout", Shout)  # re-registering the same factory is fine (re-import)
    with pytest.raises(ConfigError, match="already registered"):
        register_metric("shout", lambda: Shout())
    register_metric("shout", lambda: Shout(factor=3.0), replace=True)
    assert get_metric("shout").factor == 3.0


def test_lazy_string_factory_and_bad_factories(clean_registry):
    register_metric("words", "rlhf_eval.evaluation.metrics.degeneration:LengthMetric")
    assert get_metric("words").name == "length"
    with pytest.raises(ConfigError):
        register_metric("bad", 42)
    with pytest.raises(ConfigError):
        register_metric("", Shout)


def test_model_metrics_names_are_reserved_for_their_provider(clean_registry, monkeypatch):
    monkeypatch.setitem(registry._PROVIDERS, "reward", "no_such_module_xyz")
    registry._REGISTRY.pop("reward", None)
    with pytest.raises(ConfigError, match="provided by no_such_module_xyz"):
        get_metric("reward")


def test_import_is_light():
    code = ("import sys, rlhf_eval.evaluation.metrics as m; "
            "heavy = [k for k in ('torch', 'sacrebleu', 'bert_score', 'rouge_score', 'nltk') "
            "if k in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
