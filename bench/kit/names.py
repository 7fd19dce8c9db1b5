"""Names of the benchmarks' PostgreSQL databases."""

import hashlib
from pathlib import Path

# The checkout this bench code lives in. A scenario drops and recreates its database on every
# run, so two worktrees' runs at once must not drop or migrate (to the other's head) each
# other's: every bench database is named for its checkout.
CHECKOUT = Path(__file__).resolve().parents[2]


def checkout_database(scenario: str, checkout: Path = CHECKOUT) -> str:
    """`mentorapi_bench_<scenario>_<hash of the checkout's path>`."""
    digest = hashlib.sha256(str(checkout.resolve()).encode()).hexdigest()[:8]
    return f"mentorapi_bench_{scenario}_{digest}"
