"""The benchmark's Python baseline: nightshift's job done the way most teams would write it.

AWS Lambda Powertools idempotency on DynamoDB guards each event; boto3 drives ECS, Application
Auto Scaling, DocumentDB and CloudWatch; the real runtime interface client (awslambdaric) runs it:

    python -m awslambdaric handler.handler      (AWS_LAMBDA_RUNTIME_API set, cwd = this directory)

It reads the same nightshift.toml (NIGHTSHIFT_CONFIG) with the same meaning for the contract's
scenario, so that it does the same AWS work per event as nightshift:

- scale-up: remember the baseline (desired count, autoscaling min/max, readers), raise the ECS
  service's desired count and the scalable target's min to `desired` (never above `max`), add
  DocumentDB readers up to `replicas`;
- check (scheduled, or a completion event of the scenario's group): nothing to do without an open
  run; deferred before `min_hold`; scale down past the local `deadline` or when every metric was
  below its threshold for `quiet_for` (a window without datapoints counts as `missing_data` says);
- scale-down: restore the baseline, delete the readers it added, forget the run.

The run's baseline lives in the idempotency table (BASELINE_TABLE, hash key `id`) under
`run#<scenario>`. Only the benchmark runs this (integration/bench/side.rs); it is not shipped.
"""

import datetime as dt
import os
import tomllib
from zoneinfo import ZoneInfo

import boto3
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent,
)

with open(os.environ.get("NIGHTSHIFT_CONFIG", "/var/task/nightshift.toml"), "rb") as f:
    CONFIG = tomllib.load(f)
SCENARIOS = {s["name"]: s for s in CONFIG["scenario"]}
TABLE = os.environ["BASELINE_TABLE"]

ecs = boto3.client("ecs")
autoscaling = boto3.client("application-autoscaling")
docdb = boto3.client("docdb")
cloudwatch = boto3.client("cloudwatch")
dynamodb = boto3.client("dynamodb")

# Every AWS call of an event is counted (botocore's before-call event), Powertools' own included:
# it is given the same DynamoDB client. The count is added to the answer as `aws_calls`.
CALLS = [0]


def _count(**_kwargs):
    CALLS[0] += 1


for _client in (ecs, autoscaling, docdb, cloudwatch, dynamodb):
    _client.meta.events.register("before-call.*.*", _count)

persistence = DynamoDBPersistenceLayer(table_name=TABLE, boto3_client=dynamodb)
idempotency = IdempotencyConfig(
    event_key_jmespath="[id, scenario, step, scheduled_time]",
    raise_on_no_idempotency_key=True,
)

ECS_DIMENSION = "ecs:service:DesiredCount"


def seconds(text):
    units = {"s": 1, "m": 60, "h": 3600}
    return int(text[:-1]) * units[text[-1]]


def when(text):
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def answer(outcome, scenario, step, actions, reason):
    return {
        "outcome": outcome,
        "scenario": scenario,
        "step": step,
        "actions": actions,
        "reason": reason,
    }


def load_run(name):
    item = dynamodb.get_item(TableName=TABLE, Key={"id": {"S": f"run#{name}"}}, ConsistentRead=True)
    return item.get("Item")


def resource_id(target):
    return f"service/{target['cluster']}/{target['service']}"


def scale_up(name, scenario, now):
    if load_run(name) is not None:
        return answer("skipped", name, "scale-up", [], "already scaled up")
    actions, baseline, created = [], {}, []
    for target in scenario.get("ecs", []):
        service = ecs.describe_services(cluster=target["cluster"], services=[target["service"]])
        desired_now = service["services"][0]["desiredCount"]
        scalable = autoscaling.describe_scalable_targets(
            ServiceNamespace="ecs",
            ResourceIds=[resource_id(target)],
            ScalableDimension=ECS_DIMENSION,
        )["ScalableTargets"]
        low = scalable[0]["MinCapacity"] if scalable else desired_now
        high = scalable[0]["MaxCapacity"] if scalable else desired_now
        baseline[resource_id(target)] = {"N": f"{desired_now},{low},{high}"}
        desired = min(target["desired"], target["max"])
        autoscaling.register_scalable_target(
            ServiceNamespace="ecs",
            ResourceId=resource_id(target),
            ScalableDimension=ECS_DIMENSION,
            MinCapacity=desired,
            MaxCapacity=max(high, desired),
        )
        ecs.update_service(cluster=target["cluster"], service=target["service"], desiredCount=desired)
        actions.append(f"ecs {resource_id(target)} desired {desired_now}→{desired}")
    for target in scenario.get("docdb", []):
        cluster = docdb.describe_db_clusters(DBClusterIdentifier=target["cluster"])["DBClusters"][0]
        readers = [m for m in cluster["DBClusterMembers"] if not m["IsClusterWriter"]]
        for i in range(len(readers), target["replicas"]):
            ident = f"{target['cluster']}-py-reader-{i}"
            docdb.create_db_instance(
                DBInstanceIdentifier=ident,
                DBInstanceClass=target["instance_class"],
                Engine="docdb",
                DBClusterIdentifier=target["cluster"],
                Tags=[{"Key": "created-by", "Value": "python-baseline"}],
            )
            created.append(ident)
            actions.append(f"docdb {target['cluster']} add reader {ident}")
    dynamodb.put_item(
        TableName=TABLE,
        Item={
            "id": {"S": f"run#{name}"},
            "scaled_up_at": {"S": now.isoformat()},
            "baseline": {"M": {k: {"S": v["N"]} for k, v in baseline.items()}},
            "created": {"L": [{"S": c} for c in created]},
        },
        ConditionExpression="attribute_not_exists(id)",
    )
    return answer("acted", name, "scale-up", actions, "scaled up")


def scale_down(name, scenario, run, step, reason):
    actions = []
    baseline = {k: v["S"] for k, v in run["baseline"]["M"].items()}
    for target in scenario.get("ecs", []):
        saved = baseline.get(resource_id(target))
        if saved is None:
            continue
        desired, low, high = (int(v) for v in saved.split(","))
        ecs.update_service(cluster=target["cluster"], service=target["service"], desiredCount=desired)
        autoscaling.register_scalable_target(
            ServiceNamespace="ecs",
            ResourceId=resource_id(target),
            ScalableDimension=ECS_DIMENSION,
            MinCapacity=low,
            MaxCapacity=high,
        )
        actions.append(f"ecs {resource_id(target)} desired →{desired}")
    for ident in (c["S"] for c in run["created"]["L"]):
        docdb.delete_db_instance(DBInstanceIdentifier=ident)
        actions.append(f"docdb delete reader {ident}")
    dynamodb.delete_item(TableName=TABLE, Key={"id": {"S": f"run#{name}"}})
    return answer("acted", name, step, actions, reason)


def quiet(scenario, now):
    """Every metric below its threshold over the last `quiet_for` (settled periods only)."""
    rules = scenario["scale_down"]
    window = seconds(rules["quiet_for"])
    missing_busy = rules.get("missing_data", "busy") == "busy"
    for metric in rules.get("metric", []):
        period = seconds(metric.get("period", "1m"))
        end = now - dt.timedelta(seconds=now.timestamp() % period)
        data = cloudwatch.get_metric_data(
            MetricDataQueries=[
                {
                    "Id": "m",
                    "MetricStat": {
                        "Metric": {
                            "Namespace": metric["namespace"],
                            "MetricName": metric["name"],
                            "Dimensions": [
                                {"Name": k, "Value": v}
                                for k, v in metric.get("dimensions", {}).items()
                            ],
                        },
                        "Period": period,
                        "Stat": metric.get("stat", "Maximum"),
                    },
                }
            ],
            StartTime=end - dt.timedelta(seconds=window),
            EndTime=end,
        )
        values = data["MetricDataResults"][0]["Values"]
        if not values and missing_busy:
            return False
        if any(v >= metric["below"] for v in values):
            return False
    return True


def past_deadline(scenario, run, now):
    deadline = scenario["scale_down"].get("deadline")
    if deadline is None:
        return False
    zone = ZoneInfo(scenario.get("timezone", "UTC"))
    up = when(run["scaled_up_at"]["S"]).astimezone(zone)
    hour, minute = (int(v) for v in deadline.split(":"))
    at = up.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if at <= up:
        at += dt.timedelta(days=1)
    return now >= at


def check(name, scenario, now, step):
    run = load_run(name)
    if run is None:
        return answer("skipped", name, step, [], "no open run")
    rules = scenario["scale_down"]
    if now < when(run["scaled_up_at"]["S"]) + dt.timedelta(seconds=seconds(rules.get("min_hold", "0s"))):
        return answer("deferred", name, step, [], "within min_hold")
    if past_deadline(scenario, run, now):
        return scale_down(name, scenario, run, step, "past the deadline")
    if quiet(scenario, now):
        return scale_down(name, scenario, run, step, "quiet")
    return answer("deferred", name, step, [], "batch busy")


def completion_scenario(event):
    group = event.get("detail", {}).get("group")
    for name, scenario in SCENARIOS.items():
        for rule in scenario.get("completion", []):
            if rule.get("source") == event.get("source") and rule.get("group") == group:
                return name
    raise ValueError(f"no scenario completes on {event.get('source')} group {group}")


def handler(event, context):
    CALLS[0] = 0
    result = dict(guarded(event, context))
    result["aws_calls"] = CALLS[0]
    return result


@idempotent(config=idempotency, persistence_store=persistence)
def guarded(event, context):
    if "source" in event:
        name, step = completion_scenario(event), "check"
        now = when(event["time"])
    else:
        name, step = event["scenario"], event["step"]
        now = when(event.get("now") or event["scheduled_time"])
    scenario = SCENARIOS[name]
    if step == "scale-up":
        return scale_up(name, scenario, now)
    if step == "check":
        return check(name, scenario, now, step)
    if step == "scale-down":
        run = load_run(name)
        if run is None:
            return answer("skipped", name, step, [], "no open run")
        return scale_down(name, scenario, run, step, "scheduled scale-down")
    raise ValueError(f"unknown step {step!r}")
