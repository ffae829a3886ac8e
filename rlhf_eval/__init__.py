"""rlhf-eval: reward models, PPO, and an evaluation layer checked against human judgment."""


def __getattr__(name: str):
    # lazy: `import rlhf_eval` stays light (no pandas/torch) until evaluate/correlate is used
    if name == "evaluate":
        from .evaluation.suite import evaluate

        return evaluate
    if name == "correlate":
        from .evaluation.correlate import correlate

        return correlate
    raise AttributeError(f"module 'rlhf_eval' has no attribute {name!r}")
