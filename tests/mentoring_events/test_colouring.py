"""Bipartite edge colouring by alternating paths: with max degree k, k colours always suffice."""

import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mentorapi.mentoring_events.colouring import EdgeColouring, colour_edges


@st.composite
def bipartite(draw: st.DrawFn) -> tuple[list[tuple[int, int]], int]:
    """A random simple bipartite graph (left 0..99, right 100..) and its max degree."""
    left, right = draw(st.integers(1, 8)), draw(st.integers(1, 8))
    cells = [(u, 100 + v) for u in range(left) for v in range(right)]
    edges = draw(st.lists(st.sampled_from(cells), unique=True, min_size=1))
    degree = max(Counter(e for edge in edges for e in edge).values())
    return draw(st.permutations(edges)), degree


def _proper(edges: list[tuple[int, int]], colours: list[int], k: int) -> None:
    assert all(0 <= c < k for c in colours)
    seen = Counter((end, c) for (u, v), c in zip(edges, colours, strict=True) for end in (u, v))
    assert max(seen.values()) == 1


@settings(max_examples=300, deadline=None)
@given(bipartite())
def test_max_degree_colours_always_suffice(graph: tuple[list[tuple[int, int]], int]) -> None:
    edges, k = graph
    _proper(edges, colour_edges(edges, k), k)


def test_a_regular_graph_needs_the_chains() -> None:
    # K(6,6) with 6 colours: every vertex uses every colour, so greedy choices get stuck and only
    # the alternating-path swaps finish it; the orders are shuffled to vary where.
    swapped = 0
    for seed in range(20):
        edges = [(u, 100 + v) for u in range(6) for v in range(6)]
        random.Random(seed).shuffle(edges)
        colouring = EdgeColouring(6)
        for u, v in edges:
            colouring.add(u, v, rank=lambda c: (-c,))  # an unhelpful preference
        _proper(edges, colouring.colour, 6)
        swapped += len(colouring.recoloured)
    assert swapped  # the swaps were needed


@settings(max_examples=200, deadline=None)
@given(bipartite(), st.randoms(use_true_random=False))
def test_repair_from_a_given_colouring(
    graph: tuple[list[tuple[int, int]], int], rnd: random.Random
) -> None:
    edges, k = graph
    colours = colour_edges(edges, k)
    keep = rnd.randint(0, len(edges))
    colouring = EdgeColouring(k)
    for (u, v), c in zip(edges[:keep], colours[:keep], strict=True):
        colouring.place(u, v, c)
    for u, v in edges[keep:]:
        colouring.add(u, v)
    colouring.check()
    _proper(colouring.ends, colouring.colour, k)
    # An edge that never took part in a swap kept its colour.
    for e in range(keep):
        if e not in colouring.recoloured:
            assert colouring.colour[e] == colours[e]


def test_degree_over_the_colours_is_refused() -> None:
    colouring = EdgeColouring(2)
    colouring.add(0, 100)
    colouring.add(0, 101)
    with pytest.raises(ValueError, match="already has 2 edges"):
        colouring.add(0, 102)
