"""Instruction counts of a part of an in-process bench, under callgrind.

    valgrind --tool=callgrind --instr-atstart=no python3.11 -m bench.<module> --callgrind ...

(the interpreter itself, not a wrapper script such as pyenv's shim). Collection is off until
the bench turns it on around what it measures, so start-up, seeding and warm-up are not
counted: the `Collected` total divided by the requests made meanwhile is the instructions per
request, the same from run to run whatever else the machine is doing.
"""

import asyncio
import os


async def instrument(on: bool) -> None:
    """Turn callgrind's collection on or off for this process (callgrind_control asks the
    running process, which answers while its event loop waits for the child)."""
    control = await asyncio.create_subprocess_exec(
        "callgrind_control",
        "--instr=" + ("on" if on else "off"),
        str(os.getpid()),
        stdout=asyncio.subprocess.DEVNULL,
    )
    if await control.wait() != 0:
        raise RuntimeError("callgrind_control failed: is this process running under callgrind?")
