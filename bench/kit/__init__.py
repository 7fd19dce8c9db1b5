"""Shared benchmark machinery: options, processes, databases, seeding, servers, wrk, reports."""
