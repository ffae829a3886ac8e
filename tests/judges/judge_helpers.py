import numpy as np


class ScriptedEngine:
    """A fake engine for exact-number tests: the option probabilities depend on which response
    contains the word 'good' and on a fixed pull towards the first position."""

    name = "scripted"

    def __init__(self, *, supports_logprobs=True, answers=None, first_bias=0.1):
        self.supports_logprobs = supports_logprobs
        self.answers = answers or {}
        self.first_bias = first_bias
        self.calls = 0

    def signature(self):
        return f"scripted|bias={self.first_bias}"

    @staticmethod
    def _which(prompt):
        first = prompt.split("[Response A]")[1].split("[Response B]")[0]
        second = prompt.split("[Response B]")[1].split("A, B or C?")[0].split("Which")[0]
        return "good" in first, "good" in second

    def probs(self, prompt):
        g1, g2 = self._which(prompt)
        p_first = 0.5 + 0.3 * (g1 - g2) + self.first_bias
        p_tie = 0.1
        return np.array([p_first * 0.9, (1 - p_first) * 0.9, p_tie])

    def option_logprobs(self, prompts, options):
        self.calls += len(prompts)
        assert list(options) == ["A", "B", "C"]
        return np.log(np.stack([self.probs(p) * 0.5 for p in prompts]))  # unnormalised on purpose

    def generate(self, prompts, *, max_new_tokens):
        self.calls += len(prompts)
        out = []
        for p in prompts:
            g1, g2 = self._which(p)
            out.append(self.answers.get((g1, g2), "[[A]]"))
        return out
