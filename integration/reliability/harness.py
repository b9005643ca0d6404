"""What every part shares: the emulator, the binaries, the proxy, fleets of bootstrap processes,
and the printed tables."""

from __future__ import annotations

import asyncio
import collections
from dataclasses import dataclass, field
from pathlib import Path

import lambda_host
import proxy
import world


@dataclass
class Ctx:
    emulator: str
    bootstrap: str
    nightshift: str
    workdir: Path
    seed: int
    long: bool
    aws: world.Aws = field(init=False)
    cli: world.Cli = field(init=False)

    def __post_init__(self) -> None:
        self.aws = world.Aws(self.emulator)
        self.cli = world.Cli(self.nightshift, self.emulator)

    def new_table(self, part: str) -> str:
        table = f"rel-{part}-{world.short_id()}"
        self.cli.migrate(table)
        return table


class Fleet:
    """Bootstrap processes, each with its own Runtime API host and its own proxy port."""

    def __init__(self, ctx: Ctx, px: proxy.Proxy, config: Path, table: str, logdir: Path, extra_env: dict[str, str] | None = None) -> None:
        self.ctx, self.px, self.config, self.table, self.logdir = ctx, px, config, table, logdir
        self.extra_env = extra_env or {}
        self.functions: list[lambda_host.Function] = []
        self.started = 0

    async def spawn(self, name: str | None = None) -> lambda_host.Function:
        self.started += 1
        name = name or f"fn{self.started}"
        endpoint = await self.px.listen(name)
        fn = lambda_host.Function(name, self.ctx.bootstrap, self.config, self.table, endpoint, self.logdir, self.extra_env)
        self.px.current_invocation[name] = fn.api.current_request_id
        self.px.killers[name] = fn.kill
        await fn.start()
        self.functions.append(fn)
        return fn

    async def stop(self) -> None:
        for fn in self.functions:
            await fn.stop()
            await self.px.close_client(fn.name)

    def panics(self) -> list[str]:
        return [f"{fn.name}: {line}" for fn in self.functions for line in fn.panics()]


def table(title: str, headers: list[str], rows: list[list]) -> str:
    cells = [[str(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    out = [title, line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(r) for r in cells]
    return "\n".join(out)


def counter_text(c: collections.Counter) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(c.items())) or "-"


async def gather_limited(limit: int, coros: list) -> list:
    sem = asyncio.Semaphore(limit)

    async def one(c):
        async with sem:
            return await c

    return await asyncio.gather(*(one(c) for c in coros))
