"""Supervision: statutory clocks and red/yellow warnings, the working-day calendar, and bid-rigging clues."""
