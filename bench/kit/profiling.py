"""What every in-process profile (`bench/*_profile.py`) shares: its command line, its cProfile
and its callgrind window.

A profile module defines `async def run(*, ..., profile, top, dump, callgrind) -> dict` (the
dict has a "profile" text, empty unless asked for) and its own options, and ends with

    def main() -> None:
        profile_main(__doc__, run, own_options)

which adds the options every profile has (--profile, --top, --dump, --callgrind), runs `run`
with every option as a keyword, prints the figures as JSON and then the profile's text.
"""

import argparse
import asyncio
import contextlib
import cProfile
import io
import json
import pstats
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from typing import Any

from bench.kit.callgrind import instrument


def profile_text(profiler: cProfile.Profile, top: int) -> str:
    """The `top` functions by own time, then by cumulative time."""
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.strip_dirs().sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


async def cprofile(
    work: Callable[[], Awaitable[object]], top: int, dump: str | None, *, cpu: bool = True
) -> str:
    """`work` under cProfile, timed by CPU unless `cpu` is False: on a shared machine a send to
    PostgreSQL that wakes its backend often loses the core, and wall time charges that wait to
    `send` (CPU time is the process's, though: aiosqlite's thread is charged to the event
    loop's wait). Its text (`profile_text`); the raw stats also written to `dump` if given."""
    profiler = cProfile.Profile(time.process_time) if cpu else cProfile.Profile()
    profiler.enable()
    try:
        await work()
    finally:
        profiler.disable()
    if dump:
        profiler.dump_stats(dump)
    return profile_text(profiler, top)


@contextlib.asynccontextmanager
async def callgrind_window(on: bool) -> AsyncIterator[None]:
    """Callgrind collects inside the block only (when `on`: the process runs under
    `valgrind --tool=callgrind --instr-atstart=no`, bench/kit/callgrind.py)."""
    if on:
        await instrument(True)
    try:
        yield
    finally:
        if on:
            await instrument(False)


def profile_main(
    doc: str | None,
    run: Callable[..., Coroutine[Any, Any, dict[str, Any]]],
    own_options: Callable[[argparse.ArgumentParser], None],
    *,
    faces: Sequence[str] | None = None,
    callgrind_help: str = "under callgrind --instr-atstart=no: collect during the measured "
    "batches only",
    argv: Sequence[str] | None = None,
) -> None:
    """The command line of a profile module (see the module's docstring). With `faces`,
    --profile and --callgrind name the one to profile or count; without, they are flags."""
    description = (doc or "").split("\n\n")[0]
    parser = argparse.ArgumentParser(description=description)
    own_options(parser)
    if faces is None:
        parser.add_argument("--profile", action="store_true")
    else:
        parser.add_argument("--profile", choices=tuple(faces), default=None)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--dump", help="with --profile: also write the raw stats to this file")
    if faces is None:
        parser.add_argument("--callgrind", action="store_true", help=callgrind_help)
    else:
        parser.add_argument("--callgrind", choices=tuple(faces), default=None, help=callgrind_help)
    args = parser.parse_args(argv)
    result = asyncio.run(run(**vars(args)))
    text = result.pop("profile")
    print(json.dumps(result, indent=2))
    if text:
        print(text)
