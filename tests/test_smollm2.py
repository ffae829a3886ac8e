"""The offline SmolLM2 set-up (`make models`): a clear error before conversion, a loadable
folder after it."""
import json
from pathlib import Path

import pytest

from rlhf_eval.errors import ModelError
from rlhf_eval import smollm2


def test_unconverted_cache_names_the_folder_and_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("RLHF_EVAL_CACHE", str(tmp_path))
    with pytest.raises(ModelError, match=r"make models") as info:
        smollm2.smollm2_path()
    assert str(tmp_path) in str(info.value)


def test_converted_folder_is_a_plain_llama_without_gguf_quantization():
    try:
        folder = Path(smollm2.smollm2_path())
    except ModelError as exc:
        pytest.skip(f"SmolLM2 not converted ({exc})")
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "llama"
    assert "quantization_config" not in config
    assert (folder / "chat_template.jinja").is_file() or "chat_template" in (
        folder / "tokenizer_config.json").read_text()
