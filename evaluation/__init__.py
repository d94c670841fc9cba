"""Experts, draws, committees, scoring, the evaluation room and the report (评标)."""
