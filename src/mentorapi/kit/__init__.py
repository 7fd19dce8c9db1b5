"""Small shared pieces: errors, ids, pagination, time zones, validation."""
