"""Time-driven events: reminders, session start and end, feedback requests, action items due."""
