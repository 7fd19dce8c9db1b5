"""A mentor's weekly availability, date overrides, buffer, notice and capacity; free slots."""
