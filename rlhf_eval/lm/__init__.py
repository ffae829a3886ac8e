"""Running a causal LM: prompt rendering and the generation engines (hf | vllm | openai)."""
