"""Running a causal LM: prompt encoding (:mod:`.encode`), the one KV-cached sampler
(:mod:`.generate`) and teacher-forced log-probabilities (:mod:`.logprobs`).

A floor module: it imports only ``errors``/``io``/``models``, never training, evaluation or the
lab, so every layer above (trainers, the eval suite, the lab) runs a model the same way.
"""
