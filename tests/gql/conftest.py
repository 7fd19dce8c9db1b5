"""GraphQL tests fail on a coroutine left never awaited (an execution that abandoned a
resolver): Python reports it while finalizing the coroutine, where it cannot raise, and pytest
turns what it cannot raise into a PytestUnraisableExceptionWarning."""

from pathlib import Path

import pytest

HERE = Path(__file__).parent
NEVER_AWAITED = (
    pytest.mark.filterwarnings("error:coroutine .* was never awaited:RuntimeWarning"),
    pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning"),
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.parents:
            for mark in NEVER_AWAITED:
                item.add_marker(mark)
