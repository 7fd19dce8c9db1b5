"""Mentor profiles and the skills they offer."""
