"""Cohorts: many mentees matched to many mentors at once (a run in a worker), then published as
matches."""
