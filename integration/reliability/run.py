"""The reliability suite's Python driver (parts 1-3 of RELIABILITY.md). Run it through
integration/reliability.sh, which prepares the emulator and the binaries.

    run.py --emulator URL --bootstrap BIN --nightshift BIN [--long] [--seed N] [--part storm|crash|faults|slow ...]
    run.py --list-parts

Prints one table per part and exits 1 when any invariant was violated (each violation is listed).
reliability.sh runs one part per process (its own log and summary row); --list-parts prints the
default parts, one a line, for it.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.dont_write_bytecode = True  # nothing written into the source tree
sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402

PARTS = ("storm", "crash", "rehearsal", "faults", "slow")
DEFAULT_PARTS = PARTS


def run_part(part: str, ctx: harness.Ctx, args: argparse.Namespace) -> tuple[str, list[str]]:
    if part == "storm":
        import storm

        rounds = args.storm_rounds or (20 if args.long else 3)
        text, violations = asyncio.run(storm.run(ctx, rounds, args.procs))
    elif part == "crash":
        import crash

        extra = args.crash_random if args.crash_random is not None else (20 if args.long else 0)
        text, violations = asyncio.run(crash.run(ctx, extra))
    elif part == "rehearsal":
        import crash

        text, violations = asyncio.run(crash.rehearsal(ctx))
    elif part == "slow":
        import slow

        seeds = args.slow_seeds or (3 if args.long else 1)
        text, violations = asyncio.run(slow.run(ctx, seeds, args.slow_night))
    else:
        import faults

        nights = args.fault_nights or (24 if args.long else 6)
        rate = args.fault_rate if args.fault_rate is not None else 0.08
        only = [tuple(o.split(":", 1)) for o in args.fault_only] if args.fault_only else None
        kinds = tuple(args.fault_kinds.split(",")) if args.fault_kinds else None
        text, violations = asyncio.run(faults.run(ctx, nights, rate, only, kinds))
    return text, violations


def main() -> int:
    if sys.argv[1:] == ["--list-parts"]:
        print("\n".join(DEFAULT_PARTS))
        return 0
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--emulator", required=True)
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--nightshift", required=True)
    p.add_argument("--long", action="store_true")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--part", action="append", choices=PARTS)
    p.add_argument("--workdir", default=None)
    p.add_argument("--storm-rounds", type=int, default=None)
    p.add_argument("--procs", type=int, default=8)
    p.add_argument("--fault-nights", type=int, default=None)
    p.add_argument("--fault-rate", type=float, default=None)
    p.add_argument("--fault-only", action="append", default=None, metavar="SERVICE:OPERATION",
                   help="inject faults only into these calls (e.g. dynamodb:PutItem); repeatable")
    p.add_argument("--fault-kinds", default=None, help="comma-separated subset of throttle,500,503,delay,reset")
    p.add_argument("--crash-random", type=int, default=None)
    p.add_argument("--slow-seeds", type=int, default=None, help="seeds per slow night (bounded 1, --long 3)")
    p.add_argument("--slow-night", action="append", default=None, help="play only this slow night (its key); repeatable")
    args = p.parse_args()

    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 2**31)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="nightshift-reliability-"))
    workdir.mkdir(parents=True, exist_ok=True)
    mode = "long" if args.long else "bounded"
    print(f"reliability: mode {mode}, seed {seed} (rerun with --seed {seed}), bootstrap {args.bootstrap}, logs {workdir}", flush=True)
    ctx = harness.Ctx(args.emulator, args.bootstrap, args.nightshift, workdir, seed, args.long)
    parts = args.part or list(DEFAULT_PARTS)
    failures: dict[str, list[str]] = {}
    for part in parts:
        started = time.monotonic()
        try:
            text, violations = run_part(part, ctx, args)
        except Exception:  # noqa: BLE001 - a broken part is a failed part, the others still run
            text, violations = f"Part {part}: the harness failed", [traceback.format_exc()]
        print()
        print(text)
        print(f"({part}: {time.monotonic() - started:.0f}s, {len(violations)} violation(s))", flush=True)
        if violations:
            failures[part] = violations
    print()
    if failures:
        for part, violations in failures.items():
            print(f"VIOLATIONS in {part} ({len(violations)}):")
            for v in violations[:50]:
                print(f"  - {v}")
            if len(violations) > 50:
                print(f"  ... and {len(violations) - 50} more")
        print(f"reliability: FAILED (seed {seed})")
        return 1
    print(f"reliability: every invariant held (seed {seed})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
