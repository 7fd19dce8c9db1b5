"""Database layer: engine, sessions, the model base and the unit of work."""
