"""Feedback closes the loop of a session: a rating and, in the mentee's words, what changed."""
