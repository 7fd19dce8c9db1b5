"""Sessions: booking, the lifecycle, weekly series, notes and action items, calendar files."""
