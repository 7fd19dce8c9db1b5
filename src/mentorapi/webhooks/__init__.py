"""Webhooks: endpoints, the transactional outbox of events, signed and retried delivery."""
