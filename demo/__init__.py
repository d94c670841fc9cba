"""Realistic demo data: the journey of ../shared/journey.md, walkable from ``make run``."""
