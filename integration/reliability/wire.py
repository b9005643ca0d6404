"""HTTP/1.1 framing and AWS request classification for the reliability harness (stdlib only).

What the proxy needs to know about one request without any AWS SDK: the service (from the SigV4
credential scope of the Authorization header), the operation (X-Amz-Target for the JSON
protocols: DynamoDB, ECS, Application Auto Scaling; Action= for the Query protocol: RDS, which
DocumentDB is; the URL path for CloudWatch's Smithy RPC v2 CBOR), whether it mutates scaling
state, and, for DynamoDB, which item it touches. And how each protocol shapes an error answer, so
that an injected ThrottlingException or 5xx reads to the SDK exactly as AWS would send it.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import re
import urllib.parse
import uuid
from dataclasses import dataclass, field

# ---------------------------------------------------------------------------------------------
# HTTP/1.1
# ---------------------------------------------------------------------------------------------


@dataclass
class Request:
    method: str
    target: str  # request-target, e.g. "/" or "/service/X/operation/Op?x=1"
    version: str
    headers: list[tuple[str, str]]  # as received (case kept)
    body: bytes

    def header(self, name: str) -> str | None:
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    def encode(self, extra_headers: dict[str, str] | None = None, drop: set[str] = frozenset()) -> bytes:
        """The request re-framed with Content-Length (chunked bodies were de-chunked)."""
        drop = {d.lower() for d in drop} | {"content-length", "transfer-encoding"}
        lines = [f"{self.method} {self.target} HTTP/1.1"]
        for k, v in self.headers:
            if k.lower() not in drop:
                lines.append(f"{k}: {v}")
        for k, v in (extra_headers or {}).items():
            lines.append(f"{k}: {v}")
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body


@dataclass
class Response:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    def encode(self) -> bytes:
        lines = [f"HTTP/1.1 {self.status} {self.reason}"]
        for k, v in self.headers:
            if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                lines.append(f"{k}: {v}")
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body


class BadHttp(Exception):
    pass


async def _read_headers(reader: asyncio.StreamReader) -> tuple[str, list[tuple[str, str]]] | None:
    first = await reader.readline()
    if not first:
        return None
    while first in (b"\r\n", b"\n"):  # tolerate stray blank lines between requests
        first = await reader.readline()
        if not first:
            return None
    headers: list[tuple[str, str]] = []
    while True:
        line = await reader.readline()
        if not line:
            raise BadHttp("connection closed inside the headers")
        line = line.rstrip(b"\r\n")
        if not line:
            break
        name, sep, value = line.decode("latin-1").partition(":")
        if not sep:
            raise BadHttp(f"bad header line {line!r}")
        headers.append((name.strip(), value.strip()))
    return first.decode("latin-1").rstrip("\r\n"), headers


def _get(headers: list[tuple[str, str]], name: str) -> str | None:
    for k, v in headers:
        if k.lower() == name:
            return v
    return None


async def _read_body(reader: asyncio.StreamReader, headers: list[tuple[str, str]], until_eof: bool) -> bytes:
    te = _get(headers, "transfer-encoding")
    if te and "chunked" in te.lower():
        body = bytearray()
        while True:
            size_line = await reader.readline()
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                # trailers until an empty line
                while True:
                    t = await reader.readline()
                    if t in (b"\r\n", b"\n", b""):
                        break
                return bytes(body)
            body += await reader.readexactly(size)
            await reader.readexactly(2)
    length = _get(headers, "content-length")
    if length is not None:
        return await reader.readexactly(int(length))
    if until_eof:
        return await reader.read()
    return b""


async def read_request(reader: asyncio.StreamReader) -> Request | None:
    head = await _read_headers(reader)
    if head is None:
        return None
    line, headers = head
    parts = line.split(" ")
    if len(parts) != 3:
        raise BadHttp(f"bad request line {line!r}")
    body = await _read_body(reader, headers, until_eof=False)
    return Request(parts[0], parts[1], parts[2], headers, body)


async def read_response(reader: asyncio.StreamReader) -> Response:
    head = await _read_headers(reader)
    if head is None:
        raise BadHttp("upstream closed before answering")
    line, headers = head
    version, _, rest = line.partition(" ")
    code, _, reason = rest.partition(" ")
    body = await _read_body(reader, headers, until_eof=True)
    return Response(int(code), reason or "OK", headers, body)


REASONS = {200: "OK", 202: "Accepted", 400: "Bad Request", 404: "Not Found", 500: "Internal Server Error", 503: "Service Unavailable"}


def response(status: int, body: bytes, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(status, REASONS.get(status, "Status"), headers or [], body)


# ---------------------------------------------------------------------------------------------
# AWS request classification
# ---------------------------------------------------------------------------------------------

CREDENTIAL_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/([^/]+)/([^/]+)/aws4_request")
CBOR_PATH = re.compile(r"^/service/([^/]+)/operation/([^/?]+)")

# Calls that change scaling state (the ones `ScalingClients::execute` makes), by (service, op).
MUTATING = {
    ("ecs", "UpdateService"),
    ("application-autoscaling", "RegisterScalableTarget"),
    ("rds", "CreateDBInstance"),
    ("rds", "DeleteDBInstance"),
    ("rds", "ModifyDBInstance"),
    ("rds", "ModifyDBCluster"),
    ("rds", "FailoverDBCluster"),
    ("events", "PutEvents"),
    # The worker kinds.
    ("batch", "UpdateComputeEnvironment"),
    ("autoscaling", "UpdateAutoScalingGroup"),
}

# AWS Batch speaks REST-JSON: the operation is the path (`POST /v1/<operation in lower case>`).
BATCH_OPERATIONS = {
    op.lower(): op
    for op in ("UpdateComputeEnvironment", "DescribeComputeEnvironments")
}


@dataclass
class AwsCall:
    service: str  # SigV4 service name: dynamodb, ecs, application-autoscaling, rds, monitoring, ...
    region: str
    operation: str
    protocol: str  # json | query | cbor | unknown
    params: dict = field(default_factory=dict)  # JSON body or Query form (single values)

    @property
    def mutating(self) -> bool:
        return (self.service, self.operation) in MUTATING

    def resource(self) -> str:
        """The resource a mutating call acts on, for counting 'once each'."""
        p = self.params
        if self.operation == "UpdateService":
            return f"{p.get('cluster')}/{p.get('service')} desired={p.get('desiredCount')}"
        if self.operation == "RegisterScalableTarget":
            return f"{p.get('ResourceId')} min={p.get('MinCapacity')} max={p.get('MaxCapacity')}"
        if self.service == "rds":
            return str(p.get("DBInstanceIdentifier") or p.get("DBClusterIdentifier") or "")
        if self.operation == "UpdateComputeEnvironment":
            return f"{p.get('computeEnvironment')} {json.dumps(p.get('computeResources'), sort_keys=True)}"
        if self.operation == "UpdateAutoScalingGroup":
            sizes = " ".join(f"{k}={p[k]}" for k in ("MinSize", "DesiredCapacity", "MaxSize") if k in p)
            return f"{p.get('AutoScalingGroupName')} {sizes}"
        return ""

    # DynamoDB item helpers -------------------------------------------------------------
    def item_key(self) -> tuple[str, str]:
        """(pk, sk) of the DynamoDB item a PutItem/UpdateItem/GetItem/DeleteItem touches."""
        src = self.params.get("Item") or self.params.get("Key") or {}
        return _s(src.get("pk")), _s(src.get("sk"))

    def transact_keys(self) -> list[tuple[str, str]]:
        """(pk, sk) of every item a TransactWriteItems writes or checks."""
        keys = []
        for entry in self.params.get("TransactItems") or []:
            for op in entry.values():
                src = op.get("Item") or op.get("Key") or {}
                keys.append((_s(src.get("pk")), _s(src.get("sk"))))
        return keys


def _s(attr: object) -> str:
    if isinstance(attr, dict):
        return str(attr.get("S", ""))
    return ""


def classify(req: Request) -> AwsCall:
    auth = req.header("authorization") or ""
    m = CREDENTIAL_SCOPE.search(auth)
    region, service = (m.group(1), m.group(2)) if m else ("", "unknown")
    target = req.header("x-amz-target")
    body = req.body
    if (req.header("content-encoding") or "").lower() == "gzip":
        try:
            body = gzip.decompress(body)
        except OSError:
            pass
    if target:
        params: dict = {}
        try:
            params = json.loads(body) if body else {}
        except ValueError:
            params = {}
        return AwsCall(service, region, target.rsplit(".", 1)[-1], "json", params if isinstance(params, dict) else {})
    if service == "batch" and req.path.startswith("/v1/"):
        try:
            params = json.loads(body) if body else {}
        except ValueError:
            params = {}
        op = BATCH_OPERATIONS.get(req.path[len("/v1/"):].split("?")[0], req.path)
        return AwsCall(service, region, op, "restjson", params if isinstance(params, dict) else {})
    cm = CBOR_PATH.match(req.path)
    if cm:
        return AwsCall(service, region, cm.group(2), "cbor", {})
    ctype = (req.header("content-type") or "").lower()
    if "x-www-form-urlencoded" in ctype or b"Action=" in body[:4096]:
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        params = {k: v[0] for k, v in form.items()}
        return AwsCall(service, region, params.get("Action", "?"), "query", params)
    q = urllib.parse.parse_qs(req.target.partition("?")[2])
    if "Action" in q:
        return AwsCall(service, region, q["Action"][0], "query", {k: v[0] for k, v in q.items()})
    return AwsCall(service, region, f"{req.method} {req.path}", "unknown", {})


# ---------------------------------------------------------------------------------------------
# Error answers in each protocol's shape
# ---------------------------------------------------------------------------------------------

JSON_NAMESPACES = {
    "dynamodb": "com.amazonaws.dynamodb.v20120810",
    "ecs": "com.amazonaws.ecs",
    "application-autoscaling": "com.amazonaws.applicationautoscaling",
}
QUERY_NAMESPACES = {"rds": "http://rds.amazonaws.com/doc/2014-10-31/"}

# (code, message) per fault kind and protocol family. RDS/CloudWatch (Query heritage) say
# "Throttling"; the JSON services say "ThrottlingException".
FAULT_STATUS = {"throttle": 400, "500": 500, "503": 503}


def error_answer(call: AwsCall, kind: str) -> Response:
    status = FAULT_STATUS[kind]
    query_family = call.protocol in ("query", "cbor")
    if kind == "throttle":
        code, message = ("Throttling" if query_family else "ThrottlingException"), "Rate exceeded"
    elif kind == "500":
        code, message = ("InternalFailure" if query_family else "InternalServerError"), "We encountered an internal error. Please try again."
    else:
        code, message = "ServiceUnavailable", "Service is currently unavailable. Please try again later."
    request_id = str(uuid.uuid4())
    if call.protocol == "query":
        ns = QUERY_NAMESPACES.get(call.service, "http://amazonaws.com/doc/")
        kind_of = "Sender" if status < 500 else "Receiver"
        body = (
            f'<ErrorResponse xmlns="{ns}"><Error><Type>{kind_of}</Type><Code>{code}</Code>'
            f"<Message>{message}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
        return response(status, body, [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)])
    if call.protocol == "cbor":
        import cbor2  # in the emulator's venv (integration/emulator/requirements.txt)

        body = cbor2.dumps({"__type": f"com.amazonaws.cloudwatch#{code}", "message": message})
        return response(
            status,
            body,
            [("Content-Type", "application/cbor"), ("smithy-protocol", "rpc-v2-cbor"), ("x-amzn-RequestId", request_id)],
        )
    ns = JSON_NAMESPACES.get(call.service, "com.amazonaws")
    ctype = {"dynamodb": "application/x-amz-json-1.0", "batch": "application/json"}.get(
        call.service, "application/x-amz-json-1.1"
    )
    body = json.dumps({"__type": f"{ns}#{code}", "message": message}).encode()
    return response(
        status,
        body,
        [("Content-Type", ctype), ("x-amzn-ErrorType", code), ("x-amzn-RequestId", request_id)],
    )
