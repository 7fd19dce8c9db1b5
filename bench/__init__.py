"""`make bench`: load and latency benchmarks of mentorapi, never part of `make test`.

Scenario modules live next to this file; shared machinery (databases, seeding, servers, wrk,
reports) in `bench.kit`. See bench/README.md.
"""
