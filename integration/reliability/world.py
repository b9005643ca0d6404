"""The AWS world one night plays in, on moto_server, through boto3 (never through the proxy).

Mirrors integration/support/src/scene.rs: a DocumentDB cluster with its writer (engine docdb, which
integration/emulator/launcher.py teaches moto; or, for a world of another `kind`, an Aurora
PostgreSQL or a Neptune cluster in the config's `[[scenario.aurora]]` / `[[scenario.neptune]]`), an ECS service at its day-time desired count with
an Application Auto Scaling target, the batch metric in CloudWatch, and the contract config
(integration/fixtures/config/contract.toml) renamed to this world's resources. The table is
created by the real `nightshift migrate`.

Clock: the events carry no rehearsal `"now"`; nightshift reads the real clock, so the guard's
lease (the invocation deadline, Lambda-Runtime-Deadline-Ms) is compared with the same clock it
was written from (see RELIABILITY.md, "The clock"). The config is tuned for a night of seconds:
min_hold 0s, quiet_for 5m of 1-minute periods, quiet datapoints written for the past, the deadline
a day away.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import boto3
import botocore.exceptions
from botocore.config import Config as BotoConfig

REPO = Path(__file__).resolve().parents[2]
CONTRACT = REPO / "integration/fixtures/config/contract.toml"
BASELINE_DESIRED = 2
BASELINE_MIN, BASELINE_MAX = 2, 4
NIGHT_DESIRED = 10
REPLICAS = 3
# The config table of a world's cluster, and the engine its cluster runs.
ENGINES = {"docdb": "docdb", "aurora": "aurora-postgresql", "neptune": "neptune"}

# The worker kinds: a Batch compute environment's (minvCpus, maxvCpus, desiredvCpus) by day and
# its minvCpus at night; an Auto Scaling group's (MinSize, DesiredCapacity, MaxSize).
CE_DAY = (0, 256, 0)
CE_NIGHT_MIN = 64
ASG_DAY = (1, 1, 2)
ASG_NIGHT = (4, 4, 4)

CREDS = {
    "aws_access_key_id": "AKIDNIGHTSHIFTRELIABILITY",
    "aws_secret_access_key": "nightshift-reliability-secret",
    "region_name": "us-east-1",
}


# moto's RDS backend is not thread-safe ("OrderedDict mutated during iteration" under concurrent
# requests answers an HTML 500). The harness's own calls go one at a time and are retried on such
# an answer; the function's calls meet it as a 500, which its SDK retries like any other.
_AWS_LOCK = threading.Lock()


def guarded(method):
    @functools.wraps(method)
    def call(*args, **kwargs):
        for attempt in range(6):
            try:
                with _AWS_LOCK:
                    return method(*args, **kwargs)
            except (botocore.exceptions.ResponseParserError, botocore.exceptions.ConnectionError) as e:
                last = e
            except botocore.exceptions.ClientError as e:
                if e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) < 500:
                    raise
                last = e
            time.sleep(0.2 * (attempt + 1))
        raise last

    return call


def once(fn, already: tuple[str, ...] = (), **kwargs):
    """One creating call, retried like `guarded`; an `already` error code on a retry means the
    first attempt was applied before moto failed to answer it."""
    for attempt in range(6):
        try:
            with _AWS_LOCK:
                return fn(**kwargs)
        except (botocore.exceptions.ResponseParserError, botocore.exceptions.ConnectionError) as e:
            last = e
        except botocore.exceptions.ClientError as e:
            code = e.response.get("Error", {}).get("Code", "")
            if attempt > 0 and code in already:
                return None
            if e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) < 500:
                raise
            last = e
        time.sleep(0.2 * (attempt + 1))
    raise last


class Aws:
    """boto3 clients aimed straight at the emulator."""

    def __init__(self, url: str) -> None:
        self.url = url
        cfg = BotoConfig(retries={"max_attempts": 5, "mode": "standard"}, read_timeout=60)
        mk = lambda name: boto3.client(name, endpoint_url=url, config=cfg, **CREDS)  # noqa: E731
        self.rds = mk("docdb")
        self.ecs = mk("ecs")
        self.aas = mk("application-autoscaling")
        self.cw = mk("cloudwatch")
        self.ddb = mk("dynamodb")
        self.batch = mk("batch")
        self.asg = mk("autoscaling")
        self.iam = mk("iam")
        self.ec2 = mk("ec2")


def short_id() -> str:
    return uuid.uuid4().hex[:8]


@dataclass
class World:
    name: str  # scenario name, and the stem of every resource name
    table: str
    kind: str = "docdb"  # its cluster's config table: docdb, aurora or neptune

    @property
    def engine(self) -> str:
        return ENGINES[self.kind]

    # A Batch compute environment and an Auto Scaling group in the scenario too.
    workers = True

    @property
    def compute_environment(self) -> str:
        return f"{self.name}-ce"

    @property
    def group(self) -> str:
        return f"{self.name}-asg"

    @property
    def ecs_cluster(self) -> str:
        return f"{self.name}-ecs"

    @property
    def ecs_service(self) -> str:
        return f"{self.name}-worker"

    @property
    def docdb_cluster(self) -> str:
        return f"{self.name}-db"

    @property
    def job(self) -> str:
        return f"{self.name}-job"

    @property
    def resource_id(self) -> str:
        return f"service/{self.ecs_cluster}/{self.ecs_service}"

    # The config --------------------------------------------------------------------------------
    def config_block(self) -> str:
        """This world's [[scenario]] from the contract config (everything but `table`)."""
        text = CONTRACT.read_text()
        scenario = text[text.index("[[scenario]]"):]
        deadline = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=30)).strftime("%H:%M")
        for old, new in [
            ('name = "nightly-batch"', f'name = "{self.name}"'),
            ('timezone = "Asia/Tokyo"', 'timezone = "UTC"'),
            ('cluster = "batch"', f'cluster = "{self.ecs_cluster}"'),
            ('service = "worker"', f'service = "{self.ecs_service}"'),
            ('cluster = "batch-db"', f'cluster = "{self.docdb_cluster}"'),
            ("[[scenario.docdb]]", f"[[scenario.{self.kind}]]"),
            ('dimensions = { Job = "nightly" }', f'dimensions = {{ Job = "{self.job}" }}'),
            ('quiet_for = "15m"', 'quiet_for = "5m"'),
            ('deadline = "07:30"', f'deadline = "{deadline}"'),
            ('min_hold = "30m"', 'min_hold = "0s"'),
        ]:
            assert old in scenario, f"contract config changed: {old!r} not found"
            scenario = scenario.replace(old, new)
        workers = (
            f'  [[scenario.batch]]\n  compute_environment = "{self.compute_environment}"\n'
            f"  min_vcpus = {CE_NIGHT_MIN}\n  max_vcpus = 128\n\n"
            f'  [[scenario.asg]]\n  name = "{self.group}"\n  min = {ASG_NIGHT[0]}\n  max = 10\n\n'
        )
        return scenario.replace("  [scenario.scale_down]", workers + "  [scenario.scale_down]", 1)

    # The day-time world ------------------------------------------------------------------------
    def create(self, aws: Aws) -> None:
        once(aws.rds.create_db_cluster, ("DBClusterAlreadyExistsFault",),
             DBClusterIdentifier=self.docdb_cluster, Engine=self.engine,
             MasterUsername="nightshift", MasterUserPassword="nightshift-test-password")
        once(aws.rds.create_db_instance, ("DBInstanceAlreadyExists",),
             DBInstanceIdentifier=f"{self.docdb_cluster}-writer", DBClusterIdentifier=self.docdb_cluster,
             Engine=self.engine, DBInstanceClass="db.r6g.large")
        once(aws.ecs.create_cluster, clusterName=self.ecs_cluster)
        td = once(aws.ecs.register_task_definition, family=self.ecs_service, containerDefinitions=[
            {"name": "app", "image": "public.ecr.aws/docker/library/busybox:latest", "memory": 128}
        ])["taskDefinition"]["taskDefinitionArn"]
        once(aws.ecs.create_service, ("InvalidParameterException",), cluster=self.ecs_cluster,
             serviceName=self.ecs_service, taskDefinition=td, desiredCount=BASELINE_DESIRED)
        once(aws.aas.register_scalable_target, ServiceNamespace="ecs", ResourceId=self.resource_id,
             ScalableDimension="ecs:service:DesiredCount", MinCapacity=BASELINE_MIN, MaxCapacity=BASELINE_MAX)
        if self.workers:
            self.create_workers(aws)

    def create_workers(self, aws: Aws) -> None:
        """A managed EC2 compute environment (with the role, instance profile, subnet and security
        group moto wants first) and an Auto Scaling group, at their day-time values."""
        trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
            "Service": "batch.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
        role = once(aws.iam.create_role, RoleName=f"{self.name}-batch", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
        profile = once(aws.iam.create_instance_profile, InstanceProfileName=f"{self.name}-ecs")["InstanceProfile"]["Arn"]
        vpc = once(aws.ec2.create_vpc, CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnet = once(aws.ec2.create_subnet, VpcId=vpc, CidrBlock="10.0.1.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
        group = once(aws.ec2.create_security_group, VpcId=vpc, GroupName=f"{self.name}-batch", Description="nightshift")["GroupId"]
        low, high, desired = CE_DAY
        once(aws.batch.create_compute_environment, ("ClientException",), computeEnvironmentName=self.compute_environment,
             type="MANAGED", state="ENABLED", serviceRole=role, computeResources={
                 "type": "EC2", "minvCpus": low, "maxvCpus": high, "desiredvCpus": desired,
                 "instanceTypes": ["m5.large"], "subnets": [subnet], "securityGroupIds": [group],
                 "instanceRole": profile})
        once(aws.asg.create_launch_configuration, ("AlreadyExists",), LaunchConfigurationName=self.group,
             ImageId="ami-12c6146b", InstanceType="t3.micro")
        low, desired, high = ASG_DAY
        once(aws.asg.create_auto_scaling_group, ("AlreadyExists",), AutoScalingGroupName=self.group,
             LaunchConfigurationName=self.group, AvailabilityZones=["us-east-1a"],
             MinSize=low, DesiredCapacity=desired, MaxSize=high)

    @guarded
    def put_quiet(self, aws: Aws, minutes_back: int = 30, minutes_ahead: int = 0) -> None:
        """Batch/JobsRunning{Job} = 0 once a minute over [now - back, now + ahead]."""
        now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
        data = [
            {
                "MetricName": "JobsRunning",
                "Dimensions": [{"Name": "Job", "Value": self.job}],
                "Timestamp": now + dt.timedelta(minutes=m),
                "Value": 0.0,
            }
            for m in range(-minutes_back, minutes_ahead + 1)
        ]
        for i in range(0, len(data), 500):
            aws.cw.put_metric_data(Namespace="Batch", MetricData=data[i : i + 500])

    @guarded
    def state(self, aws: Aws) -> dict:
        """What the AWS side looks like now (comparable between nights: names stripped)."""
        cluster = aws.rds.describe_db_clusters(DBClusterIdentifier=self.docdb_cluster)["DBClusters"][0]
        members = sorted(
            (m["DBInstanceIdentifier"].removeprefix(self.docdb_cluster), bool(m["IsClusterWriter"]))
            for m in cluster.get("DBClusterMembers", [])
        )
        instances = aws.rds.describe_db_instances(Filters=[{"Name": "db-cluster-id", "Values": [self.docdb_cluster]}])[
            "DBInstances"
        ]
        classes = sorted((i["DBInstanceIdentifier"].removeprefix(self.docdb_cluster), i["DBInstanceClass"]) for i in instances)
        svc = aws.ecs.describe_services(cluster=self.ecs_cluster, services=[self.ecs_service])["services"][0]
        targets = aws.aas.describe_scalable_targets(ServiceNamespace="ecs", ResourceIds=[self.resource_id])["ScalableTargets"]
        scalable = [(t["MinCapacity"], t["MaxCapacity"]) for t in targets]
        state = {
            "members": members,
            "classes": classes,
            "desired": svc["desiredCount"],
            "scalable": scalable,
        }
        if self.workers:
            env = aws.batch.describe_compute_environments(computeEnvironments=[self.compute_environment])[
                "computeEnvironments"][0]["computeResources"]
            # desiredvCpus is Batch's own after the night (AWS accepts no lower one): not compared.
            state["vcpus"] = (env["minvCpus"], env["maxvCpus"])
            g = aws.asg.describe_auto_scaling_groups(AutoScalingGroupNames=[self.group])["AutoScalingGroups"][0]
            state["asg"] = (g["MinSize"], g["DesiredCapacity"], g["MaxSize"])
        return state

    # Events ------------------------------------------------------------------------------------
    def step(self, step: str, key_time: dt.datetime, force: bool = False) -> bytes:
        """A step command as EventBridge Scheduler sends it (keyed by its scheduled time)."""
        body: dict = {"scenario": self.name, "step": step, "scheduled_time": key_time.strftime("%Y-%m-%dT%H:%M:%SZ")}
        if force:
            body["force"] = True
        return json.dumps(body).encode()

    def task_stopped(self) -> bytes:
        """An ECS task STOPPED event of the batch's job, as EventBridge delivers it."""
        ident = str(uuid.uuid4())
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return json.dumps(
            {
                "version": "0",
                "id": ident,
                "detail-type": "ECS Task State Change",
                "source": "aws.ecs",
                "account": "123456789012",
                "time": now,
                "region": "us-east-1",
                "resources": [f"arn:aws:ecs:us-east-1:123456789012:task/{self.ecs_cluster}/{ident[:8]}"],
                "detail": {
                    "clusterArn": f"arn:aws:ecs:us-east-1:123456789012:cluster/{self.ecs_cluster}",
                    "group": "family:nightly-job",
                    "lastStatus": "STOPPED",
                    "desiredStatus": "STOPPED",
                    "stoppedReason": "Essential container in task exited",
                    "stopCode": "EssentialContainerExited",
                },
            }
        ).encode()

    # The table ---------------------------------------------------------------------------------
    @guarded
    def table_view(self, aws: Aws) -> dict:
        """This world's items in the table, read with boto3 (a harness-side scan):
        dedup records, runs, event records (run history and the day's log) and the STATE item."""
        view: dict = {"dedup": [], "all_dedup": {}, "runs": [], "events": [], "state": {}}
        start = None
        while True:
            kw = {"TableName": self.table, "ConsistentRead": True}
            if start:
                kw["ExclusiveStartKey"] = start
            page = aws.ddb.scan(**kw)
            for item in page["Items"]:
                flat = {k: next(iter(v.values())) for k, v in item.items()}
                pk, sk = flat["pk"], flat["sk"]
                if pk.startswith("DEDUP#"):
                    # Completion events are keyed by their envelope id, not by the scenario.
                    view["all_dedup"][(pk.removeprefix("DEDUP#"), sk.removeprefix("STEP#"))] = flat.get("status", "?")
                if pk.startswith(f"DEDUP#{self.name}/"):
                    view["dedup"].append(
                        {"key": pk.removeprefix("DEDUP#"), "step": sk.removeprefix("STEP#"), "status": flat.get("status", "?")}
                    )
                elif pk == f"SCENARIO#{self.name}" and sk == "STATE":
                    view["state"] = flat
                elif pk == f"SCENARIO#{self.name}" and sk.startswith("RUN#"):
                    view["runs"].append({"run": flat.get("run"), "status": flat.get("run_status")})
                elif flat.get("kind") == "event":
                    try:
                        data = json.loads(flat.get("data", "{}"))
                    except ValueError:
                        continue
                    if data.get("scenario") == self.name:
                        view["events"].append(data)
            start = page.get("LastEvaluatedKey")
            if not start:
                return view

    @guarded
    def scenario_state(self, aws: Aws) -> dict:
        item = aws.ddb.get_item(
            TableName=self.table, Key={"pk": {"S": f"SCENARIO#{self.name}"}, "sk": {"S": "STATE"}}, ConsistentRead=True
        ).get("Item", {})
        return {k: next(iter(v.values())) for k, v in item.items()}


def config_file(path: Path, table: str, worlds: list[World]) -> Path:
    text = f'table = "{table}"\n\n' + "\n".join(w.config_block() for w in worlds)
    path.write_text(text)
    return path


class Cli:
    """The built `nightshift` CLI against the emulator (migrate, history, show)."""

    def __init__(self, binary: str, url: str) -> None:
        self.binary = binary
        self.env = {
            **os.environ,
            "AWS_ENDPOINT_URL": url,
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": CREDS["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": CREDS["aws_secret_access_key"],
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def run(self, *args: str) -> str:
        done = subprocess.run([self.binary, *args], env=self.env, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"nightshift {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
        return done.stdout

    def migrate(self, table: str) -> None:
        self.run("migrate", "--table", table)

    def history(self, table: str, scenario: str) -> list:
        out = self.run("history", "--scenario", scenario, "--since", "7d", "--output", "json", "--table", table)
        return json.loads(out)

    def show(self, table: str, scenario: str, run: str) -> dict:
        return json.loads(self.run("show", scenario, run, "--output", "json", "--table", table))
