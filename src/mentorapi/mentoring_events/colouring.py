"""Proper edge colouring of a bipartite graph, edge by edge, with alternating-path repairs.

König's theorem: a bipartite graph whose vertices all have degree <= k has a proper edge
colouring with k colours. The constructive proof is the algorithm: to colour edge (u, v), take a
colour a missing at u and b missing at v; if a is also missing at v, use it; otherwise swap a and
b along the a/b alternating path (Kempe chain) that starts at v. That path cannot reach u (in a
bipartite graph it enters u's side only through a-edges, and u has none), so after the swap a is
missing at both ends. It never fails while degrees stay <= k, whatever the order of the edges.

The colouring can start from given colours (a published schedule) and grow from there: `place`
puts an edge at a known colour, `add` colours a new one, choosing among the possible swaps the
one that recolours the fewest edges, so a repair moves as little of what was there as it can.
"""

from collections.abc import Callable, Sequence

Vertex = int


class EdgeColouring:
    def __init__(self, colours: int) -> None:
        if colours < 1:
            raise ValueError("at least one colour is needed")
        self.colours = colours
        self._at: dict[Vertex, list[int]] = {}  # vertex -> per colour the edge there, or -1
        self.ends: list[tuple[Vertex, Vertex]] = []
        self.colour: list[int] = []  # per edge; -1 once removed
        self.recoloured: set[int] = set()  # edges whose colour a repair has changed
        self.per_colour = [0] * colours  # edges of each colour

    def _slots(self, vertex: Vertex) -> list[int]:
        slots = self._at.get(vertex)
        if slots is None:
            slots = self._at[vertex] = [-1] * self.colours
        return slots

    def missing(self, vertex: Vertex) -> list[int]:
        """The colours not yet used at `vertex`."""
        return [c for c, e in enumerate(self._slots(vertex)) if e < 0]

    def degree(self, vertex: Vertex) -> int:
        return self.colours - len(self.missing(vertex))

    def _set(self, edge: int, colour: int) -> None:
        u, v = self.ends[edge]
        self._slots(u)[colour] = edge
        self._slots(v)[colour] = edge
        self.colour[edge] = colour
        self.per_colour[colour] += 1

    def _unset(self, edge: int) -> None:
        u, v = self.ends[edge]
        colour = self.colour[edge]
        self._slots(u)[colour] = -1
        self._slots(v)[colour] = -1
        self.per_colour[colour] -= 1

    def place(self, u: Vertex, v: Vertex, colour: int) -> int:
        """Add edge (u, v) with a given colour, which must be missing at both ends."""
        if self._slots(u)[colour] >= 0 or self._slots(v)[colour] >= 0:
            raise ValueError(f"colour {colour} is already used at an end of ({u}, {v})")
        self.ends.append((u, v))
        self.colour.append(-1)
        edge = len(self.ends) - 1
        self._set(edge, colour)
        return edge

    def remove(self, edge: int) -> None:
        self._unset(edge)
        self.colour[edge] = -1

    def _chain(self, start: Vertex, first: int, second: int) -> list[int]:
        """The edges of the alternating path from `start`, whose first edge has colour `first`."""
        path: list[int] = []
        vertex, colour = start, first
        while (edge := self._slots(vertex)[colour]) >= 0:
            path.append(edge)
            u, v = self.ends[edge]
            vertex = v if vertex == u else u
            colour = second if colour == first else first
        return path

    def _swap(self, path: list[int], a: int, b: int) -> None:
        for edge in path:
            self._unset(edge)
        for edge in path:
            self._set(edge, b if self.colour[edge] == a else a)
            self.recoloured.add(edge)

    def add(
        self, u: Vertex, v: Vertex, rank: Callable[[int], tuple[float, ...]] | None = None
    ) -> int:
        """Colour a new edge (u, v); `rank` orders the free colours (lowest first).

        Raises ValueError when u or v already has an edge of every colour."""
        free_u, free_v = self.missing(u), self.missing(v)
        if not free_u or not free_v:
            raise ValueError(f"({u}, {v}): an end already has {self.colours} edges")
        order: Callable[[int], tuple[float, ...]] = rank or (lambda c: (self.per_colour[c], c))
        common = [c for c in free_u if c in free_v]
        if common:
            colour = min(common, key=order)
        else:
            # Every (a missing at u, b missing at v) gives two repairs: swap the a/b chain from v
            # (then colour a) or the b/a chain from u (then colour b). Take the shortest.
            best: tuple[int, tuple[float, ...], list[int], int, int, int] | None = None
            for a in free_u:
                for b in free_v:
                    for path, colour, first, second in (
                        (self._chain(v, a, b), a, a, b),
                        (self._chain(u, b, a), b, b, a),
                    ):
                        key = (len(path), order(colour))
                        if best is None or key < (best[0], best[1]):
                            best = (len(path), order(colour), path, colour, first, second)
            assert best is not None
            _, _, path, colour, first, second = best
            self._swap(path, first, second)
        return self.place(u, v, colour)

    def check(self) -> None:
        """Assert the colouring is proper (for tests and debugging)."""
        seen: dict[tuple[Vertex, int], int] = {}
        for edge, ((u, v), colour) in enumerate(zip(self.ends, self.colour, strict=True)):
            if colour < 0:
                continue
            for end in (u, v):
                other = seen.setdefault((end, colour), edge)
                assert other == edge, f"edges {other} and {edge} share colour {colour} at {end}"


def colour_edges(edges: Sequence[tuple[Vertex, Vertex]], colours: int) -> list[int]:
    """A proper colouring of a bipartite graph's edges with `colours` colours (max degree)."""
    colouring = EdgeColouring(colours)
    for u, v in edges:
        colouring.add(u, v)
    return colouring.colour
