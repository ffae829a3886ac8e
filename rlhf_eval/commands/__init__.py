"""One module per ``rlhf-eval`` subcommand; see :mod:`rlhf_eval.cli`."""
