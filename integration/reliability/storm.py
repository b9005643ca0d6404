"""Part 1, duplicate storm: 64 concurrent deliveries of one event over several real bootstrap
processes, for scale-up, a check with the batch quiet (which scales down and closes the run), and
scale-down; the mutating calls are counted at the wire (the proxy), not by the function.

One round plays two nights on one world:
  night A: scale-up storm, then check storm (quiet: the check scales down and closes the run);
  night B: scale-up storm, then scheduled scale-down storm (quiet: it scales down and closes).
After the rounds, night B once more on a world whose cluster is an Aurora one and on one whose
cluster is a Neptune one (the same config's `[[scenario.aurora]]` and `[[scenario.neptune]]`).
Each storm is one event (one dedup key) delivered 64 times at once, spread round-robin over the
processes, every delivery with its own Lambda request ID (as Lambda's async queue or EventBridge
redelivers). Invariants per storm:
- the mutating calls seen at the proxy are exactly the planned ones (the 5 calls the scenario
  needs: RegisterScalableTarget, UpdateService, and 3 CreateDBInstance or DeleteDBInstance), each
  once, and they are exactly the actions of the one delivery that answered `acted`;
- exactly one delivery acted; every other answered `duplicate` or `in-progress`, and wrote
  nothing but its refused claim (DynamoDB writes at the wire, per delivery);
- the dedup record is COMPLETED; the AWS state is the night's (after scale-up) or the day's.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import time
from pathlib import Path

import harness
import proxy
import world

DDB_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}
DELIVERIES = 64


def expected_calls(step: str, before: dict) -> collections.Counter:
    """The planned mutating calls of a step from the state it starts from (contract config)."""
    # The worker kinds: one UpdateComputeEnvironment and one UpdateAutoScalingGroup each way.
    workers = {"UpdateComputeEnvironment": 1, "UpdateAutoScalingGroup": 1}
    if step == "scale-up":
        return collections.Counter({"RegisterScalableTarget": 1, "UpdateService": 1, "CreateDBInstance": world.REPLICAS, **workers})
    readers = sum(1 for _, writer in before["members"] if not writer)
    return collections.Counter({"RegisterScalableTarget": 1, "UpdateService": 1, "DeleteDBInstance": readers, **workers})


def night_state(s: dict) -> bool:
    readers = sum(1 for _, w in s["members"] if not w)
    workers = s["vcpus"][0] == world.CE_NIGHT_MIN and s["asg"] == world.ASG_NIGHT
    return readers == world.REPLICAS and s["desired"] == world.NIGHT_DESIRED and s["scalable"] == [(world.NIGHT_DESIRED, world.NIGHT_DESIRED)] and workers


def day_state(s: dict) -> bool:
    readers = sum(1 for _, w in s["members"] if not w)
    workers = s["vcpus"] == world.CE_DAY[:2] and s["asg"] == world.ASG_DAY
    return readers == 0 and s["desired"] == world.BASELINE_DESIRED and s["scalable"] == [(world.BASELINE_MIN, world.BASELINE_MAX)] and workers


async def run(ctx: harness.Ctx, rounds: int, procs: int) -> tuple[str, list[str]]:
    workdir = ctx.workdir / "storm"
    workdir.mkdir(parents=True, exist_ok=True)
    table = ctx.new_table("storm")
    w = world.World(f"storm{world.short_id()}", table)
    w.create(ctx.aws)
    # One world of each other database kind, in the same config (one fleet serves them all).
    others = [world.World(f"storm{kind}{world.short_id()}", table, kind) for kind in ("aurora", "neptune")]
    for o in others:
        o.create(ctx.aws)
    config = world.config_file(workdir / "nightshift.toml", table, [w, *others])
    px = proxy.Proxy(ctx.emulator)
    fleet = harness.Fleet(ctx, px, config, table, workdir)
    for _ in range(procs):
        await fleet.spawn()

    violations: list[str] = []
    rows = {step: collections.Counter() for step in ("scale-up", "check", "scale-down")}
    base = dt.datetime(2026, 12, 1, 13, 0, tzinfo=dt.UTC)
    started = time.monotonic()
    try:
        for r in range(rounds):
            w.put_quiet(ctx.aws, minutes_back=30, minutes_ahead=2)
            for night, closer in (("A", "check"), ("B", "scale-down")):
                key_time = base + dt.timedelta(minutes=10 * (2 * r + (night == "B")))
                for step in ("scale-up", closer):
                    label = f"round {r + 1} night {night} {step}"
                    await storm(ctx, px, fleet, w, step, w.step(step, key_time), label, rows[step], violations)
        for o in others:
            o.put_quiet(ctx.aws, minutes_back=30, minutes_ahead=2)
            for step in ("scale-up", "scale-down"):
                label = f"{o.kind} night B {step}"
                await storm(ctx, px, fleet, o, step, o.step(step, base), label, rows[step], violations)
    finally:
        await fleet.stop()
        await px.close()
        px.dump(workdir / "wire.jsonl")
    panics = fleet.panics()
    violations += panics
    elapsed = time.monotonic() - started

    head = ["step", "storms", "deliveries", "processes", "acted", "duplicate", "in-progress", "other answers",
            "mutating calls at the wire", "planned", "double actions", "extra writes by non-actors",
            "dedup not COMPLETED", "state mismatches", "panics"]
    out = []
    for step, c in rows.items():
        out.append([step, c["storms"], c["deliveries"], procs, c["acted"], c["duplicate"], c["in-progress"], c["other"],
                    c["wire_mutating"], c["planned"], c["double"], c["extra_writes"], c["dedup_bad"], c["state_bad"],
                    len(panics) if step == "scale-up" else "-"])
    text = harness.table(
        f"Part 1: duplicate storm ({rounds} round(s) on a DocumentDB world, then night B on an Aurora and a Neptune world, {DELIVERIES} concurrent deliveries per storm over {procs} bootstrap processes, {elapsed:.0f}s; SDK retries at the wire: {px.retries()})",
        head,
        out,
    )
    return text, violations


async def storm(ctx, px: proxy.Proxy, fleet: harness.Fleet, w: world.World, step: str, payload: bytes, label: str,
                row: collections.Counter, violations: list[str]) -> None:
    before = await asyncio.to_thread(w.state, ctx.aws)
    first = len(px.records)
    fns = fleet.functions
    invs = [fns[i % len(fns)].api.enqueue(payload, 30.0) for i in range(DELIVERIES)]
    answers = await asyncio.gather(*(fns[i % len(fns)].wait(inv) for i, inv in enumerate(invs)))
    recs = px.records[first:]
    after = await asyncio.to_thread(w.state, ctx.aws)

    ids = {inv.request_id for inv in invs}
    outcomes = collections.Counter(a.outcome for a in answers)
    acted = [(inv, a) for inv, a in zip(invs, answers) if a.outcome == "acted"]
    row["storms"] += 1
    row["deliveries"] += len(invs)
    row["acted"] += outcomes["acted"]
    row["duplicate"] += outcomes["duplicate"]
    row["in-progress"] += outcomes["in-progress"]
    other = {k: v for k, v in outcomes.items() if k not in ("acted", "duplicate", "in-progress")}
    row["other"] += sum(other.values())
    if other:
        violations.append(f"{label}: unexpected answers {other}")
    if len(acted) != 1:
        violations.append(f"{label}: {len(acted)} deliveries acted (want exactly 1)")

    stray = [r for r in recs if r.invocation not in ids]
    if stray:
        violations.append(f"{label}: {len(stray)} calls at the wire outside the storm's deliveries")
    mutating = [r for r in recs if r.call.mutating and r.forwarded]
    ops, doubles = proxy.Proxy.actions(recs)
    want = expected_calls(step, before)
    row["wire_mutating"] += sum(ops.values())
    row["planned"] += sum(want.values())
    row["double"] += doubles
    if ops != want or doubles:
        violations.append(f"{label}: mutating calls at the wire {dict(ops)} (doubles {doubles}), planned {dict(want)}")
    if acted:
        inv, answer = acted[0]
        actions = collections.Counter((a.get("call"), a.get("resource")) for a in answer.body.get("actions", []))
        wire_by_actor = collections.Counter({
            (r.call.operation, r.call.resource().split(" ")[0] if r.call.service != "application-autoscaling" else r.call.params.get("ResourceId"))
            for r in mutating if r.invocation == inv.request_id
        })
        if actions != wire_by_actor or any(r.invocation != inv.request_id for r in mutating):
            violations.append(f"{label}: acted delivery's actions {dict(actions)} differ from the wire {dict(wire_by_actor)}")
        bad = [a for a in answer.body.get("actions", []) if a.get("result") != "ok"]
        if bad:
            violations.append(f"{label}: actions not ok: {bad}")
    actor = acted[0][0].request_id if acted else None
    extra = [r for r in recs if r.invocation != actor and r.call.service == "dynamodb" and r.call.operation in DDB_WRITES
             and not (r.call.operation == "PutItem" and r.call.item_key()[0].startswith("DEDUP#") and r.upstream_status == 400)]
    row["extra_writes"] += len(extra)
    if extra:
        violations.append(f"{label}: non-acting deliveries wrote {[(r.call.operation, r.call.item_key()) for r in extra[:5]]}")

    key = json_key(payload)
    view = await asyncio.to_thread(w.table_view, ctx.aws)
    records = [d for d in view["dedup"] if d["key"] == key and d["step"] == step]
    if [d["status"] for d in records] != ["COMPLETED"]:
        row["dedup_bad"] += 1
        violations.append(f"{label}: dedup record {records}")
    ok_state = night_state(after) if step == "scale-up" else day_state(after)
    if not ok_state:
        row["state_bad"] += 1
        violations.append(f"{label}: AWS state after the storm {after}")


def json_key(payload: bytes) -> str:
    import json

    body = json.loads(payload)
    return f"{body['scenario']}/{body['step']}/{body['scheduled_time']}"
