"""Matching: the right mentor for an ask (recommendations), explained and load-aware."""
