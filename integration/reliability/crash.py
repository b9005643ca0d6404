"""Part 2, crash mid-step: kill -9 the bootstrap at a step boundary seen on the wire, then
redeliver the identical payload once the killed invocation's lease has expired.

Two nights, each on a world of its own, first played fault-free (the reference):
  night "check": scale-up, check (quiet: scales down and closes the run), scale-down (no-op);
  night "down":  scale-up, scheduled scale-down (quiet: scales down and closes the run).
Targets: the scale-up and the closing check of night "check", the scale-down of night "down".
Kill points, recognised by the proxy on the target invocation's own traffic (the proxy kills the
process the moment it sees them, before the answer reaches it):
  after the claim (the conditional PutItem of the DEDUP# item answered 200), after each mutating
  call's answer, after the run was opened (TransactWriteItems), before and after the step's final
  transaction (the event, the complete of the DEDUP# item, the scaling lease's release and, at
  scale-down, the run's close);
  --long adds N random points: before or after the k-th call of the step's reference trace.

The clock: the killed invocation is given a deadline of DEADLINE_S seconds
(Lambda-Runtime-Deadline-Ms), which is its lease (src/idempotency/ GuardPolicy::lease_until)
and its scaling lease (src/app/lease.rs take); both are compared with the invocation's
`now`, which is the wall clock because the events carry no rehearsal "now" (see RELIABILITY.md:
with a rehearsal "now" the lease can never expire). The harness waits for that deadline to pass,
starts a fresh bootstrap (a new execution environment, its own Runtime API host) and redelivers,
as Lambda's async retry does a minute later.

Checks per case: the kill happened at the point; the redelivery answered (not an error, not
in-progress); every step's dedup record is COMPLETED (none left IN_PROGRESS) and no scaling lease is
held; no run is left open; the AWS state after the target step and at the end equals the
reference night's; the mutating calls of the whole night equal the reference's, none twice; every
step has a history record; what the history shows for the retried step reads as done.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import json
import random
import re
import time
from dataclasses import dataclass, field
from typing import Callable

import harness
import lambda_host
import proxy
import world

NIGHTS = {"check": ("scale-up", "check", "scale-down"), "down": ("scale-up", "scale-down")}
TARGETS = (("check", "scale-up"), ("check", "check"), ("down", "scale-down"))
# The other database kinds: a night "down" on a world whose cluster is of that kind, killed once,
# right after the scale-up's first mutating call (its first reader's CreateDBInstance).
OTHER_KINDS = ("aurora", "neptune")
DEADLINE_S = 8.0  # the lease of the killed invocation; room for SDK timeouts on a loaded machine
PARALLEL = 5
KEY_TIME = dt.datetime(2026, 12, 1, 13, 0, tzinfo=dt.UTC)


@dataclass
class Point:
    name: str
    phase: str  # "before" (the request is not forwarded) | "after" (moto answered; the process never sees it)
    match: Callable[[proxy.Record], bool]
    nth: int = 1


def is_dedup(r: proxy.Record, op: str) -> bool:
    return r.call.service == "dynamodb" and r.call.operation == op and r.call.item_key()[0].startswith("DEDUP#")


def is_final(r: proxy.Record) -> bool:
    """A step's final transaction: the one that completes its DEDUP# item (with the event, the
    scaling lease's release and, for a scale-down, the run's close)."""
    return r.call.operation == "TransactWriteItems" and any(pk.startswith("DEDUP#") for pk, _ in r.call.transact_keys())


def named_points(step: str, trace: list[proxy.Record]) -> list[Point]:
    points = [Point("after the claim", "after", lambda r: is_dedup(r, "PutItem") and r.upstream_status == 200)]
    mutating = [r.call.operation for r in trace if r.call.mutating]
    for k, op in enumerate(mutating, 1):
        points.append(Point(f"after mutating call {k}/{len(mutating)} ({op})", "after", lambda r: r.call.mutating, k))
    if any(r.call.operation == "TransactWriteItems" and not is_final(r) for r in trace):
        points.append(Point("after the run was opened", "after",
                            lambda r: r.call.operation == "TransactWriteItems" and not is_final(r)))
    finals = [r for r in trace if is_final(r)]
    if finals:
        # The last one is the write that lands (a check first tries its no-open-run answer).
        n = len(finals)
        what = "the run's close, " if step == "scale-down" else ""
        points.append(Point(f"before the final transaction ({what}event, complete, lease)", "before", is_final, n))
        points.append(Point(f"after the final transaction ({what}event, complete, lease)", "after", is_final, n))
    # The writes one by one, where the step made them so.
    if any(r.call.operation == "PutItem" and r.call.item_key()[1].startswith("EV#") for r in trace):
        points.append(
            Point("after the run-history write", "after",
                  lambda r: r.call.operation == "PutItem" and r.call.item_key()[1].startswith("EV#"))
        )
    if any(is_dedup(r, "UpdateItem") for r in trace):
        points.append(Point("before the complete", "before", lambda r: is_dedup(r, "UpdateItem")))
    return points


def random_point(rng: random.Random, trace: list[proxy.Record]) -> Point:
    k = rng.randrange(1, len(trace) + 1)
    phase = rng.choice(("before", "after"))
    op = trace[k - 1].call.operation
    return Point(f"random: {phase} call {k}/{len(trace)} ({op})", phase, lambda r: True, k)


def shape(state: dict) -> dict:
    """The AWS state without names: comparable between worlds."""
    writers = [c for (ident, w), (_, c) in zip(state["members"], state["classes"]) if w]
    readers = sorted(c for (ident, w), (_, c) in zip(state["members"], state["classes"]) if not w)
    # The worker kinds: the environment's (minvCpus, maxvCpus), the group's sizes.
    return {"writer": writers, "readers": readers, "desired": state["desired"], "scalable": state["scalable"],
            "vcpus": state.get("vcpus"), "asg": state.get("asg")}


@dataclass
class Night:
    kind: str
    world: world.World
    answers: dict = field(default_factory=dict)
    shapes: dict = field(default_factory=dict)
    traces: dict = field(default_factory=dict)
    killed: lambda_host.Answer | None = None
    at_kill: str = ""
    redelivery: lambda_host.Answer | None = None
    view: dict = field(default_factory=dict)
    wire: collections.Counter = field(default_factory=collections.Counter)
    doubles: int = 0
    panics: list = field(default_factory=list)
    wall: float = 0.0


async def play(ctx: harness.Ctx, table: str, kind: str, target: str | None = None, point: Point | None = None,
               db: str = "docdb") -> Night:
    started = time.monotonic()
    w = world.World(f"crash{world.short_id()}", table, db)
    await asyncio.to_thread(w.create, ctx.aws)
    await asyncio.to_thread(w.put_quiet, ctx.aws, 30, 5)
    logdir = ctx.workdir / "crash" / w.name
    logdir.mkdir(parents=True, exist_ok=True)
    config = world.config_file(logdir / "nightshift.toml", table, [w])
    px = proxy.Proxy(ctx.emulator)
    fleet = harness.Fleet(ctx, px, config, table, logdir)
    night = Night(kind, w)
    fn = await fleet.spawn()
    try:
        for step in NIGHTS[kind]:
            payload = w.step(step, KEY_TIME)
            if step == target and point is not None:
                inv = fn.api.enqueue(payload, DEADLINE_S)
                seen = 0

                def hit(rec: proxy.Record, phase: str) -> bool:
                    nonlocal seen
                    if rec.invocation != inv.request_id or point.phase != phase or not point.match(rec):
                        return False
                    seen += 1
                    return seen == point.nth

                px.before = lambda rec: hit(rec, "before")
                px.after = lambda rec, _resp: hit(rec, "after")
                night.killed = await fn.wait(inv)
                px.before = px.after = None
                view = await asyncio.to_thread(w.table_view, ctx.aws)
                night.at_kill = ",".join(d["status"] for d in view["dedup"] if d["step"] == step) or "none"
                # The lease is the killed invocation's deadline: wait for it, then redeliver the
                # identical payload to a fresh execution environment.
                await asyncio.sleep(max(0.0, inv.deadline_ms / 1000 - time.time()) + 0.3)
                fn = await fleet.spawn()
                inv, answer = await fn.invoke(payload, 30.0)
                night.redelivery = answer
            else:
                inv, answer = await fn.invoke(payload, 30.0)
            night.answers[step] = answer
            night.traces[step] = [r for r in px.records if r.invocation == inv.request_id]
            night.shapes[step] = shape(await asyncio.to_thread(w.state, ctx.aws))
    finally:
        await fleet.stop()
        await px.close()
        px.dump(logdir / "wire.jsonl")
    night.view = await asyncio.to_thread(w.table_view, ctx.aws)
    night.wire, night.doubles = proxy.Proxy.actions(px.records)
    night.panics = fleet.panics()
    night.wall = time.monotonic() - started
    return night


def history_of(night: Night, step: str) -> tuple[str, bool]:
    """What the run history shows for `step` (its event records, oldest first), and whether it
    reads as done (no rejected outcome, no action whose result is an error or a refusal)."""
    events = sorted((e for e in night.view["events"] if e.get("step") == step), key=lambda e: e.get("received_at", ""))
    parts, done = [], True
    for e in events:
        results = collections.Counter(str(a.get("result", ""))[:40] for a in e.get("actions", []))
        parts.append(f"{e.get('outcome')}" + (f" [{harness.counter_text(results)}]" if results else ""))
        if e.get("outcome") in ("rejected",) or any(str(a.get("result", "")).startswith(("error", "refused")) for a in e.get("actions", [])):
            done = False
    return " then ".join(parts) or "no record", done and bool(events)


async def run(ctx: harness.Ctx, random_points: int) -> tuple[str, list[str]]:
    started = time.monotonic()
    table = ctx.new_table("crash")
    keys = [(kind, "docdb") for kind in NIGHTS] + [("down", db) for db in OTHER_KINDS]
    refs = dict(zip(keys, await asyncio.gather(*(play(ctx, table, kind, db=db) for kind, db in keys))))
    violations: list[str] = []
    for (kind, db), ref in refs.items():
        for step, answer in ref.answers.items():
            if answer.kind != "response":
                violations.append(f"reference night {kind} ({db}): {step} answered {answer.outcome} {answer.error_message}")

    cases: list[tuple[str, str, Point, str]] = []
    for kind, step in TARGETS:
        for point in named_points(step, refs[(kind, "docdb")].traces[step]):
            cases.append((kind, step, point, "docdb"))
    rng = random.Random(ctx.seed)
    for _ in range(random_points):
        kind, step = rng.choice(TARGETS)
        cases.append((kind, step, random_point(rng, refs[(kind, "docdb")].traces[step]), "docdb"))
    for db in OTHER_KINDS:
        first_call = [p for p in named_points("scale-up", refs[("down", db)].traces["scale-up"])
                      if p.name.startswith("after mutating call 1/")]
        cases += [("down", "scale-up", p, db) for p in first_call]

    nights = await harness.gather_limited(
        PARALLEL, [play(ctx, table, kind, step, point, db) for kind, step, point, db in cases])

    rows, totals = [], collections.Counter()
    for (kind, step, point, db), night in zip(cases, nights):
        ref = refs[(kind, db)]
        label = f"{step} / {point.name}" + ("" if db == "docdb" else f" ({db})")
        bad: list[str] = []
        if night.killed is None or night.killed.kind != "lost":
            bad.append(f"not killed: the invocation answered {night.killed.outcome if night.killed else '?'}")
        redo = night.redelivery
        if redo is None or redo.kind != "response" or redo.outcome == "in-progress":
            bad.append(f"redelivery answered {redo.outcome if redo else '?'} {redo.error_message if redo else ''}")
        keys = {f"{night.world.name}/{s}/{KEY_TIME:%Y-%m-%dT%H:%M:%SZ}" for s in NIGHTS[kind]}
        dedup = {(d["key"], d["step"]): d["status"] for d in night.view["dedup"]}
        completed = sum(1 for s in NIGHTS[kind] if dedup.get((f"{night.world.name}/{s}/{KEY_TIME:%Y-%m-%dT%H:%M:%SZ}", s)) == "COMPLETED")
        if completed != len(NIGHTS[kind]) or len(dedup) != len(NIGHTS[kind]):
            bad.append(f"dedup records {dedup} (want each of {len(keys)} steps COMPLETED once)")
        stuck = sum(1 for v in dedup.values() if v == "IN_PROGRESS")
        lease_until = int(night.view["state"].get("scaling_until_ms", 0) or 0)
        if lease_until > time.time() * 1000:
            stuck += 1
            bad.append(f"scaling lease held until {lease_until}")
        open_runs = [r for r in night.view["runs"] if r["status"] != "closed"]
        if open_runs:
            bad.append(f"runs left open: {open_runs}")
        lost = [s for s in NIGHTS[kind] if not any(e.get("step") == s for e in night.view["events"])]
        if lost:
            bad.append(f"no history record for {lost}")
        final_ok = night.shapes.get(NIGHTS[kind][-1]) == ref.shapes[NIGHTS[kind][-1]]
        step_ok = night.shapes.get(step) == ref.shapes[step]
        if not final_ok or not step_ok:
            bad.append(f"state after {step} {night.shapes.get(step)} / final {night.shapes.get(NIGHTS[kind][-1])} differ from the fault-free night's {ref.shapes[step]} / {ref.shapes[NIGHTS[kind][-1]]}")
        if night.wire != ref.wire or night.doubles:
            bad.append(f"mutating calls {dict(night.wire)} (doubles {night.doubles}), fault-free night {dict(ref.wire)}")
        history, done = history_of(night, step)
        if not done:
            bad.append(f"the run history does not read as done for {step}: {history}")
        bad += night.panics
        violations += [f"crash {label}: {b}" for b in bad]
        totals["cases"] += 1
        totals["killed"] += night.killed is not None and night.killed.kind == "lost"
        totals["stuck"] += stuck
        totals["open"] += len(open_runs)
        totals["lost"] += len(lost)
        totals["mismatch"] += not (final_ok and step_ok)
        totals["double"] += night.doubles
        totals["panics"] += len(night.panics)
        rows.append([
            step if db == "docdb" else f"{step} ({db})", point.name, "yes" if night.killed and night.killed.kind == "lost" else "NO", night.at_kill,
            redo.outcome if redo else "-", history, completed, stuck, len(open_runs), len(lost),
            "yes" if final_ok and step_ok else "NO", night.doubles, len(night.panics),
        ])
    rows.append(["total", f"{totals['cases']} cases", totals["killed"], "", "", "", "", totals["stuck"], totals["open"],
                 totals["lost"], totals["mismatch"], totals["double"], totals["panics"]])
    head = ["step", "kill -9 point", "killed", "dedup at kill", "redelivery", "run history of the retried step",
            "steps COMPLETED", "stuck leases", "runs left open", "lost records", "state = fault-free", "double actions", "panics"]
    notes = collections.defaultdict(list)
    for (kind, step, point, db), night in zip(cases, nights):
        redo = night.redelivery
        if redo is not None and redo.kind == "response" and redo.outcome != "acted":
            reason = str(redo.body.get("reason", "")).replace(night.world.name, "{scenario}")
            reason = re.sub(r"\d{4}-\d\d-\d\dT[\d:.]+Z", "{time}", reason)
            notes[f"{step} redelivery {redo.outcome}: {reason[:200]}"].append(point.name)
    detail = "\n".join(f"  - {text}\n      (after kill points: {', '.join(names)})" for text, names in notes.items())
    title = (f"Part 2: crash mid-step ({len(cases)} kill points, {random_points} of them random; killed invocation's deadline "
             f"{DEADLINE_S:.0f}s, redelivered after it; {time.monotonic() - started:.0f}s)")
    text = harness.table(title, head, rows)
    if detail:
        text += "\nWhat the redelivery answered where it found the step's work already done:\n" + detail
    return text, violations


async def rehearsal(ctx: harness.Ctx) -> tuple[str, list[str]]:
    """The same crash with a rehearsal clock: the scale-up carries `"now"` (allowed outside
    APP_ENV=prod; the demo and the tests use it), hours before the wall clock. Killed after its
    claim, redelivered twice after the deadline: the first redelivery must take the step over
    (`acted`), the second replay it (`duplicate`). Before the fix of finding 4 (RELIABILITY.md)
    both answered `in-progress`: the lease never expired against the rehearsal time."""
    started = time.monotonic()
    table = ctx.new_table("rehearsal")
    w = world.World(f"rehearse{world.short_id()}", table)
    await asyncio.to_thread(w.create, ctx.aws)
    logdir = ctx.workdir / "rehearsal" / w.name
    logdir.mkdir(parents=True, exist_ok=True)
    config = world.config_file(logdir / "nightshift.toml", table, [w])
    px = proxy.Proxy(ctx.emulator)
    fleet = harness.Fleet(ctx, px, config, table, logdir)
    body = json.loads(w.step("scale-up", KEY_TIME))
    body["now"] = f"{KEY_TIME:%Y-%m-%dT%H:%M:%SZ}"  # the rehearsal time: hours before the wall clock
    payload = json.dumps(body).encode()
    rows, violations = [], []
    try:
        fn = await fleet.spawn()
        inv = fn.api.enqueue(payload, DEADLINE_S)
        px.after = lambda r, _resp: r.invocation == inv.request_id and is_dedup(r, "PutItem") and r.upstream_status == 200
        killed = await fn.wait(inv)
        px.after = None
        rows.append(["1 (killed after the claim)", killed.outcome, "lost", f"deadline {DEADLINE_S:.0f}s"])
        if killed.kind != "lost":
            violations.append(f"rehearsal: not killed: answered {killed.outcome}")
        await asyncio.sleep(max(0.0, inv.deadline_ms / 1000 - time.time()) + 0.3)
        for attempt, want in ((2, "acted"), (3, "duplicate")):
            fn = await fleet.spawn()
            _, answer = await fn.invoke(payload, 30.0)
            waited = f"{time.time() - inv.deadline_ms / 1000:.1f}s after the killed deadline"
            rows.append([f"{attempt} (redelivery)", answer.outcome, want, waited])
            if answer.outcome != want:
                violations.append(f"rehearsal: redelivery {attempt} answered {answer.outcome} (want {want}): {answer.body.get('reason', answer.error_message)}")
            await asyncio.sleep(2)
    finally:
        await fleet.stop()
        await px.close()
        px.dump(logdir / "wire.jsonl")
    view = await asyncio.to_thread(w.table_view, ctx.aws)
    status = [d["status"] for d in view["dedup"]]
    if status != ["COMPLETED"]:
        violations.append(f"rehearsal: dedup record {status}")
    text = harness.table(
        f"Part 2b: crash of a rehearsed scale-up (\"now\" = {body['now']}, hours before the wall clock; "
        f"{time.monotonic() - started:.0f}s; dedup record at the end {status})",
        ["delivery", "answer", "want", "when"], rows)
    return text, violations
