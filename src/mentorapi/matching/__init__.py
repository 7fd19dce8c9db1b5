"""Matching: mentors recommended for one ask, and whole cohorts matched at once."""
