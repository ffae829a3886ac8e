"""The reward model as a thing every layer uses: build/load/save (:mod:`.model`), pair
encoding and batching (:mod:`.data`), and the one :class:`~.scorer.RewardScorer` (from a saved
path, or from a live model inside PPO).

A floor package: it imports ``errors``/``io``/``models``/``lm`` only, never training,
evaluation or the lab.
"""
