"""Running a causal LM: prompt encoding (:mod:`.encode`), the one KV-cached sampler
(:mod:`.generate`), teacher-forced log-probabilities (:mod:`.logprobs`), chat prompts
(:mod:`.chat`) and the generation engines hf | vllm | openai (:mod:`.engines`).

A floor module: it imports only ``errors``/``io``/``models``, never training, evaluation or the
lab, so every layer above (trainers, the eval suite, the lab) runs a model the same way.
"""
