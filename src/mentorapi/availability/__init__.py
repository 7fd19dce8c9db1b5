"""A mentor's weekly availability, date overrides, buffers, notice, horizon, weekly capacity
and daily limits; free slots."""
