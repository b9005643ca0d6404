#!/usr/bin/env python3
"""moto_server for nightshift's integration tests, with two gaps of moto 5.2.5 bridged.

    launcher.py [--host 127.0.0.1] [--port PORT] [--port-file FILE]

The default port 0 lets the kernel choose a free one while binding: no other process can take it
between the choice and the bind. --port-file FILE: once the server listens, its port is written
there (emulator.sh reads it).

1. DocumentDB: moto's RDS backend (which the DocumentDB API is) rejects Engine=docdb.
   `patch_docdb_engine()` teaches it the engine and its defaults.
2. CloudWatch: aws-sdk-cloudwatch >= 1.100 speaks Smithy RPC v2 CBOR, which moto does not serve
   (getmoto/moto#9195). `CborToJson` translates those requests to the JSON 1.0 protocol moto does
   serve, and the answers back, using botocore's CloudWatch model to know each member's type.

3. Capacity faults (a test aid, not a gap): `CapacityFaults` refuses a DocumentDB
   CreateDBInstance with InsufficientDBInstanceCapacity by rule, as AWS does on a busy night.
   Rules are per cluster, so tests running in parallel on one server do not see each other's:
   `POST /nightshift-api/capacity-faults {"cluster": C, "rules": [{"class": K, "zone": Z}]}`
   replaces cluster C's rules (an empty list clears them); a rule without "zone" refuses the class
   in every zone, one with "zone" only there (and its message names the zone, as AWS's does).
   NIGHTSHIFT_EMULATOR_CAPACITY_FAULTS may hold a JSON list of {"cluster", "class", "zone"} rules
   to start with.

4. AWS Batch: moto's UpdateComputeEnvironment ignores computeResources (a "TODO"), so a
   compute environment's minvCpus never changes. `patch_batch_updates()` applies minvCpus,
   maxvCpus and desiredvCpus with AWS's own checks (desiredvCpus only raised, within the bounds;
   an unmanaged environment has no compute resources to update).

5. Lifecycle mode (a test aid, off by default): DocumentDB and ECS at AWS's own pace on a
   virtual clock, with AWS's refusals meanwhile, per registered world; see lifecycle.py.

moto models DocumentDB Serverless already (ServerlessV2ScalingConfiguration on CreateDBCluster,
ModifyDBCluster and DescribeDBClusters; class db.serverless), and DBInstance AvailabilityZone.

Everything else is moto's own server (moto.server.main), only with the app wrapped.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import gzip
import io
import json
import os
import signal
import sys
import threading
import urllib.parse
from typing import Any

import botocore.session
import cbor2
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto.rds import models as rds_models
from moto.rds import utils as rds_utils
from werkzeug.serving import make_server

from lifecycle import Lifecycle

# --------------------------------------------------------------------------------------------
# 1. DocumentDB engine
# --------------------------------------------------------------------------------------------

DOCDB = "docdb"
DOCDB_ENGINE_VERSION = "5.0.0"
DOCDB_PORT = 27017
# DocumentDB storage grows with the data: its API "always returns 1" for AllocatedStorage.
DOCDB_ALLOCATED_STORAGE = 1


def _with_docdb(lookup: Any, value: Any) -> staticmethod:
    """Wrap one of moto's per-engine `staticmethod(engine, ...)` tables to answer for docdb."""

    def patched(engine: str, *args: Any, **kwargs: Any) -> Any:
        return value if engine == DOCDB else lookup(engine, *args, **kwargs)

    return staticmethod(patched)


def patch_docdb_engine() -> None:
    # The accepted engine lists are computed from Enums, which cannot gain members: replace the
    # classmethods that list them (moto.rds.models calls them through the class).
    cluster_engines = rds_utils.ClusterEngine.list_cluster_engines
    rds_utils.ClusterEngine.list_cluster_engines = classmethod(
        lambda cls: sorted({*cluster_engines(), DOCDB})
    )
    instance_engines = rds_utils.DbInstanceEngine.valid_db_instance_engine
    rds_utils.DbInstanceEngine.valid_db_instance_engine = classmethod(
        lambda cls: sorted({*instance_engines(), DOCDB})
    )

    cluster = rds_models.DBCluster
    cluster.default_engine_version = _with_docdb(
        cluster.default_engine_version, DOCDB_ENGINE_VERSION
    )
    cluster.default_port = _with_docdb(cluster.default_port, DOCDB_PORT)
    cluster.default_allocated_storage = _with_docdb(
        cluster.default_allocated_storage, DOCDB_ALLOCATED_STORAGE
    )

    instance = rds_models.DBInstance
    # DBInstance keeps its engine versions in a class-level dict rather than a staticmethod.
    instance.default_engine_versions = {
        **instance.default_engine_versions,
        DOCDB: DOCDB_ENGINE_VERSION,
    }
    instance.default_port = _with_docdb(instance.default_port, DOCDB_PORT)
    instance.default_allocated_storage = _with_docdb(
        instance.default_allocated_storage, DOCDB_ALLOCATED_STORAGE
    )


# --------------------------------------------------------------------------------------------
# 2. CloudWatch over Smithy RPC v2 CBOR
# --------------------------------------------------------------------------------------------

CBOR_SERVICE = "GraniteServiceVersion20100801"
CBOR_PREFIX = f"/service/{CBOR_SERVICE}/operation/"
CBOR_TYPE = "application/cbor"
TIMESTAMP_TAG = 1  # RFC 8949 epoch-based date/time


def cbor_to_json_value(value: Any) -> Any:
    """A decoded CBOR request value as JSON 1.0 wants it (timestamps as epoch seconds)."""
    if isinstance(value, dict):
        return {k: cbor_to_json_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [cbor_to_json_value(v) for v in value]
    if isinstance(value, datetime.datetime):  # cbor2 decodes tag 1 to an aware datetime
        return value.timestamp()
    if isinstance(value, cbor2.CBORTag) and value.tag == TIMESTAMP_TAG:
        return value.value
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    return value


def _epoch_seconds(value: Any) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    # JSON protocols may also answer ISO 8601.
    parsed = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.UTC)
    return parsed.timestamp()


def json_to_cbor_value(shape: Any, value: Any) -> Any:
    """A JSON answer value typed by its botocore shape, ready for CBOR.

    The SDK's CBOR decoder is strict: a double must be a CBOR float, an integer a CBOR int and a
    timestamp tag 1, so JSON's loose numbers are coerced by shape here.
    """
    if value is None or shape is None:
        return value
    kind = shape.type_name
    if kind == "structure":
        members = shape.members
        return {k: json_to_cbor_value(members.get(k), v) for k, v in value.items()}
    if kind == "list":
        return [json_to_cbor_value(shape.member, v) for v in value]
    if kind == "map":
        return {k: json_to_cbor_value(shape.value, v) for k, v in value.items()}
    if kind == "timestamp":
        return cbor2.CBORTag(TIMESTAMP_TAG, _epoch_seconds(value))
    if kind in ("double", "float"):
        # cbor2 writes every float as float64; the pinned model has no 32-bit `float` shape.
        return float(value)
    if kind in ("integer", "long", "short", "byte"):
        return int(value)
    if kind == "blob":
        return base64.b64decode(value)
    return value


class CborToJson:
    """WSGI middleware: CloudWatch rpc-v2-cbor in front of moto's JSON 1.0 CloudWatch."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.model = botocore.session.get_session().get_service_model("cloudwatch")

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") != "POST" or not path.startswith(CBOR_PREFIX):
            return self.app(environ, start_response)
        operation = path[len(CBOR_PREFIX) :]
        if operation not in self.model.operation_names:
            return self._error(start_response, "404 Not Found", "UnknownOperation", operation)

        try:
            body = self._read_body(environ)
            payload = cbor2.loads(body) if body else {}
        except Exception as error:  # noqa: BLE001 - an undecodable body is the client's fault
            return self._error(
                start_response, "400 Bad Request", "SerializationException", str(error)
            )
        json_body = json.dumps(cbor_to_json_value(payload)).encode()

        inner = dict(environ)
        inner.update(
            {
                "PATH_INFO": "/",
                "CONTENT_TYPE": "application/x-amz-json-1.0",
                "CONTENT_LENGTH": str(len(json_body)),
                "HTTP_X_AMZ_TARGET": f"{CBOR_SERVICE}.{operation}",
                "wsgi.input": io.BytesIO(json_body),
            }
        )
        inner.pop("HTTP_CONTENT_ENCODING", None)  # decompressed above

        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured["status"], captured["headers"] = status, headers
            return lambda _data: None  # moto never uses the legacy write() callable

        chunks = self.app(inner, capture)
        try:
            answer = b"".join(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()

        status = captured["status"]
        headers = [
            (name, value)
            for name, value in captured["headers"]
            if name.lower() not in ("content-type", "content-length")
        ]
        if not status.startswith("2"):
            return self._error(start_response, status, *self._json_error(answer), headers)

        output = self.model.operation_model(operation).output_shape
        if output is None:
            cbor_body = b""
        else:
            document = json.loads(answer) if answer.strip() else {}
            cbor_body = cbor2.dumps(json_to_cbor_value(output, document))
        return self._respond(start_response, status, cbor_body, headers)

    @staticmethod
    def _read_body(environ: dict[str, Any]) -> bytes:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        # The SDK gzips large PutMetricData bodies (request compression).
        if environ.get("HTTP_CONTENT_ENCODING", "").lower() == "gzip":
            body = gzip.decompress(body)
        return body

    @staticmethod
    def _json_error(answer: bytes) -> tuple[str, str]:
        """(code, message) of a moto error answer, whatever shape it came in."""
        try:
            document = json.loads(answer)
            code = document.get("__type") or document.get("code") or "InternalFailure"
            message = document.get("message") or document.get("Message") or ""
            return str(code), str(message)
        except (ValueError, AttributeError):
            return "InternalFailure", answer.decode("utf-8", "replace")[:1000]

    @staticmethod
    def _error(
        start_response: Any,
        status: str,
        code: str,
        message: str,
        headers: list[tuple[str, str]] | None = None,
    ) -> Any:
        # rpc-v2-cbor errors: a CBOR map with `__type` (the SDK strips any `ns#` prefix) and
        # `message`; an `x-amzn-query-error` header from moto, kept in `headers`, wins over it.
        body = cbor2.dumps({"__type": code, "message": message})
        return CborToJson._respond(start_response, status, body, headers or [])

    @staticmethod
    def _respond(
        start_response: Any, status: str, body: bytes, headers: list[tuple[str, str]]
    ) -> Any:
        start_response(
            status,
            [
                *headers,
                ("Content-Type", CBOR_TYPE),
                ("Content-Length", str(len(body))),
                ("smithy-protocol", "rpc-v2-cbor"),
            ],
        )
        return [body]


# --------------------------------------------------------------------------------------------
# DynamoDB atomicity
# --------------------------------------------------------------------------------------------


class SerializeDynamoDb:
    """Handle DynamoDB requests one at a time.

    DynamoDB evaluates a ConditionExpression and applies the write atomically; moto checks the
    condition and then writes, with no lock between, so two threads of this server can both pass
    the same `attribute_not_exists` check. nightshift's idempotency guard (and its concurrency
    tests) rely on the real guarantee, so the emulator provides it: one lock around DynamoDB
    requests (recognised by their `X-Amz-Target: DynamoDB_20120810.*` header). Other services
    stay concurrent.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            with self.lock:
                # Materialise the body inside the lock: the write has happened when it ends.
                return list(self.app(environ, start_response))
        return self.app(environ, start_response)


# --------------------------------------------------------------------------------------------
# 3. Capacity faults
# --------------------------------------------------------------------------------------------

FAULTS_PATH = "/nightshift-api/capacity-faults"
RDS_XMLNS = "http://rds.amazonaws.com/doc/2014-10-31/"


class CapacityFaults:
    """WSGI middleware: CreateDBInstance refused with InsufficientDBInstanceCapacity by rule."""

    def __init__(self, app: Any, initial: str | None = None) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.rules: dict[str, list[dict[str, str]]] = {}
        for rule in json.loads(initial) if initial else []:
            self.rules.setdefault(rule["cluster"].lower(), []).append(rule)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if path == FAULTS_PATH and environ.get("REQUEST_METHOD") == "POST":
            return self._configure(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if (
            environ.get("REQUEST_METHOD") != "POST"
            or not environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded")
            or length <= 0
            or not self.rules
        ):
            return self.app(environ, start_response)
        body = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(body)  # moto reads it again
        if b"Action=CreateDBInstance" not in body:
            return self.app(environ, start_response)
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
        first = lambda key: (form.get(key) or [""])[0]  # noqa: E731
        cluster, klass, zone = (
            first("DBClusterIdentifier").lower(),
            first("DBInstanceClass"),
            first("AvailabilityZone"),
        )
        with self.lock:
            rules = list(self.rules.get(cluster, []))
        for rule in rules:
            if rule.get("class") != klass:
                continue
            if rule.get("zone") and rule["zone"] != zone:
                continue
            where = f"availability zone {zone}" if rule.get("zone") else "this region"
            message = (
                f"Cannot create a database instance because there is currently insufficient "
                f"capacity in {where} for the instance class {klass}. Try a different "
                f"availability zone or instance class."
            )
            return self._refuse(start_response, message)
        return self.app(environ, start_response)

    def _configure(self, environ: dict[str, Any], start_response: Any) -> Any:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        doc = json.loads(environ["wsgi.input"].read(length) or b"{}")
        with self.lock:
            self.rules[str(doc["cluster"]).lower()] = list(doc.get("rules", []))
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b'{"ok": true}']

    @staticmethod
    def _refuse(start_response: Any, message: str) -> Any:
        body = (
            f'<ErrorResponse xmlns="{RDS_XMLNS}"><Error><Type>Sender</Type>'
            f"<Code>InsufficientDBInstanceCapacity</Code><Message>{message}</Message></Error>"
            f"<RequestId>nightshift-capacity-fault</RequestId></ErrorResponse>"
        ).encode()
        start_response(
            "400 Bad Request",
            [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))],
        )
        return [body]


# --------------------------------------------------------------------------------------------
# 4. AWS Batch compute environment updates
# --------------------------------------------------------------------------------------------

VCPU_KEYS = ("minvCpus", "maxvCpus", "desiredvCpus")


def patch_batch_updates() -> None:
    """Make UpdateComputeEnvironment apply its vCPU counts, refusing what AWS refuses."""
    from moto.batch import models as batch_models
    from moto.batch.exceptions import ClientException

    original = batch_models.BatchBackend.update_compute_environment

    def update(self, compute_environment_name, state, compute_resources, service_role):  # type: ignore[no-untyped-def]
        env = self.get_compute_environment(compute_environment_name)
        new = {
            k: int(v)
            for k, v in (compute_resources or {}).items()
            if k in VCPU_KEYS and v is not None
        }
        if env is not None and new:
            if env.env_type != "MANAGED":
                raise ClientException(
                    "computeResources cannot be updated for an UNMANAGED compute environment"
                )
            current = env.compute_resources
            low = new.get("minvCpus", int(current.get("minvCpus", 0)))
            high = new.get("maxvCpus", int(current["maxvCpus"]))
            if low > high:
                raise ClientException("minvCpus must be less than or equal to maxvCpus")
            desired = int(current.get("desiredvCpus", low))
            if "desiredvCpus" in new:
                if "FARGATE" in current.get("type", ""):
                    raise ClientException("desiredvCpus is not applicable to Fargate")
                if new["desiredvCpus"] < desired:
                    # AWS's words (the Batch user guide, "Error message when you update the
                    # desiredvCpus setting").
                    raise ClientException(
                        "Manually scaling down compute environment is not supported. "
                        "Disconnecting job queues from compute environment will cause it to "
                        "scale-down to minvCpus."
                    )
                if not low <= new["desiredvCpus"] <= high:
                    raise ClientException("desiredvCpus must be between minvCpus and maxvCpus")
            elif "desiredvCpus" in current:
                # Batch keeps desiredvCpus within the new bounds itself.
                new["desiredvCpus"] = min(max(desired, low), high)
            current.update(new)
        return original(self, compute_environment_name, state, None, service_role)

    batch_models.BatchBackend.update_compute_environment = update


# --------------------------------------------------------------------------------------------
# Server
# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=0, help="0 (default): a free port")
    parser.add_argument("--port-file", help="write the port here once the server listens")
    args = parser.parse_args(argv)

    patch_docdb_engine()
    patch_batch_updates()
    # As moto.server.main does (through werkzeug's run_simple), minus its argument handling, plus
    # the wrappers; make_server binds at once, so the port is known before the first request.
    # On SIGTERM (emulator.sh stop) exit at once: a clean interpreter shutdown after a test run's
    # worth of state took over 5 s on a loaded machine, and emulator.sh then had to SIGKILL it.
    signal.signal(signal.SIGTERM, lambda *_: (sys.stdout.flush(), sys.stderr.flush(), os._exit(0)))
    moto_app = Lifecycle(DomainDispatcherApplication(create_backend_app))
    server = make_server(
        args.host,
        args.port,
        SerializeDynamoDb(
            CborToJson(
                CapacityFaults(moto_app, os.environ.get("NIGHTSHIFT_EMULATOR_CAPACITY_FAULTS"))
            )
        ),
        threaded=True,
        request_handler=MotoRequestHandler,
    )
    # moto sends some requests to itself through this port (as moto.server.main sets it).
    os.environ.setdefault("MOTO_PORT", str(server.port))
    server.log_startup()
    if args.port_file:
        write_port_file(args.port_file, server.port)
    server.serve_forever()


def write_port_file(path: str, port: int) -> None:
    """Write `port` to `path` whole or not at all: a reader never sees a partial number."""
    partial = f"{path}.partial-{os.getpid()}"
    with open(partial, "w", encoding="ascii") as out:
        out.write(f"{port}\n")
    os.replace(partial, path)


if __name__ == "__main__":
    main()
