"""The Streamlit dashboard's logic: data access, computations and chart builders.

``dashboards/app.py`` only navigates and ``dashboards/views/*.py`` only lay out widgets; what
they show comes from here, so it can be tested and reused without a browser:

- :mod:`.source`        the store path (``--store`` / ``RLHF_EVAL_STORE``), read-only reads,
                        :func:`.source.submit_label` (the one write)
- :mod:`.runs`          metric trends, PPO ``metrics.jsonl``, the reward-KL frontier
- :mod:`.overopt`       the over-optimization fit of Gao et al. 2022, R(d) = d (a - b log d)
- :mod:`.samples`       baseline vs checkpoint per prompt; regressions and reward-hacking suspects
- :mod:`.correlations`  metric x human-aspect tables (precomputed, SummEval, the store's own)
- :mod:`.rm`            the output of ``rlhf-eval eval-rm`` as tidy frames
- :mod:`.labeling`      pairwise labeling: items, seeded left/right order, agreement, win-rates
- :mod:`.charts`        Altair chart builders
- :mod:`.cached`, :mod:`.widgets`  the only Streamlit-importing modules (cache wrappers, UI bits)
"""
