"""Client apps (tenants) and their API keys."""
