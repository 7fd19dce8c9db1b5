"""Mentee profiles and the skills they seek."""
