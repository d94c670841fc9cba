"""Bid security: electronic guarantees (电子保函), issuers, cash deposits and waivers."""
