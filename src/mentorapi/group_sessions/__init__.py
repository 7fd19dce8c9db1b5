"""Group sessions: one mentor, 2-12 seats, each seat a mentee with their own ask."""
