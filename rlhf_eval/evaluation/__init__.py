"""Evaluation layer: metrics, suites, win-rates, correlation with human judgment."""
