"""The emulator's lifecycle mode: DocumentDB and ECS at AWS's own pace, on a virtual clock.

moto applies every change at once: an instance is `available` the moment CreateDBInstance
returns, a failover flips the writer in the same call, ECS runs every task as soon as the desired
count rises. Real AWS takes minutes and refuses changes meanwhile. This mode, off by default,
is switched on per *world*: a set of DocumentDB clusters and ECS services registered together,
with a virtual clock of their own that the test moves (to the same `now` it gives the function).
Worlds are independent, so tests running side by side on one server do not see each other.

DocumentDB (the RDS API), for the instances of a world's clusters:
  CreateDBInstance    `creating` for `create` minutes, then `available`
  ModifyDBInstance    a class change is `modifying` for `modify` minutes with
                      PendingModifiedValues.DBInstanceClass, then has the new class
  DeleteDBInstance    `deleting` for `delete` minutes, still listed and still a cluster member,
                      then gone
  FailoverDBCluster   the cluster is `failing-over` for `failover` minutes; the writer changes at
                      its end
  RebootDBInstance    `rebooting` for `reboot` minutes
  backup window       the cluster is `backing-up` during its daily window (UTC, `backup_window`)
and the refusals AWS gives in those states, with its error codes:
  InvalidDBInstanceState      ModifyDBInstance, DeleteDBInstance, RebootDBInstance on an instance
                              that is not `available` ("already being deleted" on a `deleting` one)
  InvalidDBClusterStateFault  CreateDBInstance, FailoverDBCluster, ModifyDBCluster while the
                              cluster is not `available`
  InstanceQuotaExceeded       CreateDBInstance past `quota` instances in the world
ECS, for a world's services:
  UpdateService       runningCount follows desiredCount: each added task runs `task_start`
                      minutes later (pendingCount meanwhile), each removed one stops `task_stop`
                      minutes later; the deployment's rolloutState is IN_PROGRESS until then

Events that AWS (or someone else) starts, for a test to trigger:
  failover        AWS fails the writer over to an instance (e.g. one of nightshift's readers)
  reboot          a maintenance reboot of an instance
  desired         someone else's desired count (a person, a deployment pipeline, target tracking)
  scalable-target someone else's change of the service's Application Auto Scaling bounds

Endpoints (JSON in, JSON out):
  POST /nightshift-api/lifecycle        {"world", "now", "docdb": [cluster] (any RDS-family cluster:
        DocumentDB, Aurora or Neptune, one RDS API), "ecs": [[cluster,
        service]], "timings": {name: minutes | [low, high]}, "quota", "backup_window": "HH:MM-HH:MM",
        "seed", "account", "region"}: (re)registers a world; its existing instances are available
        and its services run their desired count
  POST /nightshift-api/clock            {"world", "now"}: moves the world's clock (forward only) and
        applies every transition that fell due, each at its own due time
  POST /nightshift-api/lifecycle/event  {"world", "kind", ...}: one of the events above
  GET  /nightshift-api/lifecycle?world=W   the world's clock, its timeline (every transition and
        task count, each at its virtual time) and every mutating call it saw (with the writer and
        the instance's status at that moment, and the caller's access key)

Defaults (minutes; a pair is a range, drawn per change from the world's seed). AWS publishes no
fixed durations; the figures follow its guides and what this project measured (aws-facts.md):
  create 8-12, modify 8-12, delete 5-8: "several minutes" each; an instance is added only to an
      `available` cluster (docs.aws.amazon.com/documentdb/latest/developerguide/db-instance-life-cycle.html);
      `creating` and `deleting` are not billed, the other states are
      (docs.aws.amazon.com/documentdb/latest/developerguide/monitoring_docdb-instance_status.html)
  failover 0.5-1: "A failover to the replica instance typically takes less than 30 seconds";
      service is restored "in less than 120 seconds, and often less than 60 seconds"
      (docs.aws.amazon.com/documentdb/latest/developerguide/db-cluster-fault-tolerance.html)
  reboot 1-3: a reboot is a "momentary outage" with status `rebooting`
      (docs.aws.amazon.com/documentdb/latest/developerguide/db-instance-reboot.html)
  task_start 1-3: a Fargate task goes PROVISIONING, PENDING (image pull), RUNNING
      (docs.aws.amazon.com/AmazonECS/latest/developerguide/task-lifecycle-explanation.html)
  task_stop 0.5: SIGTERM, then SIGKILL after the 30 s default stopTimeout
      (docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ContainerDefinition.html)
  quota: none unless given (AWS's default is 40 instances per account and region,
      docs.aws.amazon.com/documentdb/latest/developerguide/limits.html)
  backup_window: none unless given (AWS picks a 30-minute window "at random from an 8-hour block
      of time for each AWS Region", API_CreateDBCluster.html, PreferredBackupWindow)
"""

from __future__ import annotations

import datetime as dt
import io
import json
import random
import re
import threading
import urllib.parse
import uuid
from dataclasses import dataclass, field
from typing import Any

from moto.applicationautoscaling.models import applicationautoscaling_backends
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ecs.models import ecs_backends
from moto.rds.models import rds_backends

LIFECYCLE_PATH = "/nightshift-api/lifecycle"
CLOCK_PATH = "/nightshift-api/clock"
EVENT_PATH = "/nightshift-api/lifecycle/event"
RDS_XMLNS = "http://rds.amazonaws.com/doc/2014-10-31/"
ECS_TARGET = "AmazonEC2ContainerServiceV20141113."

DEFAULT_TIMINGS: dict[str, tuple[float, float]] = {
    "create": (8.0, 12.0),
    "modify": (8.0, 12.0),
    "delete": (5.0, 8.0),
    "failover": (0.5, 1.0),
    "reboot": (1.0, 3.0),
    "task_start": (1.0, 3.0),
    "task_stop": (0.5, 0.5),
}


class LifecycleError(Exception):
    """A request to the lifecycle endpoints that cannot be served (400, with this message)."""


def parse_time(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise LifecycleError(f"time {text!r} has no offset: give e.g. 2026-12-07T14:00:00Z")
    return value.astimezone(dt.UTC)


def iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ").replace(".000000Z", "Z")


def _timing(value: Any, name: str) -> tuple[float, float]:
    if isinstance(value, (int, float)):
        low = high = float(value)
    elif isinstance(value, (list, tuple)) and len(value) == 2:
        low, high = float(value[0]), float(value[1])
    else:
        raise LifecycleError(f"timing {name!r} must be minutes or [low, high], not {value!r}")
    if low < 0 or high < low:
        raise LifecycleError(f"timing {name!r}: need 0 <= low <= high, got {value!r}")
    return low, high


def _window(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    m = re.fullmatch(r"(\d\d):(\d\d)-(\d\d):(\d\d)", text)
    if not m:
        raise LifecycleError(f"backup_window {text!r}: write HH:MM-HH:MM (UTC)")
    h1, m1, h2, m2 = map(int, m.groups())
    return h1 * 60 + m1, h2 * 60 + m2


@dataclass
class InstanceLife:
    cluster: str
    status: str = "available"
    until: dt.datetime | None = None  # when the current transition ends
    next_class: str | None = None  # the class a `modifying` instance gets at its end


@dataclass
class ClusterLife:
    failover_until: dt.datetime | None = None
    failover_to: str | None = None
    status: str = "available"


@dataclass
class ServiceLife:
    cluster: str
    service: str
    running: int
    starts: list[dt.datetime] = field(default_factory=list)  # pending tasks, by start time
    stops: list[dt.datetime] = field(default_factory=list)  # running tasks on their way out


class World:
    def __init__(self, doc: dict[str, Any]) -> None:
        try:
            self.name = str(doc["world"])
            self.now = parse_time(doc["now"])
        except KeyError as missing:
            raise LifecycleError(f"a world needs {missing}") from None
        self.account = str(doc.get("account") or DEFAULT_ACCOUNT_ID)
        self.region = str(doc.get("region") or "us-east-1")
        self.clusters = {str(c).lower() for c in doc.get("docdb", [])}
        self.timings = dict(DEFAULT_TIMINGS)
        for name, value in (doc.get("timings") or {}).items():
            if name not in DEFAULT_TIMINGS:
                raise LifecycleError(f"unknown timing {name!r}; known: {', '.join(DEFAULT_TIMINGS)}")
            self.timings[name] = _timing(value, name)
        self.quota = int(doc["quota"]) if doc.get("quota") is not None else None
        self.backup = _window(doc.get("backup_window"))
        self.seed = str(doc.get("seed", self.name))
        self.draws = 0
        self.timeline: list[dict[str, Any]] = []
        self.calls: list[dict[str, Any]] = []
        self.instances: dict[str, InstanceLife] = {}
        self.cluster_life: dict[str, ClusterLife] = {}
        self.services: dict[tuple[str, str], ServiceLife] = {}

        for cluster in self.clusters:
            if cluster not in self.rds.clusters:
                raise LifecycleError(f"DocumentDB cluster {cluster} does not exist: create it first")
            self.cluster_life[cluster] = ClusterLife()
            self.rds.clusters[cluster].status = "available"
            for inst in self.members(cluster):
                inst.status = "available"
                self.instances[inst.db_instance_identifier.lower()] = InstanceLife(cluster)
        for pair in doc.get("ecs", []):
            cluster, service = str(pair[0]), str(pair[1])
            model = self._service_model(cluster, service)
            life = ServiceLife(cluster, service, int(model.desired_count or 0))
            self.services[(cluster, service)] = life
            self._sync_service(life, model)
        self._backup_tick(self.now)

    # moto's models -------------------------------------------------------------------------
    @property
    def rds(self) -> Any:
        return rds_backends[self.account][self.region]

    @property
    def ecs(self) -> Any:
        return ecs_backends[self.account][self.region]

    def members(self, cluster: str) -> list[Any]:
        return [
            d
            for d in list(self.rds.databases.values())
            if (getattr(d, "db_cluster_identifier", None) or "").lower() == cluster
        ]

    def writer(self, cluster: str) -> str | None:
        for d in self.members(cluster):
            if getattr(d, "is_cluster_writer", False):
                return d.db_instance_identifier
        return None

    def _service_model(self, cluster: str, service: str) -> Any:
        model = self.ecs.services.get(f"{cluster}:{service}")
        if model is None:
            raise LifecycleError(f"ECS service {cluster}/{service} does not exist: create it first")
        return model

    def draw(self, timing: str, resource: str) -> dt.timedelta:
        low, high = self.timings[timing]
        self.draws += 1
        rng = random.Random(f"{self.seed}/{timing}/{self.draws}")
        return dt.timedelta(minutes=rng.uniform(low, high))

    def note(self, at: dt.datetime, kind: str, **detail: Any) -> None:
        self.timeline.append({"at": iso(at), "kind": kind, **detail})

    # The clock -----------------------------------------------------------------------------
    def advance(self, to: dt.datetime) -> None:
        """Apply every transition due by `to`, in time order, each stamped with its due time."""
        if to < self.now:
            raise LifecycleError(f"the clock of world {self.name} is at {iso(self.now)}: it only moves forward")
        while True:
            due = self._next_due(to)
            if due is None:
                break
            at, apply = due
            # The world's clock stands at each transition while it is applied: what it starts
            # (a failover's end moving the writer, say) is stamped and timed from there.
            self.now = at
            apply(at)
        self.now = to
        self._backup_tick(to)

    def _next_due(self, to: dt.datetime) -> tuple[dt.datetime, Any] | None:
        best: tuple[dt.datetime, Any] | None = None

        def offer(at: dt.datetime | None, apply: Any) -> None:
            nonlocal best
            if at is not None and at <= to and (best is None or at < best[0]):
                best = (at, apply)

        for ident, life in self.instances.items():
            offer(life.until, lambda at, i=ident: self._finish_instance(i, at))
        for cluster, life in self.cluster_life.items():
            offer(life.failover_until, lambda at, c=cluster: self._finish_failover(c, at))
        for life in self.services.values():
            if life.starts:
                offer(min(life.starts), lambda at, s=life: self._task_change(s, at))
            if life.stops:
                offer(min(life.stops), lambda at, s=life: self._task_change(s, at))
        # A backup window opening or closing between transitions is applied in time order too.
        if self.backup:
            for at in self._window_edges(self.now, to):
                offer(at, self._backup_tick)
        return best

    def _window_edges(self, start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
        assert self.backup
        edges = []
        day = start.replace(hour=0, minute=0, second=0, microsecond=0)
        while day <= end:
            for minute in self.backup:
                at = day + dt.timedelta(minutes=minute)
                if start < at <= end:
                    edges.append(at)
            day += dt.timedelta(days=1)
        return edges

    def in_backup(self, at: dt.datetime) -> bool:
        if not self.backup:
            return False
        minute = at.hour * 60 + at.minute
        begin, end = self.backup
        return begin <= minute < end if begin <= end else (minute >= begin or minute < end)

    def _backup_tick(self, at: dt.datetime) -> None:
        for cluster, life in self.cluster_life.items():
            if life.failover_until is not None:
                continue
            want = "backing-up" if self.in_backup(at) else "available"
            if life.status != want:
                self._cluster_status(cluster, want, at)

    def _cluster_status(self, cluster: str, status: str, at: dt.datetime) -> None:
        self.cluster_life[cluster].status = status
        self.rds.clusters[cluster].status = status
        self.note(at, "cluster", cluster=cluster, status=status)

    def _instance_status(self, ident: str, status: str, at: dt.datetime, until: dt.datetime | None = None) -> None:
        life = self.instances[ident]
        life.status, life.until = status, until
        model = self.rds.databases.get(ident)
        if model is not None:
            model.status = status
        self.note(
            at, "instance", instance=ident, cluster=life.cluster, status=status,
            instance_class=getattr(model, "db_instance_class", None), writer=bool(getattr(model, "is_cluster_writer", False)),
        )

    def _finish_instance(self, ident: str, at: dt.datetime) -> None:
        life = self.instances[ident]
        if life.status == "deleting":
            if ident in self.rds.databases:
                self.rds.delete_db_instance(ident)
            life.until = None
            life.status = "deleted"
            self.note(at, "instance", instance=ident, cluster=life.cluster, status="deleted")
            del self.instances[ident]
            return
        model = self.rds.databases.get(ident)
        if life.status == "modifying" and model is not None and life.next_class:
            model.db_instance_class = life.next_class
            model.pending_modified_values = None
            life.next_class = None
        self._instance_status(ident, "available", at)

    def _finish_failover(self, cluster: str, at: dt.datetime) -> None:
        life = self.cluster_life[cluster]
        target = self.rds.databases.get(life.failover_to or "")
        if target is not None:
            self.rds.clusters[cluster].failover(target)
        life.failover_until, life.failover_to = None, None
        self.note(at, "writer", cluster=cluster, writer=self.writer(cluster))
        self._cluster_status(cluster, "backing-up" if self.in_backup(at) else "available", at)

    # ECS tasks ---------------------------------------------------------------------------------
    def _task_change(self, life: ServiceLife, at: dt.datetime) -> None:
        started = [t for t in life.starts if t <= at]
        stopped = [t for t in life.stops if t <= at]
        life.starts = [t for t in life.starts if t > at]
        life.stops = [t for t in life.stops if t > at]
        life.running += len(started) - len(stopped)
        self._sync_service(life, self._service_model(life.cluster, life.service), at)

    def retarget(self, life: ServiceLife, desired: int) -> None:
        """The service's desired count is now `desired`: start or stop tasks over time."""
        intended = life.running + len(life.starts) - len(life.stops)
        resource = f"{life.cluster}/{life.service}"
        for _ in range(max(0, desired - intended)):
            life.starts.append(self.now + self.draw("task_start", resource))
        for _ in range(max(0, intended - desired)):
            if life.starts:
                life.starts.remove(max(life.starts))  # not started yet: never runs
            else:
                life.stops.append(self.now + self.draw("task_stop", resource))
        self._sync_service(life, self._service_model(life.cluster, life.service), self.now)

    def _sync_service(self, life: ServiceLife, model: Any, at: dt.datetime | None = None) -> None:
        model.running_count = life.running
        model.pending_count = len(life.starts)
        done = life.running == model.desired_count and not life.starts and not life.stops
        for deployment in getattr(model, "deployments", None) or []:
            if deployment.get("status") == "PRIMARY":
                deployment.update(
                    runningCount=life.running,
                    pendingCount=len(life.starts),
                    desiredCount=model.desired_count,
                    rolloutState="COMPLETED" if done else "IN_PROGRESS",
                    rolloutStateReason=f"ECS deployment {deployment.get('id')} {'completed' if done else 'in progress'}.",
                )
        self.note(
            at or self.now, "tasks", service=f"{life.cluster}/{life.service}", running=life.running,
            pending=len(life.starts), desired=model.desired_count,
        )

    # Requests ----------------------------------------------------------------------------------
    def owns_instance(self, ident: str) -> bool:
        return ident in self.instances or (
            ident in self.rds.databases
            and (getattr(self.rds.databases[ident], "db_cluster_identifier", "") or "").lower() in self.clusters
        )

    def record(self, op: str, resource: str, outcome: str, by: str, **detail: Any) -> None:
        self.calls.append({"at": iso(self.now), "op": op, "resource": resource, "outcome": outcome, "by": by, **detail})

    def view(self) -> dict[str, Any]:
        return {
            "world": self.name,
            "now": iso(self.now),
            "timings": {k: list(v) for k, v in self.timings.items()},
            "quota": self.quota,
            "timeline": self.timeline,
            "calls": self.calls,
            "instances": {i: life.status for i, life in self.instances.items()},
        }


class Refused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class Lifecycle:
    """WSGI middleware: the lifecycle mode in front of moto (see the module's docstring)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        # moto's RDS and ECS backends are not thread-safe, and this mode changes their models
        # between requests: while a world is registered, their requests are served one at a time.
        self.lock = threading.RLock()
        self.worlds: dict[str, World] = {}

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD")
        if path.startswith(LIFECYCLE_PATH) or path == CLOCK_PATH:
            return self._endpoint(path, method, environ, start_response)
        if not self.worlds or method != "POST":
            return self.app(environ, start_response)
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target.startswith(ECS_TARGET):
            with self.lock:
                return self._ecs(target[len(ECS_TARGET):], environ, start_response)
        if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
            body = _body(environ)
            if b"Action=" in body and b"Version=2014-10-31" in body:
                with self.lock:
                    return self._rds(body, environ, start_response)
        return self.app(environ, start_response)

    # Endpoints ---------------------------------------------------------------------------------
    def _endpoint(self, path: str, method: str | None, environ: dict[str, Any], start_response: Any) -> Any:
        try:
            with self.lock:
                if method == "GET" and path == LIFECYCLE_PATH:
                    query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
                    return _json(start_response, "200 OK", self._world((query.get("world") or [""])[0]).view())
                if method != "POST":
                    raise LifecycleError(f"{method} {path}: use POST (GET only for {LIFECYCLE_PATH}?world=W)")
                doc = json.loads(_body(environ) or b"{}")
                if path == LIFECYCLE_PATH:
                    world = World(doc)
                    self.worlds[world.name] = world
                    return _json(start_response, "200 OK", {"ok": True, "world": world.name, "now": iso(world.now)})
                if path == CLOCK_PATH:
                    world = self._world(doc.get("world", ""))
                    world.advance(parse_time(doc["now"]))
                    return _json(start_response, "200 OK", {"ok": True, "now": iso(world.now)})
                if path == EVENT_PATH:
                    return _json(start_response, "200 OK", self._event(self._world(doc.get("world", "")), doc))
                raise LifecycleError(f"no endpoint {path}")
        except (LifecycleError, Refused, KeyError, ValueError) as e:
            return _json(start_response, "400 Bad Request", {"error": str(e)})

    def _world(self, name: str) -> World:
        world = self.worlds.get(name)
        if world is None:
            raise LifecycleError(f"no world {name!r}: register it with POST {LIFECYCLE_PATH}")
        return world

    def _event(self, world: World, doc: dict[str, Any]) -> dict[str, Any]:
        kind = doc.get("kind")
        if kind == "failover":
            cluster, target = str(doc["cluster"]).lower(), str(doc["target"]).lower()
            self._start_failover(world, cluster, target, "aws")
        elif kind == "reboot":
            self._reboot(world, str(doc["instance"]).lower(), "aws")
        elif kind == "desired":
            cluster, service, count = str(doc["cluster"]), str(doc["service"]), int(doc["count"])
            life = world.services[(cluster, service)]
            world._service_model(cluster, service).desired_count = count
            world.record("UpdateService", f"{cluster}/{service}", "accepted", "someone else", desired=count)
            world.retarget(life, count)
        elif kind == "scalable-target":
            resource = f"service/{doc['cluster']}/{doc['service']}"
            aas = applicationautoscaling_backends[world.account][world.region]
            aas.register_scalable_target(
                "ecs", resource, "ecs:service:DesiredCount", int(doc["min"]), int(doc["max"]), None, None
            )
            world.record("RegisterScalableTarget", resource, "accepted", "someone else", min=doc["min"], max=doc["max"])
            world.note(world.now, "scalable-target", resource=resource, min=doc["min"], max=doc["max"])
        else:
            raise LifecycleError(f"unknown event kind {kind!r}: failover, reboot, desired or scalable-target")
        return {"ok": True, "now": iso(world.now)}

    # DocumentDB --------------------------------------------------------------------------------
    def _rds(self, body: bytes, environ: dict[str, Any], start_response: Any) -> Any:
        form = {k: v[0] for k, v in urllib.parse.parse_qs(body.decode("utf-8", "replace")).items()}
        action = form.get("Action", "")
        instance = form.get("DBInstanceIdentifier", "").lower()
        cluster = form.get("DBClusterIdentifier", "").lower()
        by = _access_key(environ)
        world = next(
            (
                w
                for w in self.worlds.values()
                if (cluster and cluster in w.clusters) or (instance and w.owns_instance(instance))
            ),
            None,
        )
        if world is None or action.startswith("Describe") or action.startswith("List"):
            return self.app(environ, start_response)
        try:
            if action == "CreateDBInstance":
                return self._create(world, form, environ, start_response, by)
            if action == "ModifyDBInstance":
                return self._modify(world, form, environ, start_response, by)
            if action == "DeleteDBInstance":
                self._delete(world, instance, by)
                return _xml(start_response, "DeleteDBInstance", _instance_xml(world, instance))
            if action == "FailoverDBCluster":
                target = form.get("TargetDBInstanceIdentifier", "").lower()
                self._start_failover(world, cluster, target, by)
                return _xml(start_response, "FailoverDBCluster", _cluster_xml(world, cluster))
            if action == "RebootDBInstance":
                self._reboot(world, instance, by)
                return _xml(start_response, "RebootDBInstance", _instance_xml(world, instance))
            if action == "ModifyDBCluster":
                self._cluster_available(world, cluster, "modify")
                world.record(action, cluster, "accepted", by, params=_changes(form))
        except Refused as refusal:
            life = world.instances.get(instance)
            home = life.cluster if life else cluster
            world.record(action, instance or cluster, refusal.code, by, writer=world.writer(home) if home else None,
                         status=life.status if life else None, message=refusal.message)
            return _refuse(start_response, refusal)
        return self.app(environ, start_response)

    def _cluster_available(self, world: World, cluster: str, what: str) -> None:
        status = world.cluster_life[cluster].status
        if status != "available":
            raise Refused(
                "InvalidDBClusterStateFault",
                f"DB cluster {cluster} is not in the available state (it is {status}): cannot {what} it now.",
            )

    def _instance_available(self, world: World, instance: str, what: str) -> InstanceLife:
        life = world.instances.get(instance)
        if life is None:
            raise Refused("DBInstanceNotFound", f"DBInstance {instance} not found.")
        if life.status == "deleting":
            raise Refused("InvalidDBInstanceState", f"Instance {instance} is already being deleted.")
        if life.status != "available":
            raise Refused(
                "InvalidDBInstanceState",
                f"Instance {instance} is not in the available state (it is {life.status}): cannot {what} it now.",
            )
        return life

    def _create(self, world: World, form: dict[str, str], environ: dict[str, Any], start_response: Any, by: str) -> Any:
        cluster = form.get("DBClusterIdentifier", "").lower()
        instance = form.get("DBInstanceIdentifier", "").lower()
        if instance in world.rds.databases:
            return self.app(environ, start_response)  # moto answers DBInstanceAlreadyExists
        self._cluster_available(world, cluster, "add an instance to")
        count = sum(len(world.members(c)) for c in world.clusters)
        if world.quota is not None and count >= world.quota:
            raise Refused(
                "InstanceQuotaExceeded",
                f"The request would cause you to exceed the allowed number of instances ({world.quota}; {count} exist).",
            )
        status, headers, answer = _call(self.app, environ)
        if status.startswith("2") and instance in world.rds.databases:
            world.instances[instance] = InstanceLife(cluster)
            until = world.now + world.draw("create", instance)
            world._instance_status(instance, "creating", world.now, until)
            world.record("CreateDBInstance", instance, "accepted", by, writer=world.writer(cluster),
                         instance_class=form.get("DBInstanceClass"), zone=form.get("AvailabilityZone"))
            answer = answer.replace(b"<DBInstanceStatus>available</DBInstanceStatus>", b"<DBInstanceStatus>creating</DBInstanceStatus>")
        start_response(status, [(k, v) for k, v in headers if k.lower() != "content-length"] + [("Content-Length", str(len(answer)))])
        return [answer]

    def _modify(self, world: World, form: dict[str, str], environ: dict[str, Any], start_response: Any, by: str) -> Any:
        instance = form.get("DBInstanceIdentifier", "").lower()
        life = self._instance_available(world, instance, "modify")
        model = world.rds.databases[instance]
        new_class = form.get("DBInstanceClass")
        world.record("ModifyDBInstance", instance, "accepted", by, writer=world.writer(life.cluster),
                     instance_class=new_class, before=model.db_instance_class, params=_changes(form))
        if new_class and new_class != model.db_instance_class:
            if form.get("ApplyImmediately", "false").lower() == "true":
                life.next_class = new_class
                model.pending_modified_values = {"DBInstanceClass": new_class}
                world._instance_status(instance, "modifying", world.now, world.now + world.draw("modify", instance))
            else:
                # Applied in the next maintenance window, which this mode never reaches.
                model.pending_modified_values = {"DBInstanceClass": new_class}
            rest = {k: v for k, v in form.items() if k != "DBInstanceClass"}
            body = urllib.parse.urlencode(rest).encode()
            environ["wsgi.input"], environ["CONTENT_LENGTH"] = io.BytesIO(body), str(len(body))
        return self.app(environ, start_response)

    def _delete(self, world: World, instance: str, by: str) -> None:
        life = self._instance_available(world, instance, "delete")
        world.record("DeleteDBInstance", instance, "accepted", by, writer=world.writer(life.cluster))
        world._instance_status(instance, "deleting", world.now, world.now + world.draw("delete", instance))

    def _reboot(self, world: World, instance: str, by: str) -> None:
        life = self._instance_available(world, instance, "reboot")
        world.record("RebootDBInstance", instance, "accepted", by, writer=world.writer(life.cluster))
        world._instance_status(instance, "rebooting", world.now, world.now + world.draw("reboot", instance))

    def _start_failover(self, world: World, cluster: str, target: str, by: str) -> None:
        if cluster not in world.clusters:
            raise LifecycleError(f"cluster {cluster} is not in world {world.name}")
        self._cluster_available(world, cluster, "fail it over")
        members = {m.db_instance_identifier.lower() for m in world.members(cluster)}
        if target and target not in members:
            raise Refused("InvalidParameterValue", f"Cannot find target instance: {target}")
        if not target:
            candidates = sorted(
                (m for m in world.members(cluster) if not m.is_cluster_writer and world.instances.get(m.db_instance_identifier.lower(), InstanceLife(cluster)).status == "available"),
                key=lambda m: (m.promotion_tier, m.db_instance_identifier),
            )
            if not candidates:
                raise Refused("InvalidDBClusterStateFault", f"DB cluster {cluster} has no available reader to fail over to.")
            target = candidates[0].db_instance_identifier.lower()
        if world.instances[target].status != "available":
            raise Refused("InvalidDBInstanceState", f"Instance {target} should be in valid state for failover.")
        life = world.cluster_life[cluster]
        life.failover_to = target
        life.failover_until = world.now + world.draw("failover", cluster)
        world.record("FailoverDBCluster", cluster, "accepted", by, writer=world.writer(cluster), target=target)
        world._cluster_status(cluster, "failing-over", world.now)

    # ECS ---------------------------------------------------------------------------------------
    def _ecs(self, operation: str, environ: dict[str, Any], start_response: Any) -> Any:
        if operation != "UpdateService":
            return self.app(environ, start_response)
        body = _body(environ)
        try:
            doc = json.loads(body or b"{}")
        except ValueError:
            return self.app(environ, start_response)
        cluster = str(doc.get("cluster", "default")).rsplit("/", 1)[-1]
        service = str(doc.get("service", "")).rsplit("/", 1)[-1]
        world = next((w for w in self.worlds.values() if (cluster, service) in w.services), None)
        if world is None or doc.get("desiredCount") is None:
            return self.app(environ, start_response)
        status, headers, answer = _call(self.app, environ)
        if status.startswith("2"):
            life = world.services[(cluster, service)]
            desired = int(doc["desiredCount"])
            world.record("UpdateService", f"{cluster}/{service}", "accepted", _access_key(environ), desired=desired)
            world.retarget(life, desired)
            # moto answered with every task running: answer what the service looks like now.
            try:
                shown = json.loads(answer)
                shown.get("service", {}).update(runningCount=life.running, pendingCount=len(life.starts))
                answer = json.dumps(shown).encode()
            except (ValueError, AttributeError):
                pass
        start_response(status, [(k, v) for k, v in headers if k.lower() != "content-length"] + [("Content-Length", str(len(answer)))])
        return [answer]


# Helpers -----------------------------------------------------------------------------------------


def _body(environ: dict[str, Any]) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(body)  # the next reader reads it again
    return body


def _call(app: Any, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
    captured: dict[str, Any] = {}

    def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        captured["status"], captured["headers"] = status, headers
        return lambda _data: None

    chunks = app(environ, capture)
    try:
        answer = b"".join(chunks)
    finally:
        if hasattr(chunks, "close"):
            chunks.close()
    return captured["status"], captured["headers"], answer


def _access_key(environ: dict[str, Any]) -> str:
    m = re.search(r"Credential=([^/,\s]+)/", environ.get("HTTP_AUTHORIZATION", ""))
    return m.group(1) if m else ""


def _changes(form: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in form.items() if k not in ("Action", "Version")}


def _json(start_response: Any, status: str, doc: Any) -> Any:
    body = json.dumps(doc).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def _refuse(start_response: Any, refusal: Refused) -> Any:
    status = "404 Not Found" if refusal.code.endswith("NotFound") else "400 Bad Request"
    body = (
        f'<ErrorResponse xmlns="{RDS_XMLNS}"><Error><Type>Sender</Type><Code>{refusal.code}</Code>'
        f"<Message>{_escape(refusal.message)}</Message></Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    ).encode()
    start_response(status, [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))])
    return [body]


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _xml(start_response: Any, action: str, inner: str) -> Any:
    body = (
        f'<{action}Response xmlns="{RDS_XMLNS}"><{action}Result>{inner}</{action}Result>'
        f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata></{action}Response>"
    ).encode()
    start_response("200 OK", [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))])
    return [body]


def _instance_xml(world: World, instance: str) -> str:
    model = world.rds.databases.get(instance)
    life = world.instances.get(instance)
    klass = getattr(model, "db_instance_class", "")
    cluster = life.cluster if life else ""
    status = life.status if life else "deleted"
    return (
        f"<DBInstance><DBInstanceIdentifier>{instance}</DBInstanceIdentifier><DBInstanceClass>{klass}</DBInstanceClass>"
        f"<Engine>{getattr(model, 'engine', None) or 'docdb'}</Engine><DBInstanceStatus>{status}</DBInstanceStatus>"
        f"<DBClusterIdentifier>{cluster}</DBClusterIdentifier></DBInstance>"
    )


def _cluster_xml(world: World, cluster: str) -> str:
    # Aurora and Neptune clusters live in the same RDS backend: each answers with its own engine.
    model = world.rds.clusters.get(cluster)
    engine = getattr(model, "engine", None) or "docdb"
    return (
        f"<DBCluster><DBClusterIdentifier>{cluster}</DBClusterIdentifier><Engine>{engine}</Engine>"
        f"<Status>{world.cluster_life[cluster].status}</Status></DBCluster>"
    )
