"""Speed-mentoring events: registrations, schedules of rounds and tables, live rounds."""
