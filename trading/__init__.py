"""Tender projects, sections, tender documents, bids and the opening hall (招标、投标、开标)."""
