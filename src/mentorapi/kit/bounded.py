"""A least-recently-used map bounded by entries AND by weight (about the bytes it holds).

What a process keeps for itself must stay bounded whatever callers send (DESIGN.md, "State in a
process"). A bound on entries alone lets few huge values through; a bound on a weight that can
be 0 (an empty page counted as its slots) lets endless tiny ones through. So every entry counts
against both bounds, and weighs at least `MIN_WEIGHT` (the dict slot, the key, the value's
object), whatever `weigh` says.
"""

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# What an entry costs before its contents: the dict node, the key and value objects.
MIN_WEIGHT = 256


class BoundedLRU(Generic[K, V]):
    def __init__(self, *, max_entries: int, max_weight: int, weigh: Callable[[K, V], int]) -> None:
        if max_entries < 1 or max_weight < MIN_WEIGHT:
            raise ValueError("a bounded map holds at least one entry of the least weight")
        self.max_entries = max_entries
        self.max_weight = max_weight
        self._weigh = weigh
        self._entries: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._weight = 0

    def get(self, key: K) -> V | None:
        found = self._entries.get(key)
        if found is None:
            return None
        self._entries.move_to_end(key)
        return found[0]

    def put(self, key: K, value: V) -> bool:
        """Keep `value` (dropping the least recently used entries to make room); False when it
        weighs more than the whole bound, and so is not kept."""
        weight = max(MIN_WEIGHT, self._weigh(key, value))
        if weight > self.max_weight:
            self.pop(key)
            return False
        self.pop(key)
        self._entries[key] = (value, weight)
        self._weight += weight
        while len(self._entries) > self.max_entries or self._weight > self.max_weight:
            _, (_, dropped) = self._entries.popitem(last=False)
            self._weight -= dropped
        return True

    def pop(self, key: K) -> V | None:
        found = self._entries.pop(key, None)
        if found is None:
            return None
        self._weight -= found[1]
        return found[0]

    def clear(self) -> None:
        self._entries.clear()
        self._weight = 0

    @property
    def weight(self) -> int:
        return self._weight

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries


def text_weight(value: object) -> int:
    """About the bytes of a key made of strings, bytes, numbers and tuples of them (what the
    caches here are keyed by)."""
    if isinstance(value, bytes):
        return 40 + len(value)
    if isinstance(value, str):
        # CPython keeps 1, 2 or 4 bytes a character; isascii() reads a flag (O(1)).
        return 56 + len(value) * (1 if value.isascii() else 4)
    if isinstance(value, tuple | list | frozenset):
        return 56 + 8 * len(value) + sum(text_weight(item) for item in value)
    return 32
