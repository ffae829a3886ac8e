"""rlhf-eval: reward models, PPO, and an evaluation layer checked against human judgment."""


def __getattr__(name: str):
    # lazy: `import rlhf_eval` stays light (no pandas/torch) until evaluate is used
    if name == "evaluate":
        from .evaluation.suite import evaluate

        return evaluate
    raise AttributeError(f"module 'rlhf_eval' has no attribute {name!r}")
