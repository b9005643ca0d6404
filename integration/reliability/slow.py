"""Part 6, slow nights: whole nights of the contract's schedule against AWS at its real speed.

The emulator's lifecycle mode (integration/emulator/lifecycle.py) makes DocumentDB instances take
minutes to create, resize and delete, failovers take their seconds, ECS tasks start minutes after
the desired count rises, and refuses changes meanwhile as AWS does. Each night runs on a world of
its own with a virtual clock: every event the function gets carries a rehearsal `"now"` and the
harness first moves the world's clock to that same instant, so the function sees AWS as it would
be at that minute of the night. Minutes of night pass in milliseconds.

The schedule is the product's own: `nightshift template` for the night's config (the contract
config with deploy/nightshift.toml's [scenario.schedule]: scale-up 23:00 Asia/Tokyo, a check every
10 minutes, the deadline check at 07:30, the overdue check at 08:00, the scheduled scale-down at
06:00), every EventBridge Scheduler schedule of it turned into its step command for one night. A
completion event is the custom EventBridge event of a check with the night's `"now"` (an ECS or
Batch envelope has no rehearsal `"now"`; their parsing is the corpus's and part 3's). Delivery is
Lambda's asynchronous invocation: a function error is retried 1 and 3 minutes later (virtual),
with the same payload and request ID, then dropped.

Nights (each on its own world; --long plays each with two more seeds, which change every
duration AWS takes and end the batch 1-9 minutes later):
  ordinary          the batch 23:14-01:52; schedules only
  resize            resize = db.r6g.2xlarge: readers at the night class, fail over, old writer
                    resized; back at scale-down; a completion event at the batch's end
  serverless        serverless_min = 16 on a Serverless cluster, one db.serverless reader
  deadline, creating  a late scale-up (07:22, by hand) whose readers are still creating when the
                    deadline check (07:30) scales down
  batch before ready  the batch is over (23:02-23:07) before the readers are available
  failover to ours  AWS fails the writer over to one of nightshift's readers at 00:47; a
                    maintenance reboot of another as the batch ends
  backup window     the cluster is backing-up 22:50-23:20 over the scale-up
  quota             the account's instance quota leaves room for 2 of the 3 readers
  back to back      the batch fails early, the night closes, and the on-call's scale-up for the
                    rerun comes while the first run's readers are still deleting
  hold              `nightshift hold` until 07:50, past the scheduled scale-down and the deadline;
                    someone else raises the desired count and the scalable target during the night

Checked per night: one writer after every step; "ready" only with the night's readers in the
cluster (unless AWS refused them for quota or capacity); no NonRetryable failure; no instance that
nightshift did not create is deleted or rebooted, none resized unless the config resizes, never
the writer; no double action
(the same change accepted twice in a row for one resource); every step answered, none left
IN_PROGRESS, no scaling lease held, every run closed; at the end every added instance gone and
every value back at the baseline (or, where someone else changed it, left as they set it).

Figures per run, each with its target (PASS/MISS): lead (scale-up to capacity ready as
nightshift noticed it, against the minutes AWS itself was busy with what nightshift asked, or
refused it because the cluster was busy: nightshift's overhead is how late it noticed, target <=
check_every); idle after the batch (last busy datapoint to the first
scale-down call, floor quiet_for; target quiet_for + check_every on schedules alone, quiet_for +
1 minute with a completion event, counted from when the config lets the night end: min_hold, a
hold, the deadline); instance-hours (billed: DocumentDB does not bill `creating` and `deleting`),
task-hours and DCU-hours above the baseline and how many of them fell outside the batch, against
what the same config would cost if every scale-down came the moment it was allowed (plus the same
slack); AWS calls (target: the sum of the per-step targets of BENCHMARKS.md) and invocations
(target: the schedule's steps and events, and Lambda's retries of Retryable errors only: an AWS
refusal or a transient fault such as a DynamoDB timeout on a loaded machine).
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import datetime as dt
import heapq
import itertools
import json
import random
import re
import subprocess
import sys
import time
import urllib.request
import uuid
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import harness
import lambda_host
import proxy
import world

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "deploy/nightshift.toml"  # the contract config with its schedule
LIFECYCLE_TESTS = REPO / "integration/emulator/test_lifecycle.py"
TZ = zoneinfo.ZoneInfo("Asia/Tokyo")
NIGHT = dt.date(2026, 12, 7)  # a Monday: one of the schedule's days
SLOW_KEY = "AKIDNIGHTSHIFTSLOWNIGHTS"  # the function's calls, told apart from the harness's
DEADLINE_S = 15.0
PARALLEL = 4
RETRY_AFTER = (dt.timedelta(minutes=1), dt.timedelta(minutes=2))  # Lambda async: 1 min, then 2 more
BUSY_CODES = ("InvalidDBInstanceState", "InvalidDBClusterStateFault")
NIGHT_CLASS = "db.r6g.2xlarge"
BASE_CLASS = "db.r6g.large"
CHECK_EVERY = 10  # minutes: deploy/nightshift.toml's check_every
QUIET_FOR = 15
MIN_HOLD = 30
NIGHT_DESIRED = 10  # the contract's ECS desired count for the night


def local(hhmm: str, day: int | None = None) -> dt.datetime:
    """A local time of the night of NIGHT: 12:00-23:59 that evening, 00:00-11:59 the morning after."""
    h, m = map(int, hhmm.split(":"))
    if day is None:
        day = 0 if h >= 12 else 1
    return dt.datetime.combine(NIGHT + dt.timedelta(days=day), dt.time(h, m), TZ).astimezone(dt.UTC)


def iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def hm(t: dt.datetime | None) -> str:
    return t.astimezone(TZ).strftime("%H:%M") if t else "-"


def parse(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def minutes(d: dt.timedelta) -> float:
    return d.total_seconds() / 60


# -------------------------------------------------------------------------------------------------
# The nights
# -------------------------------------------------------------------------------------------------


@dataclass
class Script:
    key: str
    title: str
    batch: list[tuple[str, str]]  # busy intervals, local [start, end): JobsRunning = 4, else 0
    resize: bool = False
    serverless: bool = False
    quota: int | None = None
    backup_window: str | None = None  # UTC
    completion: list[str] = field(default_factory=list)  # local times of completion events
    actions: list[tuple[str, str, dict]] = field(default_factory=list)  # (local time, kind, args)
    drift: dict = field(default_factory=dict)  # end-state values someone else set
    hold_until: str | None = None
    jitter: bool = True  # --long moves the batch's end (and its completion event) by a few minutes

    def ending_later(self, minutes: int) -> "Script":
        def later(hhmm: str) -> str:
            return (local(hhmm) + dt.timedelta(minutes=minutes)).astimezone(TZ).strftime("%H:%M")

        return dataclasses.replace(self, batch=[(a, later(b)) for a, b in self.batch],
                                   completion=[later(c) for c in self.completion])


NIGHTS = [
    Script("ordinary", "ordinary", [("23:14", "01:52")]),
    Script("resize", "resize", [("23:20", "02:31")], resize=True, completion=["02:32"]),
    Script("serverless", "serverless", [("23:05", "00:41")], serverless=True),
    Script("deadline", "deadline, creating", [("07:24", "08:30")],
           actions=[("07:22", "step", {"step": "scale-up"})], jitter=False),
    Script("early", "batch before ready", [("23:02", "23:07")], completion=["23:08"]),
    Script("failover", "failover to ours", [("23:10", "03:04")],
           actions=[("00:47", "aws", {"kind": "failover", "reader": 0}),
                    ("03:29", "aws", {"kind": "reboot", "reader": 1})]),
    Script("backup", "backup window", [("23:15", "01:33")], backup_window="13:50-14:20"),
    Script("quota", "quota", [("23:12", "01:03")], quota=3),
    Script("twice", "back to back", [("23:03", "23:19"), ("23:50", "01:44")],
           actions=[("23:45", "step", {"step": "scale-up"})], completion=["23:20"], jitter=False),
    Script("hold", "hold", [("23:10", "05:12")], hold_until="07:50",
           actions=[("02:10", "aws", {"kind": "desired", "count": 14}),
                    ("02:10", "aws", {"kind": "scalable-target", "min": 12, "max": 20}),
                    ("04:00", "hold", {"until": "07:50"})],
           drift={"desired": 14, "scalable": [(12, 20)]}),
]


class SlowWorld(world.World):
    """A world of world.py with the contract config's real timing and the night's variations."""

    # The slow nights measure DocumentDB and ECS at AWS's pace: no worker kinds.
    workers = False

    def __init__(self, name: str, table: str, script: Script) -> None:
        super().__init__(name, table)
        self.script = script

    def config_block(self) -> str:
        text = CONFIG.read_text()
        scenario = text[text.index("[[scenario]]"):]
        edits = [
            ('name = "nightly-batch"', f'name = "{self.name}"'),
            ('cluster = "batch"', f'cluster = "{self.ecs_cluster}"'),
            ('service = "worker"', f'service = "{self.ecs_service}"'),
            ('cluster = "batch-db"', f'cluster = "{self.docdb_cluster}"'),
            ('dimensions = { Job = "nightly" }', f'dimensions = {{ Job = "{self.job}" }}'),
        ]
        if self.script.resize:
            edits.append(('# resize = "db.r6g.2xlarge"', f'resize = "{NIGHT_CLASS}"'))
        if self.script.serverless:
            edits += [('replicas = 3', 'replicas = 1\n  serverless_min = 16'),
                      ('instance_class = "db.r6g.large"', 'instance_class = "db.serverless"')]
        for old, new in edits:
            assert old in scenario, f"deploy/nightshift.toml changed: {old!r} not found"
            scenario = scenario.replace(old, new, 1)
        return scenario

    def create(self, aws: world.Aws) -> None:
        extra = {"ServerlessV2ScalingConfiguration": {"MinCapacity": 2.0, "MaxCapacity": 64.0}} if self.script.serverless else {}
        world.once(aws.rds.create_db_cluster, ("DBClusterAlreadyExistsFault",), DBClusterIdentifier=self.docdb_cluster,
                   Engine="docdb", MasterUsername="nightshift", MasterUserPassword="nightshift-test-password", **extra)
        world.once(aws.rds.create_db_instance, ("DBInstanceAlreadyExists",), DBInstanceIdentifier=self.writer_id,
                   DBClusterIdentifier=self.docdb_cluster, Engine="docdb",
                   DBInstanceClass="db.serverless" if self.script.serverless else BASE_CLASS)
        world.once(aws.ecs.create_cluster, clusterName=self.ecs_cluster)
        td = world.once(aws.ecs.register_task_definition, family=self.ecs_service, containerDefinitions=[
            {"name": "app", "image": "public.ecr.aws/docker/library/busybox:latest", "memory": 128}
        ])["taskDefinition"]["taskDefinitionArn"]
        world.once(aws.ecs.create_service, ("InvalidParameterException",), cluster=self.ecs_cluster,
                   serviceName=self.ecs_service, taskDefinition=td, desiredCount=world.BASELINE_DESIRED)
        world.once(aws.aas.register_scalable_target, ServiceNamespace="ecs", ResourceId=self.resource_id,
                   ScalableDimension="ecs:service:DesiredCount", MinCapacity=world.BASELINE_MIN,
                   MaxCapacity=world.BASELINE_MAX)

    @property
    def writer_id(self) -> str:
        return f"{self.docdb_cluster}-writer"

    def busy_at(self, minute: dt.datetime) -> bool:
        return any(local(a) <= minute < local(b) for a, b in self.script.batch)

    @world.guarded
    def put_batch(self, aws: world.Aws, start: dt.datetime, end: dt.datetime) -> None:
        """Batch/JobsRunning once a minute over the night: 4 while busy, 0 otherwise."""
        data, t = [], start
        while t <= end:
            data.append({"MetricName": "JobsRunning", "Dimensions": [{"Name": "Job", "Value": self.job}],
                         "Timestamp": t, "Value": 4.0 if self.busy_at(t) else 0.0})
            t += dt.timedelta(minutes=1)
        for i in range(0, len(data), 500):
            aws.cw.put_metric_data(Namespace="Batch", MetricData=data[i:i + 500])

    @world.guarded
    def cluster(self, aws: world.Aws) -> dict:
        return aws.rds.describe_db_clusters(DBClusterIdentifier=self.docdb_cluster)["DBClusters"][0]

    def step_command(self, step: str, at: dt.datetime, scheduled: bool, ident: str | None = None) -> bytes:
        body: dict = {"scenario": self.name, "step": step, "now": iso(at)}
        if scheduled:
            body["scheduled_time"] = iso(at)
        if ident:
            body["id"] = ident
        return json.dumps(body).encode()

    def completion_event(self, at: dt.datetime) -> tuple[bytes, str]:
        ident = str(uuid.uuid4())
        return json.dumps({
            "version": "0", "id": ident, "detail-type": "nightshift step", "source": "nightshift",
            "account": "123456789012", "time": iso(at), "region": "us-east-1", "resources": [],
            "detail": {"scenario": self.name, "step": "check", "now": iso(at)},
        }).encode(), ident


def scheduled_steps(ctx: harness.Ctx, config: Path) -> list[tuple[dt.datetime, str, str]]:
    """(time, step, schedule name) of every EventBridge Scheduler schedule nightshift's template
    makes for the config, for the night of NIGHT."""
    out = ctx.cli.run("template", "--config", str(config), "--image-uri",
                      "123456789012.dkr.ecr.us-east-1.amazonaws.com/nightshift:slow", "--output", "json")
    steps = []
    for name, res in json.loads(out)["Resources"].items():
        if res["Type"] != "AWS::Scheduler::Schedule":
            continue
        props = res["Properties"]
        # A night's checks share a cron per run of hours with the same minutes
        # (`cron(0/10 0-6 ? * TUE-SAT *)`): every (hour, minute) it names is one firing.
        m = re.fullmatch(r"cron\((\S+) (\S+) \? \* \S+ \*\)", props["ScheduleExpression"])
        assert m and props["ScheduleExpressionTimezone"] == "Asia/Tokyo", props
        step = json.loads(props["Target"]["Input"])["step"]
        for hour in cron_field(m.group(2), 24):
            for minute in cron_field(m.group(1), 60):
                steps.append((local(f"{hour:02d}:{minute:02d}"), step, name))
    return sorted(steps)


def cron_field(field: str, size: int) -> list[int]:
    """The values a Scheduler cron's minutes or hours field names: `*`, `a`, `a-b`, `a/step`,
    `a-b/step` and comma lists of them."""
    values: set[int] = set()
    for part in field.split(","):
        base, _, step = part.partition("/")
        if base == "*":
            lo, hi = 0, size - 1
        elif "-" in base:
            lo, hi = map(int, base.split("-"))
        else:
            lo = int(base)
            hi = size - 1 if step else lo
        values.update(range(lo, hi + 1, int(step) if step else 1))
    return sorted(values)


# -------------------------------------------------------------------------------------------------
# Playing a night
# -------------------------------------------------------------------------------------------------


@dataclass
class Invocation:
    at: dt.datetime
    label: str
    step: str
    key: str
    attempt: int
    kind: str  # scheduled | completion | manual
    answer: lambda_host.Answer | None = None
    records: list[proxy.Record] = field(default_factory=list)
    writers_after: int = 1
    readers_after: int = 0

    @property
    def body(self) -> dict:
        return self.answer.body if self.answer and self.answer.kind == "response" else {}

    @property
    def outcome(self) -> str:
        return self.answer.outcome if self.answer else "-"


@dataclass
class Night:
    script: Script
    seed: int
    world: SlowWorld
    invocations: list[Invocation] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    lifecycle: dict = field(default_factory=dict)
    final: dict = field(default_factory=dict)
    view: dict = field(default_factory=dict)
    scheduled: int = 0
    events: int = 0
    panics: list[str] = field(default_factory=list)
    runs: list[dict] = field(default_factory=list)  # figures per run
    show: str = ""


class Emulator:
    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def post(self, path: str, doc: dict) -> dict:
        req = urllib.request.Request(self.url + path, json.dumps(doc).encode(), {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as answer:
            return json.loads(answer.read())

    def get(self, path: str) -> dict:
        with urllib.request.urlopen(self.url + path, timeout=60) as answer:
            return json.loads(answer.read())


async def play(ctx: harness.Ctx, table: str, script: Script, seed: int) -> Night:
    w = SlowWorld(f"slow{world.short_id()}", table, script)
    night = Night(script, seed, w)
    emu = Emulator(ctx.emulator)
    logdir = ctx.workdir / "slow" / f"{script.key}-{seed}-{w.name}"
    logdir.mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread(w.create, ctx.aws)
    config = world.config_file(logdir / "nightshift.toml", table, [w])
    schedule = await asyncio.to_thread(scheduled_steps, ctx, config)
    start = schedule[0][0] - dt.timedelta(minutes=30)
    await asyncio.to_thread(w.put_batch, ctx.aws, start - dt.timedelta(minutes=30), schedule[-1][0] + dt.timedelta(hours=1))
    registration = {"world": w.name, "now": iso(start), "docdb": [w.docdb_cluster], "ecs": [[w.ecs_cluster, w.ecs_service]],
                    "seed": f"{script.key}/{seed}", "quota": script.quota, "backup_window": script.backup_window}
    await asyncio.to_thread(emu.post, "/nightshift-api/lifecycle", registration)

    px = proxy.Proxy(ctx.emulator)
    px.faults_enabled = False
    fleet = harness.Fleet(ctx, px, config, table, logdir, {"AWS_ACCESS_KEY_ID": SLOW_KEY})
    fn = await fleet.spawn()

    # The night's queue: (time, order, item); world events before deliveries at one minute.
    queue: list = []
    order = itertools.count()
    for at, kind, args in script.actions:
        if kind == "step":  # the on-call's invoke: a step command with its own `id`
            heapq.heappush(queue, (local(at), next(order), ("manual", args["step"])))
        else:
            heapq.heappush(queue, (local(at), next(order), ("action", kind, args)))
    for at in script.completion:
        heapq.heappush(queue, (local(at), next(order), ("completion",)))
        night.events += 1
    for at, step, name in schedule:
        heapq.heappush(queue, (at, next(order), ("scheduled", step, name)))
        night.scheduled += 1
    night.events += sum(1 for _, kind, _ in script.actions if kind == "step")
    clock = start
    try:
        while queue:
            at, _, item = heapq.heappop(queue)
            if at > clock:
                await asyncio.to_thread(emu.post, "/nightshift-api/clock", {"world": w.name, "now": iso(at)})
                clock = at
            if item[0] == "action":
                await asyncio.to_thread(act, ctx, emu, night, at, item[1], item[2], config)
                continue
            if item[0] == "retry":
                inv = item[1]
            elif item[0] == "completion":
                payload, ident = w.completion_event(at)
                inv = Invocation(at, f"completion {hm(at)}", "check", ident, 1, "completion")
                inv.payload, inv.request_id = payload, str(uuid.uuid4())  # type: ignore[attr-defined]
            elif item[0] == "manual":
                ident = f"manual-{uuid.uuid4()}"
                inv = Invocation(at, f"manual {item[1]} {hm(at)}", item[1], ident, 1, "manual")
                inv.payload, inv.request_id = w.step_command(item[1], at, False, ident), str(uuid.uuid4())  # type: ignore[attr-defined]
            elif item[0] == "scheduled":
                step = item[1]
                inv = Invocation(at, f"{item[2]}", step, f"{w.name}/{step}/{iso(at)}", 1, "scheduled")
                inv.payload, inv.request_id = w.step_command(step, at, True), str(uuid.uuid4())  # type: ignore[attr-defined]
            else:
                raise AssertionError(item)
            if fn.killed or (fn.proc and fn.proc.returncode is not None):
                fn = await fleet.spawn()
            # Lambda retries a failed attempt a minute later, when its lease (the invocation's
            # deadline, on the wall clock) has expired: wait for that here.
            await asyncio.sleep(max(0.0, getattr(inv, "not_before", 0.0) - time.time()))
            before = len(px.records)
            handed, inv.answer = await fn.invoke(inv.payload, DEADLINE_S, inv.request_id)  # type: ignore[attr-defined]
            inv.records = px.records[before:]
            inv.at = at
            cluster = await asyncio.to_thread(w.cluster, ctx.aws)
            inv.writers_after = sum(1 for m in cluster["DBClusterMembers"] if m["IsClusterWriter"])
            inv.readers_after = len(cluster["DBClusterMembers"]) - inv.writers_after
            night.invocations.append(inv)
            if inv.answer.kind != "response":
                if inv.attempt <= len(RETRY_AFTER):
                    retry = dataclasses.replace(inv, attempt=inv.attempt + 1, answer=None, records=[])
                    retry.payload, retry.request_id = inv.payload, inv.request_id  # type: ignore[attr-defined]
                    retry.not_before = handed.deadline_ms / 1000 + 0.3  # type: ignore[attr-defined]
                    heapq.heappush(queue, (at + RETRY_AFTER[inv.attempt - 1], next(order), ("retry", retry)))
                else:
                    night.dropped.append(f"{inv.label} ({inv.answer.error_message[:160]})")
        # Let AWS finish what it was doing (deletions take minutes), then look.
        clock += dt.timedelta(minutes=30)
        await asyncio.to_thread(emu.post, "/nightshift-api/clock", {"world": w.name, "now": iso(clock)})
    finally:
        await fleet.stop()
        await px.close()
        px.dump(logdir / "wire.jsonl")
    night.panics = fleet.panics()
    with open(logdir / "invocations.txt", "w") as out:
        for inv in night.invocations:
            answer = inv.answer or lambda_host.Answer("lost")
            why = inv.body.get("reason") or answer.error_message
            out.write(f"{hm(inv.at)} {inv.label} #{inv.attempt} {answer.outcome} run={inv.body.get('run')} "
                      f"calls={len(inv.records)} writers={inv.writers_after}: {why}\n")
    night.lifecycle = await asyncio.to_thread(emu.get, f"/nightshift-api/lifecycle?world={w.name}")
    night.final = await asyncio.to_thread(end_state, ctx, w)
    night.view = await asyncio.to_thread(w.table_view, ctx.aws)
    (logdir / "lifecycle.json").write_text(json.dumps(night.lifecycle, indent=1))
    judge(night)
    return night


def act(ctx: harness.Ctx, emu: Emulator, night: Night, at: dt.datetime, kind: str, args: dict, config: Path) -> None:
    """A world event at `at`: AWS's or someone else's, or the on-call's."""
    w = night.world
    if kind == "aws":
        doc = {"world": w.name, "kind": args["kind"]}
        if "reader" in args:
            ours = sorted(m["DBInstanceIdentifier"] for m in w.cluster(ctx.aws)["DBClusterMembers"]
                          if m["DBInstanceIdentifier"] != w.writer_id)
            target = ours[args["reader"]]
            doc.update({"cluster": w.docdb_cluster, "target": target} if args["kind"] == "failover" else {"instance": target})
        else:
            doc.update({"cluster": w.ecs_cluster, "service": w.ecs_service})
            doc.update({k: v for k, v in args.items() if k != "kind"})
        emu.post("/nightshift-api/lifecycle/event", doc)
    elif kind == "hold":
        ctx.cli.run("hold", w.name, "--until", iso(local(args["until"])), "--now", iso(at), "--reason",
                    "rerun of the failed jobs", "--by", "on-call", "--table", w.table)
    else:
        raise AssertionError(kind)


@world.guarded
def end_state(ctx: harness.Ctx, w: SlowWorld) -> dict:
    aws = ctx.aws
    cluster = aws.rds.describe_db_clusters(DBClusterIdentifier=w.docdb_cluster)["DBClusters"][0]
    instances = aws.rds.describe_db_instances(Filters=[{"Name": "db-cluster-id", "Values": [w.docdb_cluster]}])["DBInstances"]
    svc = aws.ecs.describe_services(cluster=w.ecs_cluster, services=[w.ecs_service])["services"][0]
    targets = aws.aas.describe_scalable_targets(ServiceNamespace="ecs", ResourceIds=[w.resource_id])["ScalableTargets"]
    scaling = cluster.get("ServerlessV2ScalingConfiguration") or {}
    return {
        "members": sorted((m["DBInstanceIdentifier"], bool(m["IsClusterWriter"])) for m in cluster["DBClusterMembers"]),
        "classes": sorted((i["DBInstanceIdentifier"], i["DBInstanceClass"], i["DBInstanceStatus"]) for i in instances),
        "desired": svc["desiredCount"],
        "running": svc["runningCount"],
        "scalable": [(t["MinCapacity"], t["MaxCapacity"]) for t in targets],
        "serverless_min": scaling.get("MinCapacity"),
    }


# -------------------------------------------------------------------------------------------------
# Judging a night
# -------------------------------------------------------------------------------------------------


def accepted_changes(records: list[proxy.Record]) -> list[tuple[str, Any, str]]:
    """(resource, change, SDK invocation id) of every mutating call AWS accepted, in order."""
    out = []
    for r in records:
        if not r.call.mutating or r.call.operation == "PutEvents" or not 200 <= (r.upstream_status or 0) < 300:
            continue
        p, op = r.call.params, r.call.operation
        if op == "UpdateService":
            key, change = f"{p.get('cluster')}/{p.get('service')}", ("desired", p.get("desiredCount"))
        elif op == "RegisterScalableTarget":
            key, change = str(p.get("ResourceId")), ("bounds", p.get("MinCapacity"), p.get("MaxCapacity"))
        elif op == "ModifyDBInstance":
            key, change = str(p.get("DBInstanceIdentifier")), ("class", p.get("DBInstanceClass"))
        elif op == "FailoverDBCluster":
            key, change = str(p.get("DBClusterIdentifier")), ("failover", p.get("TargetDBInstanceIdentifier"))
        elif op == "ModifyDBCluster":
            key, change = str(p.get("DBClusterIdentifier")), ("min", p.get("ServerlessV2ScalingConfiguration.MinCapacity"))
        else:
            key, change = str(p.get("DBInstanceIdentifier")), (op,)
        out.append((key, change, r.invocation_id))
    return out


def is_down(change: tuple, w: SlowWorld) -> bool:
    """Is this accepted change one that restores the baseline?"""
    kind = change[0]
    return (
        (kind == "desired" and change[1] == world.BASELINE_DESIRED)
        or (kind == "bounds" and change[1] == world.BASELINE_MIN)
        or (kind == "class" and change[1] == BASE_CLASS)
        or (kind == "min" and float(change[1] or 0) == 2.0)
        or kind == "DeleteDBInstance"
    )


def doubles(records: list[proxy.Record]) -> list[str]:
    """The same change accepted twice in a row for one resource (an SDK re-send of one operation
    after a lost answer is one call, not two)."""
    last: dict[str, tuple] = {}
    seen_ops: set[str] = set()
    found = []
    for key, change, op_id in accepted_changes(records):
        if op_id in seen_ops:
            continue
        seen_ops.add(op_id)
        if last.get(key) == change:
            found.append(f"{key}: {change} twice")
        last[key] = change
    return found


def judge(night: Night) -> None:
    w, bad = night.world, night.violations
    bad += night.panics
    wanted = 1 if night.script.serverless else 3
    short_ok = any(c["outcome"] in ("InstanceQuotaExceeded", "InsufficientDBInstanceCapacity")
                   for c in night.lifecycle.get("calls", []) if c["by"] == SLOW_KEY)
    for inv in night.invocations:
        if inv.writers_after != 1:
            bad.append(f"after {inv.label} ({hm(inv.at)}): {inv.writers_after} writers")
        if inv.answer and inv.answer.kind == "lost":
            bad.append(f"{inv.label} ({hm(inv.at)}) got no answer: {inv.answer.error_message}")
        elif inv.answer and inv.answer.kind == "error" and not inv.answer.error_type.startswith("Retryable"):
            bad.append(f"{inv.label} ({hm(inv.at)}) failed for good: {inv.answer.error_message[:200]}")
        # "Ready" means the night's readers exist, unless AWS refused them for quota or capacity.
        if inv.body.get("reason", "").startswith("ready") and inv.readers_after < wanted and not short_ok:
            bad.append(f"{inv.label} ({hm(inv.at)}) reported the capacity ready with {inv.readers_after} of {wanted} readers")
    # What nightshift touched, as AWS saw it (the lifecycle's log of every mutating call).
    calls = [c for c in night.lifecycle.get("calls", []) if c["by"] == SLOW_KEY]
    created = {c["resource"] for c in calls if c["op"] == "CreateDBInstance" and c["outcome"] == "accepted"}
    for c in calls:
        if c["outcome"] != "accepted" or c["op"] not in ("DeleteDBInstance", "ModifyDBInstance", "RebootDBInstance"):
            continue
        mine = c["resource"] in created
        if c["op"] != "ModifyDBInstance" and not mine:
            bad.append(f"{c['op']} of {c['resource']} at {hm(parse(c['at']))}: not an instance nightshift created")
        if c["op"] == "ModifyDBInstance" and not mine and not night.script.resize:
            bad.append(f"ModifyDBInstance of {c['resource']} at {hm(parse(c['at']))}: not nightshift's, and the config resizes nothing")
        if c.get("writer") == c["resource"]:
            bad.append(f"{c['op']} of {c['resource']} at {hm(parse(c['at']))} while it was the writer")
    bad += [f"double action: {d}" for d in doubles([r for inv in night.invocations for r in inv.records])]
    # Nothing stuck.
    stuck = [d for d in night.view["dedup"] if d["status"] == "IN_PROGRESS"]
    if stuck:
        bad.append(f"steps left IN_PROGRESS: {stuck}")
    if int(night.view["state"].get("scaling_until_ms", 0) or 0) > time.time() * 1000:
        bad.append("the scaling lease is still held")
    open_runs = [r["run"] for r in night.view["runs"] if r["status"] != "closed"]
    if open_runs:
        bad.append(f"run(s) left open: {open_runs}")
    # The end: the baseline, or what someone else set.
    f, drift = night.final, night.script.drift
    writer_class = "db.serverless" if night.script.serverless else BASE_CLASS
    want = {
        "members": [(w.writer_id, True)],
        "classes": [(w.writer_id, writer_class, "available")],
        "desired": drift.get("desired", world.BASELINE_DESIRED),
        "scalable": drift.get("scalable", [(world.BASELINE_MIN, world.BASELINE_MAX)]),
        "serverless_min": 2.0 if night.script.serverless else None,
    }
    for k, v in want.items():
        if f.get(k) != v:
            bad.append(f"at the end {k} is {f.get(k)}, not {v}")
    if f.get("running") != want["desired"]:
        bad.append(f"at the end {f.get('running')} tasks run, not {want['desired']}")


# -------------------------------------------------------------------------------------------------
# The night's figures
# -------------------------------------------------------------------------------------------------


def intervals_union(spans: list[tuple[dt.datetime, dt.datetime]], lo: dt.datetime, hi: dt.datetime) -> float:
    """Minutes of [lo, hi] covered by any span."""
    clipped = sorted((max(a, lo), min(b, hi)) for a, b in spans if min(b, hi) > max(a, lo))
    total, end = 0.0, lo
    for a, b in clipped:
        a = max(a, end)
        if b > a:
            total += minutes(b - a)
            end = b
    return total


def overlap(a: dt.datetime, b: dt.datetime, spans: list[tuple[dt.datetime, dt.datetime]]) -> float:
    return sum(minutes(min(b, y) - max(a, x)) for x, y in spans if min(b, y) > max(a, x))


def figures(night: Night) -> None:
    w, script = night.world, night.script
    timeline = night.lifecycle.get("timeline", [])
    calls = [c for c in night.lifecycle.get("calls", []) if c["by"] == SLOW_KEY]
    runs = sorted({inv.body.get("run") for inv in night.invocations if inv.body.get("run")})
    # Per instance: its status history [(at, status, class)].
    history: dict[str, list[tuple[dt.datetime, str, str | None]]] = collections.defaultdict(list)
    for e in timeline:
        if e["kind"] == "instance":
            history[e["instance"]].append((parse(e["at"]), e["status"], e.get("instance_class")))
    # Tasks above the baseline that nightshift asked for (not those someone else added on top).
    tasks = [(parse(e["at"]), min(e["running"] + e["pending"], NIGHT_DESIRED)) for e in timeline if e["kind"] == "tasks"]
    end_of_world = parse(night.lifecycle["now"])

    for run in runs:
        invs = [inv for inv in night.invocations if inv.body.get("run") == run]
        # The scale-up that opened it (one that failed, retried by Lambda, answered no run id).
        first = min(inv.at for inv in invs)
        opener = max((inv for inv in night.invocations if inv.step == "scale-up" and inv.at <= first),
                     key=lambda inv: inv.at, default=None)
        # Its first attempt (Lambda's retries carry the same key).
        opened = min((inv.at for inv in night.invocations if opener and inv.key == opener.key), default=first)
        closed = next((inv.at for inv in invs if "run closed" in inv.body.get("reason", "")), None)
        next_open = min((min(i.at for i in night.invocations if i.body.get("run") == r) for r in runs if r > run),
                        default=end_of_world)
        span_end = closed or end_of_world
        batch = [(local(a), local(b)) for a, b in script.batch if local(b) > opened and local(a) < span_end]
        first_busy = min((a for a, _ in batch), default=None)
        # Ready: what nightshift noticed, and how long AWS itself was busy with what it asked.
        noticed = next((inv.at for inv in invs if inv.body.get("reason", "").startswith("ready")), None)
        created = {c["resource"] for c in calls if c["op"] == "CreateDBInstance" and c["outcome"] == "accepted"
                   and opened <= parse(c["at"]) < span_end}
        spans = []
        for ident, hist in history.items():
            for (at, status, _), nxt in zip(hist, hist[1:] + [(end_of_world, "", None)]):
                if status in ("creating", "modifying"):
                    spans.append((at, nxt[0]))
        for c in calls:
            if c["op"] == "FailoverDBCluster" and c["outcome"] == "accepted":
                at = parse(c["at"])
                done = next((parse(e["at"]) for e in timeline if e["kind"] == "writer" and parse(e["at"]) >= at), at)
                spans.append((at, done))
        # A cluster that is not available (backing up, failing over) holds nightshift's calls back.
        busy_from = None
        for e in (e for e in timeline if e["kind"] == "cluster"):
            if e["status"] != "available" and busy_from is None:
                busy_from = parse(e["at"])
            elif e["status"] == "available" and busy_from is not None:
                spans.append((busy_from, parse(e["at"])))
                busy_from = None
        pending_from = None
        for at, count in [(parse(e["at"]), e["pending"]) for e in timeline if e["kind"] == "tasks"]:
            if count and pending_from is None:
                pending_from = at
            elif not count and pending_from is not None:
                spans.append((pending_from, at))
                pending_from = None
        aws_part = intervals_union(spans, opened, noticed) if noticed else None
        lead = minutes(noticed - opened) if noticed else None
        overhead = lead - aws_part if noticed else None

        # Idle after the batch: the last busy datapoint before the first call that restores.
        down_at = next((inv.at for inv in invs if inv.step != "scale-up" and any(is_down(ch, w) for _, ch, _ in accepted_changes(inv.records))), None)
        last_busy = max((min(b, down_at or span_end) - dt.timedelta(minutes=1) for a, b in batch if a < (down_at or span_end)), default=None)
        still_busy = down_at is not None and w.busy_at(down_at)
        allowed, why = None, ""
        if last_busy is not None:
            allowed, why = last_busy + dt.timedelta(minutes=QUIET_FOR), "quiet_for"
            if opened + dt.timedelta(minutes=MIN_HOLD) > allowed:
                allowed, why = opened + dt.timedelta(minutes=MIN_HOLD), "min_hold"
            deadline = dt.datetime.combine(opened.astimezone(TZ).date(), dt.time(7, 30), TZ).astimezone(dt.UTC)
            if deadline <= opened:
                deadline += dt.timedelta(days=1)
            if deadline < allowed:
                allowed, why = deadline, "deadline"
            # A hold beats the deadline.
            if script.hold_until and local(script.hold_until) > allowed:
                allowed, why = local(script.hold_until), "hold"
        # A completion event after the batch's end makes the check come at once, not with the schedule.
        if last_busy is not None and any(last_busy <= local(c) <= (down_at or span_end) for c in script.completion):
            slack = 1.0
        else:
            slack = float(CHECK_EVERY)
        idle = minutes(down_at - last_busy) if down_at and last_busy and not still_busy else None
        floor = minutes(allowed - last_busy) if allowed and last_busy else None

        # Capacity above the baseline, billed, and the part of it outside the batch.
        billed: list[tuple[dt.datetime, dt.datetime]] = []
        for ident, hist in history.items():
            ours = ident in created
            for (at, status, klass), nxt in zip(hist, hist[1:] + [(end_of_world, "", None)]):
                end = min(nxt[0], next_open)
                if at >= next_open or end <= opened:
                    continue
                # DocumentDB bills every status but these (monitoring_docdb-instance_status.html).
                if status in ("creating", "deleting", "deleted", "failed"):
                    continue
                if ours or (klass == NIGHT_CLASS and ident not in created):
                    billed.append((max(at, opened), end))
        inst_h = sum(minutes(b - a) for a, b in billed) / 60
        # Minutes the readers nightshift added spent `creating` (not billed): `nightshift report`
        # counts a reader from its create call, so its figure exceeds the billed one by these.
        creating_h = sum(minutes(min(nxt[0], next_open) - max(at, opened))
                         for ident, hist in history.items() if ident in created
                         for (at, status, _), nxt in zip(hist, hist[1:] + [(end_of_world, "", None)])
                         if status == "creating" and min(nxt[0], next_open) > max(at, opened)) / 60
        inst_busy_h = sum(overlap(a, b, batch) for a, b in billed) / 60
        inst_at_down = sum(1 for a, b in billed if down_at and a < down_at <= b)
        task_spans = []
        for (at, count), nxt in zip(tasks, tasks[1:] + [(end_of_world, 0)]):
            if count > world.BASELINE_DESIRED and nxt[0] > opened and at < next_open:
                task_spans += [(max(at, opened), min(nxt[0], next_open))] * (count - world.BASELINE_DESIRED)
        task_h = sum(minutes(b - a) for a, b in task_spans) / 60
        task_busy_h = sum(overlap(a, b, batch) for a, b in task_spans) / 60
        tasks_at_down = sum(1 for a, b in task_spans if down_at and a < down_at <= b)
        late = max(0.0, minutes(down_at - allowed)) / 60 if down_at and allowed else 0.0
        dcu_h = None
        if script.serverless:
            ups = [parse(c["at"]) for c in calls if c["op"] == "ModifyDBCluster" and c["outcome"] == "accepted"]
            if len(ups) >= 2:
                dcu_h = (16 - 2) * minutes(ups[-1] - ups[0]) / 60
        night.runs.append({
            "run": run, "opened": opened, "closed": closed, "first_busy": first_busy,
            "noticed": noticed, "lead": lead, "aws_part": aws_part, "overhead": overhead,
            "last_busy": last_busy, "down_at": down_at, "idle": idle, "floor": floor, "why": why, "slack": slack,
            "still_busy": still_busy, "before_ready": noticed is None and down_at is not None,
            "inst_h": inst_h, "inst_idle_h": inst_h - inst_busy_h, "inst_oracle_h": inst_h - inst_at_down * late,
            "inst_n": inst_at_down, "creating_h": creating_h, "task_h": task_h, "task_idle_h": task_h - task_busy_h,
            "task_oracle_h": task_h - tasks_at_down * late, "task_n": tasks_at_down, "dcu_h": dcu_h,
            "readers": len(created),
        })


def report_cross_check(ctx: harness.Ctx, nights: list[Night]) -> str:
    """The same nights as `nightshift report` counts them from the run history alone (no timeline):
    instance-hours of the readers it added and of resized instances, task-hours, DCU-hours, against
    the figures above from the emulator's timeline. The report counts a reader from its create
    call, the timeline bills it from `available`: the report's figure less the minutes the readers
    spent `creating` is the billed one."""
    rows = []
    for n in nights:
        try:
            out = ctx.cli.run("report", "--scenario", n.world.name, "--since", "3d", "--now", n.lifecycle["now"],
                              "--table", n.world.table, "--output", "json")
        except RuntimeError as e:
            rows.append([n.script.title, f"report failed: {e}"] + [""] * 8)
            continue
        counted = {night["run"]: night for night in json.loads(out)["nights"]}
        for k, r in enumerate(n.runs):
            name = n.script.title + (f" ({k + 1})" if len(n.runs) > 1 else "")
            night = counted.get(r["run"])
            if night is None:
                rows.append([name, "not in the report"] + [""] * 8)
                continue
            held = night["held"]
            inst = sum(held["reader_hours"].values()) + sum(x["hours"] for x in held.get("resized_hours", []))
            rows.append([name, f"{inst:.2f}", f"{r['creating_h']:.2f}", f"{inst - r['creating_h']:.2f}", f"{r['inst_h']:.2f}",
                         f"{held['task_hours']:.2f}", f"{r['task_h']:.2f}", f"{held['dcu_hours']:.1f}", f1(r["dcu_h"]),
                         night.get("basis", "-")])
    return harness.table(
        "The night's capacity as `nightshift report` counts it from the run history (create call to delete call; "
        "resized instances' hours at the night class; tasks from the raise to the restore; DCUs per serverless "
        "instance) against the emulator's timeline above (billed: from `available`)",
        ["night", "report instance-h", "readers creating, h", "report less creating", "timeline instance-h",
         "report task-h", "timeline task-h", "report DCU-h", "timeline DCU-h", "basis"], rows)


def call_target(inv: Invocation, w: SlowWorld, resize: bool) -> int:
    """The per-step target of BENCHMARKS.md ("AWS calls per event") for what this invocation did;
    a resizing night reads every instance's tags (up to 5 here) and makes up to 2 more rounds."""
    extra = 5 + 4 if resize else 0
    body = inv.body
    changes = accepted_changes(inv.records)
    if inv.step == "check" and not body.get("run"):
        return 2
    if inv.step == "scale-up":
        return 16 + extra
    if any(is_down(ch, w) for _, ch, _ in changes):
        # 18, and the closing step's Query of the night's events (its hours and cost).
        return 19 + extra
    return 10 + extra


def verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("PASS" if ok else "MISS")


def f1(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f}"


# -------------------------------------------------------------------------------------------------
# The part
# -------------------------------------------------------------------------------------------------


async def _caught(night: Any) -> Night | str:
    try:
        return await night
    except Exception:  # noqa: BLE001 - one broken night is reported, the others still play
        import traceback

        return traceback.format_exc()


def lifecycle_tests() -> tuple[str, list[str]]:
    done = subprocess.run([sys.executable, "-m", "unittest", str(LIFECYCLE_TESTS)], capture_output=True, text=True, timeout=300)
    summary = [line for line in done.stderr.splitlines() if line.startswith("Ran ")]
    text = f"{summary[0] if summary else 'no tests ran'}: {'OK' if done.returncode == 0 else 'FAILED'}"
    return text, ([] if done.returncode == 0 else [f"lifecycle mode tests failed:\n{done.stderr[-3000:]}"])


async def run(ctx: harness.Ctx, seeds: int, only: list[str] | None = None) -> tuple[str, list[str]]:
    started = time.monotonic()
    tested, violations = await asyncio.to_thread(lifecycle_tests)
    # A table per night: moto's DynamoDB walks a table's every item on a Query.
    scripts = [s for s in NIGHTS if not only or s.key in only]
    # The first seed plays the nights as written; further seeds also end each batch 1-9 minutes
    # later, so that the idle figures see other minutes of the check interval.
    plays = [play(ctx, ctx.new_table("slow"),
                  script.ending_later(random.Random(ctx.seed + k).randint(1, 9)) if k and script.jitter else script,
                  ctx.seed + k)
             for k in range(seeds) for script in scripts]
    played = await harness.gather_limited(PARALLEL, [_caught(p) for p in plays])
    violations += [f"a night's harness failed: {e}" for e in played if isinstance(e, str)]
    nights: list[Night] = [n for n in played if isinstance(n, Night)]
    for n in nights:
        figures(n)
        violations += [f"{n.script.title} (seed {n.seed}, {n.world.name}): {v}" for v in n.violations]

    rows = []
    for n in nights:
        retries = sum(1 for i in n.invocations if i.attempt > 1)
        refusals = collections.Counter(c["outcome"] for c in n.lifecycle.get("calls", []) if c["by"] == SLOW_KEY and c["outcome"] != "accepted")
        outcomes = collections.Counter(i.outcome for i in n.invocations)
        transient = sum(1 for i in n.invocations if i.answer and i.answer.kind == "error"
                        and not any(c in i.answer.error_message for c in BUSY_CODES))
        rows.append([n.script.title, n.seed, f"{n.scheduled}+{n.events}+{retries}", len(n.dropped), harness.counter_text(outcomes),
                     harness.counter_text(refusals), transient, sum(1 for i in n.invocations if i.writers_after != 1), len(n.violations),
                     "ok" if not n.violations else "VIOLATED"])
    head = ["night", "seed", "invocations (schedule+events+retries)", "dropped after 3 attempts", "answers",
            "AWS refusals met", "other errors (retried)", "steps with writers != 1", "violations", "invariants"]
    text = harness.table(
        f"Part 6: slow nights ({len(nights)} nights of the contract's schedule on the emulator's lifecycle mode; "
        f"lifecycle mode tests: {tested})", head, rows)

    lead_rows, cap_rows = [], []
    for n in nights:
        resize = n.script.resize
        calls = sum(len(i.records) for i in n.invocations)
        call_goal = sum(call_target(i, n.world, resize) for i in n.invocations)
        retries_ok = all(i.answer.error_type.startswith("Retryable")
                         for i in n.invocations if i.answer and i.answer.kind == "error")
        for k, r in enumerate(n.runs):
            name = n.script.title + (f" ({k + 1})" if len(n.runs) > 1 else "")
            lead_ok = None if r["overhead"] is None else r["overhead"] <= CHECK_EVERY
            if r["noticed"] is None and not r["before_ready"]:
                lead_ok = False
            idle_goal = None if r["floor"] is None else r["floor"] + r["slack"]
            idle_ok = None if r["idle"] is None or idle_goal is None else r["idle"] <= idle_goal + 1e-9
            noticed = "scaled down first" if r["before_ready"] else hm(r["noticed"])
            lead_rows.append([name, hm(r["opened"]), hm(r["first_busy"]), f1(r["aws_part"]), noticed, f1(r["lead"]),
                              f1(r["overhead"]), f"<= {CHECK_EVERY}", verdict(lead_ok),
                              hm(r["last_busy"]), hm(r["down_at"]), "batch still busy" if r["still_busy"] else f1(r["idle"]),
                              f"{f1(r['floor'])} ({r['why']})" if r["floor"] is not None else "-",
                              f"<= {f1(idle_goal)}" if idle_goal is not None else "-", verdict(idle_ok)])
            inst_goal = r["inst_oracle_h"] + r["inst_n"] * r["slack"] / 60
            task_goal = r["task_oracle_h"] + r["task_n"] * r["slack"] / 60
            cap_rows.append([name, r["readers"], f"{r['inst_h']:.2f}", f"{r['inst_idle_h']:.2f}", f"<= {inst_goal:.2f}",
                             verdict(r["inst_h"] <= inst_goal + 1e-6), f"{r['task_h']:.2f}", f"{r['task_idle_h']:.2f}",
                             f"<= {task_goal:.2f}", verdict(r["task_h"] <= task_goal + 1e-6),
                             f1(r["dcu_h"]), calls if k == 0 else "", f"<= {call_goal}" if k == 0 else "",
                             verdict(calls <= call_goal) if k == 0 else "", len(n.invocations) if k == 0 else "",
                             verdict(retries_ok) if k == 0 else ""])
    text += "\n\n" + harness.table(
        "The night's capacity: lead and idle (local times, minutes; AWS's part = the minutes AWS itself was busy with "
        "what nightshift asked; overhead = lead - AWS's part; idle counted from the last busy datapoint, its floor from "
        "what the config allows: quiet_for, min_hold, a hold or the deadline)",
        ["night", "scale-up", "batch from", "AWS's part", "ready noticed", "lead", "overhead", "target", "",
         "last busy", "first scale-down call", "idle after batch", "floor (why)", "target", ""], lead_rows)
    text += "\n\n" + harness.table(
        "The night's capacity: hours above the baseline (billed: creating and deleting are not), the part outside the "
        "batch, against the same config with every scale-down at the moment it was allowed plus the slack; AWS calls "
        "(target: the per-step targets of BENCHMARKS.md) and invocations (every retry after a Retryable error)",
        ["night", "readers added", "instance-h", "of them idle", "target", "", "task-h", "of them idle", "target", "",
         "DCU-h", "AWS calls", "target", "", "invocations", ""], cap_rows)
    text += "\n\n" + report_cross_check(ctx, nights)
    shown = next((n for n in nights if n.script.key == "ordinary" and n.runs), None)
    if shown:
        shown.show = ctx.cli.run("show", shown.world.name, shown.runs[0]["run"], "--table", shown.world.table)
        text += f"\n\nOne night's history in the slow world (`nightshift show {shown.world.name} {shown.runs[0]['run']}`):\n{shown.show}"
    text += f"\n(part 6: {time.monotonic() - started:.0f}s)"
    return text, violations
