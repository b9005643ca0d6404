"""Tests of the emulator's lifecycle mode (lifecycle.py), through boto3 against the launcher's
app served on a loopback port in this process.

    .venv/bin/python -m unittest integration/emulator/test_lifecycle.py

Each test registers a world of its own (a DocumentDB cluster with its writer, an ECS service at
desired 2) and moves its clock by hand; durations are fixed (not ranges) so that the assertions
can name the minute a transition happens.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import threading
import unittest
import urllib.error
import urllib.request
import uuid
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))

import boto3  # noqa: E402
import botocore.exceptions  # noqa: E402
from botocore.config import Config  # noqa: E402
from moto.moto_server.werkzeug_app import (  # noqa: E402
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server  # noqa: E402

import launcher  # noqa: E402
from lifecycle import Lifecycle  # noqa: E402

START = dt.datetime(2026, 12, 7, 14, 0, tzinfo=dt.UTC)  # 23:00 in Tokyo
TIMINGS = {"create": 10, "modify": 10, "delete": 6, "failover": 1, "reboot": 2, "task_start": 2, "task_stop": 0.5}


class QuietHandler(MotoRequestHandler):
    def log_request(self, *args, **kwargs) -> None:  # one line per request would bury the results
        pass


class Server:
    def __init__(self) -> None:
        launcher.patch_docdb_engine()
        app = launcher.CapacityFaults(Lifecycle(DomainDispatcherApplication(create_backend_app)))
        self.http = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
        self.url = f"http://127.0.0.1:{self.http.server_port}"
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self.thread.start()

    def post(self, path: str, doc: dict) -> dict:
        req = urllib.request.Request(self.url + path, json.dumps(doc).encode(), {"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as answer:
                return json.loads(answer.read())
        except urllib.error.HTTPError as e:
            return {"status": e.code, **json.loads(e.read())}

    def get(self, path: str) -> dict:
        with urllib.request.urlopen(self.url + path, timeout=10) as answer:
            return json.loads(answer.read())


SERVER: Server | None = None


def setUpModule() -> None:
    global SERVER
    SERVER = Server()


def tearDownModule() -> None:
    if SERVER:
        SERVER.http.shutdown()


class LifecycleTest(unittest.TestCase):
    def setUp(self) -> None:
        assert SERVER
        self.server = SERVER
        cfg = Config(retries={"max_attempts": 1})
        creds = {"aws_access_key_id": "AKIDLIFECYCLETEST", "aws_secret_access_key": "x", "region_name": "us-east-1"}
        self.rds = boto3.client("docdb", endpoint_url=SERVER.url, config=cfg, **creds)
        self.ecs = boto3.client("ecs", endpoint_url=SERVER.url, config=cfg, **creds)
        self.aas = boto3.client("application-autoscaling", endpoint_url=SERVER.url, config=cfg, **creds)
        self.name = f"w{uuid.uuid4().hex[:8]}"
        self.cluster = f"{self.name}-db"
        self.writer = f"{self.cluster}-writer"
        self.rds.create_db_cluster(DBClusterIdentifier=self.cluster, Engine="docdb", MasterUsername="u",
                                   MasterUserPassword="password-1234")
        self.rds.create_db_instance(DBInstanceIdentifier=self.writer, DBClusterIdentifier=self.cluster,
                                    Engine="docdb", DBInstanceClass="db.r6g.large")
        self.ecs.create_cluster(clusterName=f"{self.name}-ecs")
        td = self.ecs.register_task_definition(
            family=self.name, containerDefinitions=[{"name": "app", "image": "busybox", "memory": 128}]
        )["taskDefinition"]["taskDefinitionArn"]
        self.ecs.create_service(cluster=f"{self.name}-ecs", serviceName="worker", taskDefinition=td, desiredCount=2)
        self.now = START

    def register(self, **extra) -> None:
        doc = {"world": self.name, "now": self.iso(self.now), "docdb": [self.cluster],
               "ecs": [[f"{self.name}-ecs", "worker"]], "timings": TIMINGS, **extra}
        self.assertTrue(self.server.post("/nightshift-api/lifecycle", doc).get("ok"), doc)

    @staticmethod
    def iso(t: dt.datetime) -> str:
        return t.strftime("%Y-%m-%dT%H:%M:%SZ")

    def at(self, minutes: float) -> None:
        self.now = START + dt.timedelta(minutes=minutes)
        answer = self.server.post("/nightshift-api/clock", {"world": self.name, "now": self.iso(self.now)})
        self.assertTrue(answer.get("ok"), answer)

    def status(self, instance: str) -> str:
        return self.rds.describe_db_instances(DBInstanceIdentifier=instance)["DBInstances"][0]["DBInstanceStatus"]

    def cluster_view(self) -> dict:
        return self.rds.describe_db_clusters(DBClusterIdentifier=self.cluster)["DBClusters"][0]

    def add_reader(self, ident: str, tier: int = 15) -> None:
        self.rds.create_db_instance(DBInstanceIdentifier=ident, DBClusterIdentifier=self.cluster, Engine="docdb",
                                    DBInstanceClass="db.r6g.large", PromotionTier=tier)

    def refused(self, code: str, call, **kwargs) -> str:
        with self.assertRaises(botocore.exceptions.ClientError) as caught:
            call(**kwargs)
        self.assertEqual(caught.exception.response["Error"]["Code"], code, caught.exception)
        return caught.exception.response["Error"]["Message"]

    def service(self) -> dict:
        return self.ecs.describe_services(cluster=f"{self.name}-ecs", services=["worker"])["services"][0]

    # -------------------------------------------------------------------------------------------

    def test_without_a_world_moto_answers_at_once_as_before(self) -> None:
        reader = f"{self.cluster}-r1"
        self.add_reader(reader)
        self.assertEqual(self.status(reader), "available")
        self.ecs.update_service(cluster=f"{self.name}-ecs", service="worker", desiredCount=5)
        self.assertEqual(self.service()["runningCount"], 5)

    def test_a_new_reader_is_creating_for_its_minutes_and_refuses_changes_meanwhile(self) -> None:
        self.register()
        reader = f"{self.cluster}-r1"
        self.add_reader(reader)
        self.assertEqual(self.status(reader), "creating")
        members = {m["DBInstanceIdentifier"] for m in self.cluster_view()["DBClusterMembers"]}
        self.assertIn(reader, members)
        message = self.refused("InvalidDBInstanceState", self.rds.delete_db_instance, DBInstanceIdentifier=reader)
        self.assertIn("creating", message)
        self.refused("InvalidDBInstanceState", self.rds.modify_db_instance, DBInstanceIdentifier=reader,
                     DBInstanceClass="db.r6g.xlarge", ApplyImmediately=True)
        self.at(9.9)
        self.assertEqual(self.status(reader), "creating")
        self.at(10)
        self.assertEqual(self.status(reader), "available")
        view = self.server.get(f"/nightshift-api/lifecycle?world={self.name}")
        statuses = [(e["status"], e["at"]) for e in view["timeline"] if e.get("instance") == reader]
        self.assertEqual(statuses, [("creating", "2026-12-07T14:00:00Z"), ("available", "2026-12-07T14:10:00Z")])
        refused = [c for c in view["calls"] if c["outcome"] == "InvalidDBInstanceState"]
        self.assertEqual(len(refused), 2, view["calls"])

    def test_a_deleted_reader_stays_listed_while_deleting_and_a_second_delete_is_refused(self) -> None:
        self.register()
        reader = f"{self.cluster}-r1"
        self.add_reader(reader)
        self.at(10)
        answer = self.rds.delete_db_instance(DBInstanceIdentifier=reader)
        self.assertEqual(answer["DBInstance"]["DBInstanceStatus"], "deleting")
        self.assertEqual(self.status(reader), "deleting")
        self.assertIn(reader, {m["DBInstanceIdentifier"] for m in self.cluster_view()["DBClusterMembers"]})
        message = self.refused("InvalidDBInstanceState", self.rds.delete_db_instance, DBInstanceIdentifier=reader)
        self.assertIn("already being deleted", message)
        self.at(15.9)
        self.assertEqual(self.status(reader), "deleting")
        self.at(16)
        self.refused("DBInstanceNotFound", self.rds.describe_db_instances, DBInstanceIdentifier=reader)
        self.assertNotIn(reader, {m["DBInstanceIdentifier"] for m in self.cluster_view()["DBClusterMembers"]})

    def test_a_class_change_is_modifying_with_the_class_pending_then_applied(self) -> None:
        self.register()
        self.rds.modify_db_instance(DBInstanceIdentifier=self.writer, DBInstanceClass="db.r6g.2xlarge",
                                    ApplyImmediately=True)
        described = self.rds.describe_db_instances(DBInstanceIdentifier=self.writer)["DBInstances"][0]
        self.assertEqual(described["DBInstanceStatus"], "modifying")
        self.assertEqual(described["DBInstanceClass"], "db.r6g.large")
        self.assertEqual(described["PendingModifiedValues"]["DBInstanceClass"], "db.r6g.2xlarge")
        self.refused("InvalidDBInstanceState", self.rds.modify_db_instance, DBInstanceIdentifier=self.writer,
                     DBInstanceClass="db.r6g.xlarge", ApplyImmediately=True)
        self.at(10)
        described = self.rds.describe_db_instances(DBInstanceIdentifier=self.writer)["DBInstances"][0]
        self.assertEqual((described["DBInstanceStatus"], described["DBInstanceClass"]), ("available", "db.r6g.2xlarge"))
        self.assertFalse(described.get("PendingModifiedValues", {}).get("DBInstanceClass"))

    def test_a_failover_moves_the_writer_at_its_end_and_the_cluster_refuses_meanwhile(self) -> None:
        self.register()
        reader = f"{self.cluster}-r1"
        self.add_reader(reader)
        self.refused("InvalidDBInstanceState", self.rds.failover_db_cluster, DBClusterIdentifier=self.cluster,
                     TargetDBInstanceIdentifier=reader)
        self.at(10)
        self.rds.failover_db_cluster(DBClusterIdentifier=self.cluster, TargetDBInstanceIdentifier=reader)
        view = self.cluster_view()
        self.assertEqual(view["Status"], "failing-over")
        writers = [m["DBInstanceIdentifier"] for m in view["DBClusterMembers"] if m["IsClusterWriter"]]
        self.assertEqual(writers, [self.writer], "the writer changes at the failover's end")
        self.refused("InvalidDBClusterStateFault", self.rds.failover_db_cluster, DBClusterIdentifier=self.cluster)
        self.refused("InvalidDBClusterStateFault", self.add_reader, ident=f"{self.cluster}-r2")
        self.at(11)
        view = self.cluster_view()
        self.assertEqual(view["Status"], "available")
        writers = [m["DBInstanceIdentifier"] for m in view["DBClusterMembers"] if m["IsClusterWriter"]]
        self.assertEqual(writers, [reader])

    def test_the_backup_window_makes_the_cluster_backing_up_and_refuse_new_instances(self) -> None:
        self.register(backup_window="14:05-14:35")
        self.assertEqual(self.cluster_view()["Status"], "available")
        self.at(5)
        self.assertEqual(self.cluster_view()["Status"], "backing-up")
        message = self.refused("InvalidDBClusterStateFault", self.add_reader, ident=f"{self.cluster}-r1")
        self.assertIn("backing-up", message)
        self.at(35)
        self.assertEqual(self.cluster_view()["Status"], "available")
        self.add_reader(f"{self.cluster}-r1")
        view = self.server.get(f"/nightshift-api/lifecycle?world={self.name}")
        windows = [(e["status"], e["at"]) for e in view["timeline"] if e["kind"] == "cluster"]
        self.assertEqual(windows, [("backing-up", "2026-12-07T14:05:00Z"), ("available", "2026-12-07T14:35:00Z")])

    def test_instances_past_the_quota_are_refused(self) -> None:
        self.register(quota=3)
        self.add_reader(f"{self.cluster}-r1")
        self.add_reader(f"{self.cluster}-r2")
        message = self.refused("InstanceQuotaExceeded", self.add_reader, ident=f"{self.cluster}-r3")
        self.assertIn("allowed number of instances", message)

    def test_ecs_tasks_start_minutes_after_the_desired_count_rises_and_stop_after_it_falls(self) -> None:
        self.register()
        self.assertEqual(self.service()["runningCount"], 2)
        self.ecs.update_service(cluster=f"{self.name}-ecs", service="worker", desiredCount=10)
        svc = self.service()
        self.assertEqual((svc["desiredCount"], svc["runningCount"], svc["pendingCount"]), (10, 2, 8))
        self.assertEqual(svc["deployments"][0]["rolloutState"], "IN_PROGRESS")
        self.at(1.9)
        self.assertEqual(self.service()["runningCount"], 2)
        self.at(2)
        svc = self.service()
        self.assertEqual((svc["runningCount"], svc["pendingCount"]), (10, 0))
        self.assertEqual(svc["deployments"][0]["rolloutState"], "COMPLETED")
        self.ecs.update_service(cluster=f"{self.name}-ecs", service="worker", desiredCount=2)
        self.assertEqual(self.service()["runningCount"], 10)
        self.at(2.5)
        self.assertEqual(self.service()["runningCount"], 2)

    def test_aws_initiated_events_fail_over_reboot_and_change_counts(self) -> None:
        self.register()
        reader = f"{self.cluster}-r1"
        self.add_reader(reader)
        self.at(10)
        answer = self.server.post("/nightshift-api/lifecycle/event",
                                  {"world": self.name, "kind": "failover", "cluster": self.cluster, "target": reader})
        self.assertTrue(answer.get("ok"), answer)
        self.at(11)
        writers = [m["DBInstanceIdentifier"] for m in self.cluster_view()["DBClusterMembers"] if m["IsClusterWriter"]]
        self.assertEqual(writers, [reader])
        self.server.post("/nightshift-api/lifecycle/event", {"world": self.name, "kind": "reboot", "instance": self.writer})
        self.assertEqual(self.status(self.writer), "rebooting")
        self.refused("InvalidDBInstanceState", self.rds.delete_db_instance, DBInstanceIdentifier=self.writer)
        self.at(13)
        self.assertEqual(self.status(self.writer), "available")
        self.server.post("/nightshift-api/lifecycle/event",
                         {"world": self.name, "kind": "desired", "cluster": f"{self.name}-ecs", "service": "worker", "count": 7})
        svc = self.service()
        self.assertEqual((svc["desiredCount"], svc["runningCount"]), (7, 2))
        resource = f"service/{self.name}-ecs/worker"
        self.aas.register_scalable_target(ServiceNamespace="ecs", ResourceId=resource,
                                          ScalableDimension="ecs:service:DesiredCount", MinCapacity=2, MaxCapacity=4)
        self.server.post("/nightshift-api/lifecycle/event", {"world": self.name, "kind": "scalable-target",
                                                              "cluster": f"{self.name}-ecs", "service": "worker", "min": 5, "max": 8})
        target = self.aas.describe_scalable_targets(ServiceNamespace="ecs", ResourceIds=[resource])["ScalableTargets"][0]
        self.assertEqual((target["MinCapacity"], target["MaxCapacity"]), (5, 8))
        view = self.server.get(f"/nightshift-api/lifecycle?world={self.name}")
        by = {(c["op"], c["by"]) for c in view["calls"]}
        self.assertIn(("FailoverDBCluster", "aws"), by)
        self.assertIn(("UpdateService", "someone else"), by)
        self.assertIn(("CreateDBInstance", "AKIDLIFECYCLETEST"), by)

    def test_the_clock_only_moves_forward_and_unknown_worlds_are_named(self) -> None:
        self.register()
        self.at(5)
        back = self.server.post("/nightshift-api/clock", {"world": self.name, "now": self.iso(START)})
        self.assertEqual(back["status"], 400)
        self.assertIn("only moves forward", back["error"])
        unknown = self.server.post("/nightshift-api/clock", {"world": "nope", "now": self.iso(START)})
        self.assertIn("no world 'nope'", unknown["error"])
        bad = self.server.post("/nightshift-api/lifecycle", {"world": self.name, "now": self.iso(START), "timings": {"create": [5, 1]}})
        self.assertIn("0 <= low <= high", bad["error"])

    def test_durations_drawn_from_a_range_repeat_with_the_seed(self) -> None:
        def creation_minutes(seed: str) -> float:
            self.name, self.cluster = f"w{uuid.uuid4().hex[:8]}", ""
            self.setUp()
            self.register(seed=seed, timings={**TIMINGS, "create": [8, 12]})
            self.add_reader(f"{self.cluster}-r1")
            view = self.server.get(f"/nightshift-api/lifecycle?world={self.name}")
            self.at(13)
            view = self.server.get(f"/nightshift-api/lifecycle?world={self.name}")
            ready = next(e["at"] for e in view["timeline"] if e.get("status") == "available" and e.get("instance"))
            return (dt.datetime.fromisoformat(ready.replace("Z", "+00:00")) - START).total_seconds() / 60

        first, again, other = creation_minutes("s1"), creation_minutes("s1"), creation_minutes("s2")
        self.assertTrue(8 <= first <= 12, first)
        self.assertAlmostEqual(first, again, places=3)
        self.assertNotAlmostEqual(first, other, places=3)


if __name__ == "__main__":
    unittest.main()
