"""The Lambda side: a Runtime API host per bootstrap process, and the process itself.

`RuntimeApi` serves /2018-06-01/runtime/... on a loopback port, as Lambda does for one execution
environment: `GET invocation/next` is long-polled and answered with the event and the
Lambda-Runtime-Aws-Request-Id / -Deadline-Ms / -Invoked-Function-Arn / -Trace-Id headers;
`POST invocation/{id}/response`, `invocation/{id}/error` and `init/error` are collected.
`Function` is one real `bootstrap` process with its own host, started with the environment Lambda
gives a function (as `lambda_environment` of integration/support/src/host/function.rs does), its
output in a log file. It can be killed with SIGKILL at any moment.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import wire

API = "/2018-06-01/runtime"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:nightshift"
# How long after its deadline an invocation's answer is still awaited: the function fits its work
# into the deadline; the grace is for a loaded machine delivering the answer late.
ANSWER_GRACE_S = 15.0
# How long a process may take to ask for an event it was given: only a backstop for a process that
# hangs in init (an exit is seen at once); a loaded machine can take many seconds to start one.
STARTUP_S = 120.0


@dataclass
class Answer:
    kind: str  # "response" | "error" | "lost" (the process died or never answered)
    body: dict = field(default_factory=dict)
    error_type: str = ""
    error_message: str = ""

    @property
    def outcome(self) -> str:
        if self.kind == "response":
            return str(self.body.get("outcome", "?"))
        if self.kind == "error":
            return f"error {self.error_type}"
        return "lost"


@dataclass
class Invocation:
    request_id: str
    payload: bytes
    timeout_s: float
    future: asyncio.Future
    deadline_ms: int = 0
    handed_out: float = 0.0


class RuntimeApi:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[Invocation] = asyncio.Queue()
        self.current: Invocation | None = None
        self.init_error: dict | None = None
        self.unexpected: list[str] = []
        self.server: asyncio.base_events.Server | None = None
        self.address = ""

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        self.address = f"127.0.0.1:{port}"
        return self.address

    async def close(self) -> None:
        if self.server:
            self.server.close()
            # Do not wait for long-polls of a dead process to drain: close their transports.
            self.server = None

    def enqueue(self, payload: bytes, timeout_s: float, request_id: str | None = None) -> Invocation:
        inv = Invocation(
            request_id=request_id or str(uuid.uuid4()),
            payload=payload,
            timeout_s=timeout_s,
            future=asyncio.get_running_loop().create_future(),
        )
        self.queue.put_nowait(inv)
        return inv

    def current_request_id(self) -> str | None:
        return self.current.request_id if self.current else None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    req = await wire.read_request(reader)
                except (wire.BadHttp, asyncio.IncompleteReadError, ConnectionError, ValueError):
                    return
                if req is None:
                    return
                answer = await self._route(req, reader)
                if answer is None:
                    return
                writer.write(answer.encode())
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            return
        finally:
            writer.close()

    async def _route(self, req: wire.Request, reader: asyncio.StreamReader) -> wire.Response | None:
        accepted = wire.response(202, b'{"status":"OK"}', [("Content-Type", "application/json")])
        path = req.path
        if not path.startswith(API):
            self.unexpected.append(f"{req.method} {req.target}")
            return wire.response(404, b'{"errorMessage":"not served"}')
        rest = path[len(API):]
        if req.method == "GET" and rest == "/invocation/next":
            # Long poll; give up (and keep the event queued) if the process goes away meanwhile.
            getter = asyncio.ensure_future(self.queue.get())
            eof = asyncio.ensure_future(reader.read(1))
            done, _ = await asyncio.wait({getter, eof}, return_when=asyncio.FIRST_COMPLETED)
            if getter not in done:
                getter.cancel()
                await asyncio.gather(getter, return_exceptions=True)
                if getter.done() and not getter.cancelled() and getter.exception() is None:
                    self.queue.put_nowait(getter.result())  # taken just as the peer left: keep it
                return None
            # The process is waiting for this answer and sends nothing meanwhile: stop watching.
            eof.cancel()
            await asyncio.gather(eof, return_exceptions=True)
            inv = getter.result()
            now = time.time()
            inv.deadline_ms = int((now + inv.timeout_s) * 1000)
            inv.handed_out = now
            self.current = inv
            trace = uuid.uuid4().hex
            return wire.response(
                200,
                inv.payload,
                [
                    ("Content-Type", "application/json"),
                    ("Lambda-Runtime-Aws-Request-Id", inv.request_id),
                    ("Lambda-Runtime-Deadline-Ms", str(inv.deadline_ms)),
                    ("Lambda-Runtime-Invoked-Function-Arn", FUNCTION_ARN),
                    ("Lambda-Runtime-Trace-Id", f"Root=1-{int(now):08x}-{trace[:24]};Parent={trace[8:24]};Sampled=0"),
                ],
            )
        if req.method == "POST" and rest == "/init/error":
            self.init_error = _json(req.body)
            return accepted
        if req.method == "POST" and rest.startswith("/invocation/"):
            tail = rest[len("/invocation/"):]
            request_id, _, what = tail.partition("/")
            inv = self.current if self.current and self.current.request_id == request_id else None
            if inv is None or inv.future.done():
                return wire.response(400, b'{"errorMessage":"Invalid request ID","errorType":"InvalidRequestID"}')
            if what == "response":
                inv.future.set_result(Answer("response", _json(req.body)))
            elif what == "error":
                body = _json(req.body)
                inv.future.set_result(
                    Answer("error", body, str(body.get("errorType", "")), str(body.get("errorMessage", "")))
                )
            else:
                self.unexpected.append(f"{req.method} {req.target}")
                return wire.response(404, b"{}")
            self.current = None
            return accepted
        self.unexpected.append(f"{req.method} {req.target}")
        return wire.response(404, b'{"errorMessage":"not served"}')


def _json(body: bytes) -> dict:
    try:
        value = json.loads(body)
        return value if isinstance(value, dict) else {"value": value}
    except ValueError:
        return {"raw": body.decode("utf-8", "replace")}


def lambda_environment(runtime_api: str) -> dict[str, str]:
    """What Lambda sets for a function (as integration/support/src/host/function.rs does)."""
    return {
        "AWS_LAMBDA_RUNTIME_API": runtime_api,
        "AWS_LAMBDA_FUNCTION_NAME": "nightshift",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/nightshift",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/12/01/[$LATEST]reliability",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_EXECUTION_ENV": "AWS_Lambda_provided.al2023",
        "LAMBDA_TASK_ROOT": "/var/task",
        "LAMBDA_RUNTIME_DIR": "/var/runtime",
        "TZ": ":UTC",
        "LANG": "en_US.UTF-8",
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
    }


class Function:
    """One bootstrap process served by its own RuntimeApi, its AWS traffic through `endpoint`."""

    def __init__(self, name: str, binary: str, config: Path, table: str, endpoint: str, logdir: Path, extra_env: dict[str, str] | None = None) -> None:
        self.name = name
        self.binary = binary
        self.config = config
        self.table = table
        self.endpoint = endpoint
        self.log = logdir / f"{name}.log"
        self.extra_env = extra_env or {}
        self.api = RuntimeApi()
        self.proc: asyncio.subprocess.Process | None = None
        self.killed = False

    async def start(self) -> None:
        address = await self.api.start()
        env = lambda_environment(address)
        env.update(
            {
                "NIGHTSHIFT_CONFIG": str(self.config),
                "NIGHTSHIFT_TABLE": self.table,
                "AWS_REGION": "us-east-1",
                "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_ACCESS_KEY_ID": "AKIDNIGHTSHIFTRELIABILITY",
                "AWS_SECRET_ACCESS_KEY": "nightshift-reliability-secret",
                "AWS_ENDPOINT_URL": self.endpoint,
                "AWS_EC2_METADATA_DISABLED": "true",
                "APP_ENV": "reliability",
            }
        )
        env.update(self.extra_env)
        self.logfile = open(self.log, "ab")
        self.proc = await asyncio.create_subprocess_exec(
            self.binary,
            env=env,
            cwd=str(self.config.parent),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=self.logfile,
            stderr=self.logfile,
        )

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def kill(self) -> None:
        """SIGKILL, now (called from the proxy's hook, inside the event loop)."""
        if self.proc and self.proc.returncode is None and not self.killed:
            self.killed = True
            try:
                os.kill(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            inv = self.api.current
            if inv and not inv.future.done():
                inv.future.set_result(Answer("lost", error_message="killed with SIGKILL"))

    async def invoke(self, payload: bytes, timeout_s: float = 30.0, request_id: str | None = None) -> tuple[Invocation, Answer]:
        inv = self.api.enqueue(payload, timeout_s, request_id)
        return inv, await self.wait(inv)

    async def wait(self, inv: Invocation) -> Answer:
        # The answer, or "lost" when the process dies or does not answer by its deadline plus a
        # grace (the host, not the function, enforces it, as Lambda does). The deadline runs from
        # when the process takes the event, not from this call: on a loaded machine a fresh
        # process can take many seconds to start and ask for it (STARTUP_S, only a backstop).
        assert self.proc is not None
        exited = asyncio.ensure_future(self.proc.wait())
        waiting_since = time.monotonic()
        try:
            while not (inv.future.done() or exited.done()):
                if inv.deadline_ms:
                    left = inv.deadline_ms / 1000 + ANSWER_GRACE_S - time.time()
                else:
                    left = STARTUP_S - (time.monotonic() - waiting_since)
                if left <= 0:
                    break
                # Wakes at once on an answer or an exit; the cap re-reads the deadline once the
                # event is handed out.
                await asyncio.wait({inv.future, exited}, timeout=min(left, 1.0), return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not exited.done():
                exited.cancel()
        if inv.future.done():
            return inv.future.result()
        if exited.done():
            return Answer("lost", error_message=f"bootstrap exited ({self.proc.returncode})")
        if not inv.deadline_ms:
            return Answer("lost", error_message=f"the function did not ask for the event within {STARTUP_S:.0f}s")
        return Answer("lost", error_message=f"no answer within {ANSWER_GRACE_S:.0f}s after the deadline")

    async def stop(self) -> None:
        if self.proc and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        await self.api.close()
        if getattr(self, "logfile", None):
            self.logfile.close()

    def panics(self) -> list[str]:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return []
        return [line for line in text.splitlines() if "panicked" in line or "RUST_BACKTRACE" in line]
