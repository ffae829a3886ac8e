"""Judges: LLM judges (pairwise in both orders, pointwise), their statistics (length-controlled
win-rates, Bradley-Terry intervals, bias reports) and their meta-evaluation against humans.

Modules are imported by name (``judges.stats``, ``judges.llm``, ...): importing the package
does not load torch.
"""
