"""Part 3, AWS faults over whole nights: every AWS call of the function passes the proxy, which
injects, at a rate per request (any service, any operation; --fault-rate), one of
  throttle  ThrottlingException / Throttling, 400, in the service's protocol shape (not forwarded)
  500       InternalServerError / InternalFailure (not forwarded)
  503       ServiceUnavailable (not forwarded)
  delay     forwarded, the answer held 6 s, past the SDK's 5 s per-attempt timeout
  reset     forwarded, then the connection reset: the call happened, the answer is lost
over whole nights, each on a world of its own, played by one bootstrap process at a time:
  night A: scale-up, check (busy: no datapoints yet, missing_data = "busy"), the batch goes quiet,
           ECS task-stopped completion event (a check: scales down, closes), scheduled scale-down;
  night B: scale-up, check (busy), completion event (still busy), the batch goes quiet,
           scheduled scale-down (scales down, closes).
Delivery is Lambda's asynchronous invocation: a function error (Retryable) or an invocation that
outlives its deadline (the host kills it at the deadline, as Lambda does) is redelivered with the
same payload and request ID once the failed attempt's deadline (its lease) has passed, up to
MAX_ATTEMPTS attempts (Lambda retries every function error, Retryable or not: a NonRetryable answer
to an injected transient fault is counted as a violation, since the step then reads as failed); a check that answers `deferred` is followed by the next scheduled check
(up to EXTRA_CHECKS) while the run is still open.

Invariants per night: the capacity after the scale-up and the state at the end equal the
fault-free night's; no double action (a mutating call accepted twice for one resource by two
different SDK operations; an SDK re-send of one operation after its answer was lost is counted
apart); every step's dedup record COMPLETED, none IN_PROGRESS, no scaling lease held, no run open,
every step recorded in the history; no panic.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable

import harness
import lambda_host
import proxy
import world

DEADLINE_S = 12.0
MAX_ATTEMPTS = 3  # Lambda's asynchronous invocation: the first attempt and two retries
EXTRA_CHECKS = 4
PARALLEL = 6
KEY_TIME = dt.datetime(2026, 12, 1, 13, 0, tzinfo=dt.UTC)


@dataclass
class Night:
    index: int
    kind: str
    faults_on: bool
    world: world.World | None = None
    deliveries: int = 0
    redeliveries: int = 0
    timeouts: int = 0
    retried_then_done: int = 0
    not_done: list = field(default_factory=list)
    outcomes: collections.Counter = field(default_factory=collections.Counter)
    extra_checks: int = 0
    capacity: dict | None = None
    final: dict | None = None
    view: dict = field(default_factory=dict)
    faults: dict = field(default_factory=dict)
    sdk_retries: int = 0
    doubles: int = 0
    resent: int = 0
    panics: list = field(default_factory=list)
    keys: list = field(default_factory=list)  # (dedup key, step) of every delivered step event
    proxy_errors: list = field(default_factory=list)
    fired: list = field(default_factory=list)
    nonretryable: list = field(default_factory=list)
    spurious: list = field(default_factory=list)


class Player:
    def __init__(self, ctx: harness.Ctx, fleet: harness.Fleet, night: Night) -> None:
        self.ctx, self.fleet, self.night = ctx, fleet, night
        self.fn: lambda_host.Function | None = None

    async def deliver(self, payload: bytes, step: str, key: str) -> lambda_host.Answer:
        """Lambda async: attempts until an answer that is not a retryable failure."""
        night = self.night
        night.deliveries += 1
        night.keys.append((key, step))
        request_id = str(uuid.uuid4())
        retried = False
        first_error = ""
        answer = lambda_host.Answer("lost")
        for attempt in range(1, MAX_ATTEMPTS + 1):
            if self.fn is None or self.fn.killed or (self.fn.proc and self.fn.proc.returncode is not None):
                self.fn = await self.fleet.spawn()
            inv = self.fn.api.enqueue(payload, DEADLINE_S, request_id)
            answer = await self.wait(inv)
            night.outcomes[answer.outcome] += 1
            if answer.error_type.startswith("NonRetryable"):
                # Lambda retries every function error; the type is for operators. An injected
                # transient fault must never read as a permanent failure.
                night.nonretryable.append(f"{step} ({key}): {answer.error_message[:200]}")
            if answer.kind == "response":
                break
            if not retried:
                first_error = f"{answer.outcome}: {answer.error_message}"
            retried = True
            if attempt < MAX_ATTEMPTS:
                night.redeliveries += 1
                # Lambda retries a minute or two later; the failed attempt's lease is its deadline.
                await asyncio.sleep(max(0.0, inv.deadline_ms / 1000 - time.time()) + 0.3)
        if retried and answer.outcome == "duplicate":
            # The failed attempt had completed the step after all: its error was not true.
            night.spurious.append(f"{step} ({key}): {first_error[:200]}")
        if answer.kind == "response" and answer.outcome != "in-progress":
            night.retried_then_done += retried
        else:
            night.not_done.append(f"{step} ({key}): {answer.outcome} {answer.error_message[:200]}")
        return answer

    async def wait(self, inv: lambda_host.Invocation) -> lambda_host.Answer:
        assert self.fn is not None
        # Until the process takes the event (its deadline starts then); lambda_host.STARTUP_S is
        # only a backstop for a hung init, generous for a loaded machine.
        since = time.monotonic()
        while not inv.deadline_ms:  # not handed out yet
            if time.monotonic() - since > lambda_host.STARTUP_S or self.fn.killed or (self.fn.proc and self.fn.proc.returncode is not None):
                self.fn.kill()
                return lambda_host.Answer("lost", error_message="the function never asked for the event")
            await asyncio.sleep(0.02)
        left = inv.deadline_ms / 1000 - time.time() + 1.0
        try:
            return await asyncio.wait_for(asyncio.shield(inv.future), timeout=max(left, 0.1))
        except asyncio.TimeoutError:
            # Lambda ends an invocation at its deadline; the environment is started afresh.
            self.night.timeouts += 1
            self.fn.kill()
            return lambda_host.Answer("lost", error_message="timed out at the deadline (killed)")


def shape(state: dict) -> dict:
    writers = [c for (_, w), (_, c) in zip(state["members"], state["classes"]) if w]
    readers = sorted(c for (_, w), (_, c) in zip(state["members"], state["classes"]) if not w)
    # The worker kinds: the environment's (minvCpus, maxvCpus), the group's sizes.
    return {"writer": writers, "readers": readers, "desired": state["desired"], "scalable": state["scalable"],
            "vcpus": state.get("vcpus"), "asg": state.get("asg")}


def run_open(view: dict) -> bool:
    return any(r["status"] != "closed" for r in view["runs"])


def random_plan(ctx: harness.Ctx, index: int, rate: float, only: list | None, kinds: tuple | None) -> proxy.FaultPlan:
    weights = {"throttle": 1, "500": 1, "503": 1, "delay": 0.5, "reset": 1}
    kinds = kinds or tuple(weights)
    return proxy.FaultPlan(rate=0.0 if only else rate, kinds=kinds, weights=tuple(weights[k] for k in kinds),
                           per_op={tuple(o): rate for o in (only or [])}, seed=ctx.seed * 1000 + index, max_delays=2)


def _ddb(r: proxy.Record, op: str, pk_has: str = "", sk_has: str = "") -> bool:
    if r.call.service != "dynamodb" or r.call.operation != op:
        return False
    pk, sk = r.call.item_key()
    return pk_has in pk and sk_has in sk


def _twi(r: proxy.Record, pk_has: str, sk_has: str) -> bool:
    """A TransactWriteItems touching an item whose key contains these parts."""
    if r.call.service != "dynamodb" or r.call.operation != "TransactWriteItems":
        return False
    return any(pk_has in pk and sk_has in sk for pk, sk in r.call.transact_keys())


def _op(op: str) -> Callable[[proxy.Record], bool]:
    return lambda r: r.call.operation == op


# One fault, at one boundary, on one night: (name, night kind, predicate, fault kind, nth match).
TARGETED = [
    ("claim of the scale-up (PutItem DEDUP#)", "A", lambda r: _ddb(r, "PutItem", "DEDUP#", "STEP#scale-up"), "reset", 1),
    ("claim of the scale-up (PutItem DEDUP#)", "A", lambda r: _ddb(r, "PutItem", "DEDUP#", "STEP#scale-up"), "delay", 1),
    ("claim of the scale-up (PutItem DEDUP#)", "A", lambda r: _ddb(r, "PutItem", "DEDUP#", "STEP#scale-up"), "throttle", 1),
    ("claim of the completion event's check", "A", lambda r: _ddb(r, "PutItem", "DEDUP#", "STEP#check"), "reset", 2),
    ("claim of the scheduled scale-down", "B", lambda r: _ddb(r, "PutItem", "DEDUP#", "STEP#scale-down"), "reset", 1),
    ("scaling lease of the scale-up (UpdateItem STATE)", "A", lambda r: _ddb(r, "UpdateItem", "SCENARIO#", "STATE"), "reset", 1),
    ("run opened (TransactWriteItems)", "A", _op("TransactWriteItems"), "reset", 1),
    ("RegisterScalableTarget of the scale-up", "A", _op("RegisterScalableTarget"), "reset", 1),
    ("UpdateService of the scale-up", "A", _op("UpdateService"), "reset", 1),
    ("CreateDBInstance of the scale-up", "A", _op("CreateDBInstance"), "reset", 1),
    ("CreateDBInstance of the scale-up", "A", _op("CreateDBInstance"), "delay", 1),
    ("UpdateComputeEnvironment of the scale-up", "A", _op("UpdateComputeEnvironment"), "reset", 1),
    ("UpdateComputeEnvironment of the scale-up", "A", _op("UpdateComputeEnvironment"), "throttle", 1),
    ("UpdateAutoScalingGroup of the scale-up", "A", _op("UpdateAutoScalingGroup"), "reset", 1),
    ("UpdateAutoScalingGroup of the scale-up", "A", _op("UpdateAutoScalingGroup"), "throttle", 1),
    # A completed step's final writes are one TransactWriteItems: the event (PutItem EV#), the
    # complete (UpdateItem DEDUP#) and the scaling lease's release.
    ("final writes of the scale-up (TransactWriteItems: event, complete, lease)", "A",
     lambda r: _twi(r, "DEDUP#", "STEP#scale-up"), "reset", 1),
    ("final writes of the scale-up (TransactWriteItems: event, complete, lease)", "A",
     lambda r: _twi(r, "DEDUP#", "STEP#scale-up"), "throttle", 1),
    ("GetMetricData of the completion event's check", "A", _op("GetMetricData"), "reset", 2),
    ("DeleteDBInstance of the scale-down", "B", _op("DeleteDBInstance"), "reset", 1),
    ("UpdateComputeEnvironment of the scale-down", "B", _op("UpdateComputeEnvironment"), "reset", 1),
    ("UpdateAutoScalingGroup of the scale-down", "B", _op("UpdateAutoScalingGroup"), "reset", 1),
    ("run closed by the scale-down (TransactWriteItems: close, event, complete, lease)", "B",
     lambda r: _twi(r, "DEDUP#", "STEP#scale-down"), "reset", 1),
]
# The other database kinds: night A on a world whose cluster is an Aurora or a Neptune one, with
# the scale-up's first CreateDBInstance and the scale-down's first DeleteDBInstance reset (the
# request reaches the emulator, the answer is lost: the retry must find the reader there, or gone).
OTHER_KINDS = ("aurora", "neptune")
TARGETED_OTHER = [
    ("CreateDBInstance of the scale-up", "A", _op("CreateDBInstance"), "reset", 1),
    ("DeleteDBInstance of the scale-down", "A", _op("DeleteDBInstance"), "reset", 1),
]


async def play(ctx: harness.Ctx, table: str, index: int, kind: str, plan: proxy.FaultPlan | None,
               db: str = "docdb") -> Night:
    night = Night(index, kind, plan is not None)
    w = world.World(f"fault{world.short_id()}", table, db)
    night.world = w
    await asyncio.to_thread(w.create, ctx.aws)
    logdir = ctx.workdir / "faults" / w.name
    logdir.mkdir(parents=True, exist_ok=True)
    config = world.config_file(logdir / "nightshift.toml", table, [w])
    px = proxy.Proxy(ctx.emulator, plan)
    px.faults_enabled = plan is not None
    fleet = harness.Fleet(ctx, px, config, table, logdir)
    player = Player(ctx, fleet, night)
    at = lambda minutes: KEY_TIME + dt.timedelta(minutes=minutes)  # noqa: E731
    key = lambda step, t: f"{w.name}/{step}/{t:%Y-%m-%dT%H:%M:%SZ}"  # noqa: E731
    try:
        await player.deliver(w.step("scale-up", at(0)), "scale-up", key("scale-up", at(0)))
        night.capacity = shape(await asyncio.to_thread(w.state, ctx.aws))
        await player.deliver(w.step("check", at(10)), "check", key("check", at(10)))
        if kind == "B":
            ev = w.task_stopped()
            await player.deliver(ev, "check", _envelope_id(ev))
        await asyncio.to_thread(w.put_quiet, ctx.aws, 30, 5)
        if kind == "A":
            ev = w.task_stopped()
            await player.deliver(ev, "check", _envelope_id(ev))
        else:
            await player.deliver(w.step("scale-down", at(60)), "scale-down", key("scale-down", at(60)))
        for extra in range(EXTRA_CHECKS):
            if not run_open(await asyncio.to_thread(w.table_view, ctx.aws)):
                break
            night.extra_checks += 1
            t = at(20 + extra)
            await player.deliver(w.step("check", t), "check", key("check", t))
        if kind == "A":
            await player.deliver(w.step("scale-down", at(60)), "scale-down", key("scale-down", at(60)))
    finally:
        await fleet.stop()
        await px.close()
        px.dump(logdir / "wire.jsonl")
    night.final = shape(await asyncio.to_thread(w.state, ctx.aws))
    night.view = await asyncio.to_thread(w.table_view, ctx.aws)
    night.faults = px.faults_by_kind()
    night.sdk_retries = px.retries()
    accepted = [r for r in px.records if r.call.mutating and r.upstream_status is not None and 200 <= r.upstream_status < 300]
    per_resource: dict = collections.defaultdict(set)
    for r in accepted:
        per_resource[(r.call.operation, r.call.resource())].add(r.invocation_id)
    night.doubles = sum(len(ops) - 1 for ops in per_resource.values() if len(ops) > 1)
    by_op = collections.Counter((r.call.operation, r.call.resource(), r.invocation_id) for r in px.records if r.call.mutating and r.forwarded)
    night.resent = sum(n - 1 for n in by_op.values() if n > 1)
    night.panics = fleet.panics()
    night.proxy_errors = px.errors
    night.fired = list(px.faults.fired)
    return night


def _envelope_id(event: bytes) -> str:
    import json

    return json.loads(event)["id"]


def judge(n: Night, ref: Night) -> tuple[list[str], dict]:
    """The invariants of one night against the fault-free night of its kind."""
    bad = []
    dedup = n.view["all_dedup"]
    not_completed = [k for k in n.keys if dedup.get(k) != "COMPLETED"]
    left = sum(1 for k in set(n.keys) | {(d["key"], d["step"]) for d in n.view["dedup"]} if dedup.get(k) == "IN_PROGRESS")
    lease_until = int(n.view["state"].get("scaling_until_ms", 0) or 0)
    held = lease_until > time.time() * 1000
    recorded = {e.get("key") for e in n.view["events"]}
    lost = [k for k, _ in n.keys if k not in recorded]
    open_runs = sum(1 for r in n.view["runs"] if r["status"] != "closed")
    final_ok, capacity_ok = n.final == ref.final, n.capacity == ref.capacity
    if not final_ok:
        bad.append(f"final state {n.final} != fault-free {ref.final}")
    if not capacity_ok:
        bad.append(f"capacity after scale-up {n.capacity} != fault-free {ref.capacity}")
    if n.doubles:
        bad.append(f"{n.doubles} double action(s)")
    if not_completed:
        bad.append(f"dedup records not COMPLETED: {[(k, dedup.get(k)) for k in not_completed]}")
    if held:
        bad.append(f"scaling lease still held until {lease_until}")
    if lost:
        bad.append(f"no history record for {lost}")
    if open_runs:
        bad.append(f"{open_runs} run(s) left open")
    if n.not_done:
        bad.append(f"steps never completed: {n.not_done}")
    if n.spurious:
        bad.append(f"answered an error although the step had completed (the redelivery replayed it): {n.spurious}")
    if n.nonretryable:
        bad.append(f"answered NonRetryable to a transient fault: {n.nonretryable}")
    bad += n.panics + n.proxy_errors
    figures = {
        "equal": capacity_ok and final_ok, "lost": len(set(lost) | {k for k, _ in not_completed}),
        "left": left + held, "open": open_runs,
    }
    return bad, figures


async def run(ctx: harness.Ctx, nights: int, rate: float, only: list | None = None, kinds: tuple | None = None) -> tuple[str, list[str]]:
    started = time.monotonic()
    table = ctx.new_table("faults")
    keys = [("A", "docdb"), ("B", "docdb")] + [("A", db) for db in OTHER_KINDS] if not only else [("A", "docdb"), ("B", "docdb")]
    refs = dict(zip(keys, await asyncio.gather(*(play(ctx, table, -1 - i, k, None, db) for i, (k, db) in enumerate(keys)))))
    violations: list[str] = []
    for (k, db), ref in refs.items():
        if ref.not_done or ref.redeliveries or ref.timeouts:
            violations.append(f"fault-free night {k} ({db}): {ref.not_done} (redeliveries {ref.redeliveries}, timeouts {ref.timeouts})")
    plays = [play(ctx, table, i, "AB"[i % 2], random_plan(ctx, i, rate, only, kinds)) for i in range(nights)]
    targeted = [] if only else [(*t, "docdb") for t in TARGETED] + [
        (*t, db) for db in OTHER_KINDS for t in TARGETED_OTHER]
    for j, (name, kind, match, fault, nth, db) in enumerate(targeted):
        label = name if db == "docdb" else f"{name} ({db})"
        plan = proxy.FaultPlan(targeted=[(f"{fault}: {label}", match, fault, nth)], seed=ctx.seed)
        plays.append(play(ctx, table, nights + j, kind, plan, db))
    everything = await harness.gather_limited(PARALLEL, plays)
    results, aimed = everything[:nights], everything[nights:]

    rows, tot = [], collections.Counter()
    for n in results:
        bad, fig = judge(n, refs[(n.kind, n.world.kind)])
        violations += [f"fault night {n.index + 1} ({n.kind}, {n.world.name}): {b}" for b in bad]
        f = n.faults
        rows.append([n.index + 1, n.kind, n.deliveries, f["throttle"], f["500"], f["503"], f["delay"], f["reset"], n.sdk_retries,
                     n.redeliveries, n.timeouts, n.retried_then_done, n.extra_checks, harness.counter_text(n.outcomes),
                     "yes" if fig["equal"] else "NO", n.doubles, n.resent, fig["lost"], fig["left"], len(n.panics)])
        for k in ("throttle", "500", "503", "delay", "reset"):
            tot[k] += f[k]
        for k, v in (("deliveries", n.deliveries), ("sdk", n.sdk_retries), ("redeliveries", n.redeliveries),
                     ("timeouts", n.timeouts), ("retried_done", n.retried_then_done), ("extra", n.extra_checks),
                     ("equal", fig["equal"]), ("doubles", n.doubles), ("resent", n.resent), ("lost", fig["lost"]),
                     ("left", fig["left"]), ("panics", len(n.panics))):
            tot[k] += v
    rows.append(["total", f"{len(results)}", tot["deliveries"], tot["throttle"], tot["500"], tot["503"], tot["delay"], tot["reset"],
                 tot["sdk"], tot["redeliveries"], tot["timeouts"], tot["retried_done"], tot["extra"], "",
                 f"{tot['equal']}/{len(results)}", tot["doubles"], tot["resent"], tot["lost"], tot["left"], tot["panics"]])
    head = ["night", "kind", "events", "throttle", "500", "503", "delay", "reset", "SDK retries", "Lambda redeliveries",
            "timed out", "Retryable then done", "extra checks", "answers", "state = fault-free", "double actions",
            "re-sent after lost answer", "lost records", "left IN_PROGRESS / lease held", "panics"]
    where = ", ".join(":".join(o) for o in only) if only else "every service and operation"
    title = (f"Part 3a: AWS faults at random ({len(results)} nights, fault rate {rate:.0%} of requests on {where}"
             f"{' (' + ','.join(kinds) + ')' if kinds else ''}, invocation deadline {DEADLINE_S:.0f}s, up to "
             f"{MAX_ATTEMPTS} attempts per event)")
    text = harness.table(title, head, rows)

    if aimed:
        arows, atot = [], collections.Counter()
        for n in aimed:
            bad, fig = judge(n, refs[(n.kind, n.world.kind)])
            name = n.fired[0] if n.fired else "(did not fire)"
            if not n.fired:
                bad.append("the targeted fault never fired")
            violations += [f"targeted fault [{name}] ({n.kind}, {n.world.name}): {b}" for b in bad]
            arows.append([name, n.kind, harness.counter_text(n.outcomes), n.sdk_retries, n.redeliveries, n.retried_then_done,
                          "yes" if fig["equal"] else "NO", n.doubles, n.resent, fig["lost"], fig["left"], fig["open"],
                          len(n.panics), "ok" if not bad else "VIOLATED"])
            atot["nights"] += 1
            atot["ok"] += not bad
        head = ["fault (first attempt only)", "night", "answers", "SDK retries", "Lambda redeliveries", "Retryable then done",
                "state = fault-free", "double actions", "re-sent after lost answer", "lost records", "left IN_PROGRESS / lease held",
                "runs left open", "panics", "invariants"]
        text += "\n\n" + harness.table(
            f"Part 3b: one fault at one boundary ({atot['nights']} nights, {atot['ok']} with every invariant held)", head, arows)
    text += f"\n(part 3: {time.monotonic() - started:.0f}s)"
    return text, violations
