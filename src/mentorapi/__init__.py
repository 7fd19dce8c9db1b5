"""mentorapi: the back end for micro-mentoring apps."""

__version__ = "0.1.0"
