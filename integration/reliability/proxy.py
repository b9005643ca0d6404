"""The AWS-side wire: a recording, fault-injecting HTTP proxy between the SDK and moto_server.

The bootstrap under test gets AWS_ENDPOINT_URL=<one of this proxy's ports>, so every AWS call it
makes passes here. Each listening port is tagged with the name of the one bootstrap process that
uses it, which attributes every call to a process (and, through its Runtime API host, to the
invocation in flight). For every request the proxy records service, operation, the SDK attempt
number (`amz-sdk-request: attempt=N`), status and any fault; it can

- answer without forwarding: ThrottlingException (400), 500, 503, each in the service's protocol
  shape (wire.error_answer): the call did not happen;
- forward, then hold the answer longer than the SDK's per-attempt timeout (`delay`): the call
  happened, the SDK gave up on it and retries;
- forward, then reset the connection (`reset`, RST via SO_LINGER 0): the call happened, the
  answer is lost;
- run hooks before forwarding and after the answer (the crash part kills the process there).

Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import collections
import random
import socket
import struct
import time
from dataclasses import dataclass, field
from typing import Callable

import wire

FAULT_KINDS = ("throttle", "500", "503", "delay", "reset")


@dataclass
class Record:
    seq: int
    client: str  # the tag of the listening port: which bootstrap process
    invocation: str | None  # the Lambda request ID in flight on that process, if known
    call: wire.AwsCall
    attempt: int  # the SDK's attempt number (1 = first try)
    invocation_id: str  # amz-sdk-invocation-id: one operation across its attempts
    started: float
    status: int | None = None  # what the client was answered (None: nothing, e.g. reset)
    upstream_status: int | None = None  # what moto answered (None: not forwarded)
    fault: str | None = None
    note: str = ""

    @property
    def forwarded(self) -> bool:
        return self.upstream_status is not None


@dataclass
class FaultPlan:
    """Which faults to inject: `rate` per request for every (service, operation) it matches."""

    rate: float = 0.0
    kinds: tuple[str, ...] = FAULT_KINDS
    weights: tuple[float, ...] | None = None
    # (service, operation) → rate; "*" matches any. Absent: `rate`.
    per_op: dict[tuple[str, str], float] = field(default_factory=dict)
    seed: int = 0
    delay_s: float = 6.0  # > the SDK's per-attempt timeout (5 s, src/aws/mod.rs Timeouts)
    max_delays: int | None = None  # delays cost wall time: cap them per run
    # Deterministic faults: (name, predicate on the record, kind, nth match). Each fires once, on
    # the first attempt of the nth request it matches; the random rate is not applied to those.
    targeted: list[tuple[str, Callable[["Record"], bool], str, int]] = field(default_factory=list)
    rng: random.Random = field(init=False)
    delays: int = field(init=False, default=0)
    fired: list[str] = field(init=False, default_factory=list)
    _seen: dict = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def rate_for(self, call: wire.AwsCall) -> float:
        for key in ((call.service, call.operation), (call.service, "*"), ("*", call.operation)):
            if key in self.per_op:
                return self.per_op[key]
        return self.rate

    def decide(self, rec: "Record") -> str | None:
        for name, match, kind, nth in self.targeted:
            if rec.attempt == 1 and name not in self.fired and match(rec):
                self._seen[name] = self._seen.get(name, 0) + 1
                if self._seen[name] == nth:
                    self.fired.append(name)
                    return kind
        call = rec.call
        rate = self.rate_for(call)
        if rate <= 0 or self.rng.random() >= rate:
            return None
        kinds = list(self.kinds)
        weights = list(self.weights) if self.weights else None
        if self.max_delays is not None and self.delays >= self.max_delays and "delay" in kinds:
            i = kinds.index("delay")
            kinds.pop(i)
            if weights:
                weights.pop(i)
        if not kinds:
            return None
        kind = self.rng.choices(kinds, weights=weights)[0]
        if kind == "delay":
            self.delays += 1
        return kind


# A hook sees the record (and, after forwarding, moto's answer) and returns True to kill the
# client process at that point (the proxy then closes the connection without answering).
BeforeHook = Callable[[Record], bool]
AfterHook = Callable[[Record, wire.Response], bool]


class Proxy:
    def __init__(self, upstream: str, faults: FaultPlan | None = None) -> None:
        host, _, port = upstream.removeprefix("http://").rstrip("/").partition(":")
        self.up_host, self.up_port = host, int(port or 80)
        self.faults = faults or FaultPlan()
        self.records: list[Record] = []
        self.servers: dict[str, asyncio.base_events.Server] = {}
        self.urls: dict[str, str] = {}
        self.current_invocation: dict[str, Callable[[], str | None]] = {}
        self.killers: dict[str, Callable[[], None]] = {}
        self.before: BeforeHook | None = None
        self.after: AfterHook | None = None
        self.faults_enabled = True
        self._seq = 0
        self.errors: list[str] = []

    async def listen(self, client: str) -> str:
        """A new loopback port for `client`; returns its URL (the AWS_ENDPOINT_URL to give it)."""

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await self._serve(client, reader, writer)

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        self.servers[client] = server
        self.urls[client] = f"http://127.0.0.1:{port}"
        return self.urls[client]

    async def close_client(self, client: str) -> None:
        server = self.servers.pop(client, None)
        if server:
            server.close()
            await server.wait_closed()

    async def close(self) -> None:
        for client in list(self.servers):
            await self.close_client(client)

    # -----------------------------------------------------------------------------------------

    async def _serve(self, client: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    req = await wire.read_request(reader)
                except (wire.BadHttp, asyncio.IncompleteReadError, ConnectionError, ValueError):
                    return
                if req is None:
                    return
                keep = await self._handle(client, req, writer)
                if not keep:
                    return
        finally:
            try:
                writer.close()
            except Exception:  # noqa: BLE001 - the peer may be gone (killed)
                pass

    async def _handle(self, client: str, req: wire.Request, writer: asyncio.StreamWriter) -> bool:
        call = wire.classify(req)
        attempt = 1
        sdk = req.header("amz-sdk-request") or ""
        for part in sdk.split(";"):
            k, _, v = part.strip().partition("=")
            if k == "attempt" and v.isdigit():
                attempt = int(v)
        self._seq += 1
        current = self.current_invocation.get(client)
        rec = Record(
            seq=self._seq,
            client=client,
            invocation=current() if current else None,
            call=call,
            attempt=attempt,
            invocation_id=req.header("amz-sdk-invocation-id") or "",
            started=time.monotonic(),
        )
        self.records.append(rec)

        if self.before and self.before(rec):
            rec.note = "killed before forwarding"
            self._kill(client)
            return False

        fault = self.faults.decide(rec) if self.faults_enabled else None
        if fault in ("throttle", "500", "503"):
            rec.fault = fault
            answer = wire.error_answer(call, fault)
            rec.status = answer.status
            return await self._send(writer, answer)

        try:
            upstream = await self._forward(req)
        except Exception as e:  # noqa: BLE001 - moto unreachable: answer 502, record it
            self.errors.append(f"forwarding {call.service} {call.operation}: {e!r}")
            rec.status = 502
            return await self._send(writer, wire.response(502, b"proxy: upstream failed"))
        rec.upstream_status = upstream.status

        if self.after and self.after(rec, upstream):
            rec.note = "killed after the answer"
            self._kill(client)
            return False

        if fault == "reset":
            rec.fault = fault
            sock = writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return False
        if fault == "delay":
            rec.fault = fault
            await asyncio.sleep(self.faults.delay_s)
        rec.status = upstream.status
        return await self._send(writer, upstream)

    def _kill(self, client: str) -> None:
        killer = self.killers.get(client)
        if killer:
            killer()

    async def _send(self, writer: asyncio.StreamWriter, answer: wire.Response) -> bool:
        try:
            writer.write(answer.encode())
            await writer.drain()
            return True
        except (ConnectionError, RuntimeError):
            return False

    async def _forward(self, req: wire.Request) -> wire.Response:
        reader, writer = await asyncio.open_connection(self.up_host, self.up_port)
        try:
            writer.write(req.encode({"Connection": "close"}, drop={"connection"}))
            await writer.drain()
            return await asyncio.wait_for(wire.read_response(reader), timeout=60)
        finally:
            writer.close()

    def dump(self, path) -> None:
        """The wire log, one JSON line per request (kept with the run's logs)."""
        import json

        with open(path, "w") as out:
            for r in self.records:
                out.write(json.dumps({
                    "seq": r.seq, "client": r.client, "invocation": r.invocation, "service": r.call.service,
                    "operation": r.call.operation, "resource": r.call.resource(), "item": r.call.item_key() if r.call.service == "dynamodb" else None,
                    "attempt": r.attempt, "sdk_invocation": r.invocation_id, "status": r.status, "upstream_status": r.upstream_status,
                    "fault": r.fault, "note": r.note,
                }) + "\n")

    # Figures ---------------------------------------------------------------------------------

    @staticmethod
    def actions(records: list[Record]) -> tuple[collections.Counter, int]:
        """Mutating calls as actions: (operation → how many distinct resources it reached moto
        for, double actions). A re-send of one SDK operation (after a lost answer or a 5xx) is one
        action; a double action is one resource accepted (2xx) by two different SDK operations."""
        mutating = [r for r in records if r.call.mutating and r.forwarded]
        pairs = {(r.call.operation, r.call.resource()) for r in mutating}
        accepted: dict = collections.defaultdict(set)
        for r in mutating:
            if 200 <= (r.upstream_status or 0) < 300:
                accepted[(r.call.operation, r.call.resource())].add(r.invocation_id)
        doubles = sum(len(ops) - 1 for ops in accepted.values() if len(ops) > 1)
        return collections.Counter(op for op, _ in pairs), doubles

    def faults_by_kind(self, records: list[Record] | None = None) -> dict[str, int]:
        out = {k: 0 for k in FAULT_KINDS}
        for r in self.records if records is None else records:
            if r.fault:
                out[r.fault] += 1
        return out

    def retries(self, records: list[Record] | None = None) -> int:
        return sum(1 for r in (self.records if records is None else records) if r.attempt > 1)

