"""Clean logs: no progress bars, colours or library chatter where nobody is watching.

In CI, in a notebook's captured output or in ``> log.txt``, tqdm's ``\\r`` redraws, the
transformers "Loading weights" bars and its colour-coded load report turn a log into noise.
:func:`configure` (called by the CLI before any heavy import) decides once:

- progress bars only on a terminal and without ``--no-progress`` (tqdm via ``TQDM_DISABLE``;
  huggingface_hub/transformers bars via ``HF_HUB_DISABLE_PROGRESS_BARS``);
- transformers' own logging at ``error`` unless ``-v`` (the tool says what matters itself);
- warnings the tool makes moot are filtered everywhere (:func:`install_filters`): the
  tokenizer's "sequence length is longer than the maximum" for inputs rlhf-eval truncates
  itself, the deprecation warnings raised by transformers for the project's own generation
  loop, and peft's Hub look-up warning for local adapter folders.

Only the standard library is imported here.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings

_MOOT_LOG_MESSAGES = (
    "Token indices sequence length is longer than the specified maximum",
    "Be aware, overflowing tokens are not returned",
)
_MOOT_WARNINGS = (
    r"`past_key_values` is deprecated",
    r"`is_gradient_checkpointing` is deprecated",
    r"Could not find a config file in .*",
    r"Unable to fetch remote file due to the following error",
    r"Found missing adapter keys while loading the checkpoint",
)


class _DropMessages(logging.Filter):
    def __init__(self, needles):
        super().__init__()
        self.needles = tuple(needles)

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        return not any(n in msg for n in self.needles)


_installed = False


def install_filters() -> None:
    """Drop warnings that rlhf-eval makes moot (idempotent; safe for library use)."""
    global _installed
    if _installed:
        return
    _installed = True
    drop = _DropMessages(_MOOT_LOG_MESSAGES)
    for name in ("transformers.tokenization_utils_base", "transformers.tokenization_utils",
                 "transformers.tokenization_python", "transformers.tokenization_utils_fast"):
        logging.getLogger(name).addFilter(drop)
    for pattern in _MOOT_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)


def is_interactive(stream=None) -> bool:
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


_ENV_KEYS = ("TQDM_DISABLE", "HF_HUB_DISABLE_PROGRESS_BARS", "NO_COLOR", "TRANSFORMERS_VERBOSITY",
             "TRANSFORMERS_NO_ADVISORY_WARNINGS", "WANDB_SILENT")
_LOGGERS = ("transformers", "peft", "accelerate", "datasets", "huggingface_hub")


@contextlib.contextmanager
def configured(*, progress: bool = True, verbose: bool = False):
    """:func:`configure` for the length of one command, then everything is put back (the
    CLI's ``main`` is also called in-process, by tests and notebooks)."""
    env = {k: os.environ.get(k) for k in _ENV_KEYS}
    levels = {n: logging.getLogger(n).level for n in _LOGGERS}
    from tqdm import std

    tqdm_init = std.tqdm.__init__
    tlog = sys.modules.get("transformers.utils.logging")
    bars = tlog.is_progress_bar_enabled() if tlog is not None else None
    try:
        yield configure(progress=progress, verbose=verbose)
    finally:
        for k, v in env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        for n, level in levels.items():  # NOTSET would now inherit the CLI's INFO root
            logging.getLogger(n).setLevel(level or logging.WARNING)
        std.tqdm.__init__ = tqdm_init
        tlog = sys.modules.get("transformers.utils.logging")
        if tlog is not None and bars is not None and bars != tlog.is_progress_bar_enabled():
            (tlog.enable_progress_bar if bars else tlog.disable_progress_bar)()


def configure(*, progress: bool = True, verbose: bool = False) -> bool:
    """Set up output for one CLI process; returns whether progress bars are shown."""
    install_filters()
    show = progress and is_interactive()
    if not show:
        os.environ["TQDM_DISABLE"] = "1"
        os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
        os.environ.setdefault("NO_COLOR", "1")
        _disable_loaded_bars()
    if not verbose:
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
        for name in _LOGGERS:
            logging.getLogger(name).setLevel(logging.ERROR)
    if not is_interactive():
        os.environ.setdefault("WANDB_SILENT", "true")
    return show


def _disable_tqdm() -> None:
    """Every tqdm bar of this process off, even those created with ``disable=False`` (which
    wins over ``TQDM_DISABLE``): a CLI process that decided "no bars" must not draw any."""
    from tqdm import std

    if getattr(std.tqdm.__init__, "_rlhf_eval_quiet", False):
        return
    original = std.tqdm.__init__

    def __init__(self, *args, **kwargs):
        kwargs["disable"] = True
        original(self, *args, **kwargs)

    __init__._rlhf_eval_quiet = True
    std.tqdm.__init__ = __init__


def _disable_loaded_bars() -> None:
    """Libraries already imported read their progress flags at import time."""
    _disable_tqdm()
    if "transformers" in sys.modules:
        from transformers.utils import logging as tlog

        tlog.disable_progress_bar()
    if "huggingface_hub" in sys.modules:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
