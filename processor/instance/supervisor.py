"""One instance, several consumer processes: how the processor uses more than one CPU.

Python runs one thread of bytecode at a time, so one processor process tops out at about one CPU.
An instance therefore runs ``processes`` of them (default: one per CPU it may use). Each is a
whole processor and a member of the consumer group in its own right, so partitions, offsets and
at-least-once delivery are the group's business exactly as with separate instances. The
supervisor starts them and stays out of the data path:

- SIGTERM and SIGINT are passed to every process; each drains and commits as it would alone.
- When a process exits unasked (a crash, a halt, a kill), the others are stopped and the
  supervisor exits with that process's code, so the container restarts as a whole.
- A process whose supervisor is gone (SIGKILL) notices within a second and stops cleanly.
- HTTP: the supervisor answers on the instance's port for all of them
  (``processor.instance.endpoints``).

``processor run`` checks the settings, then replaces itself (same PID, so signals still reach
it) with ``python -m processor.instance.supervisor PLAN``: a process that never imports the data
path (aiokafka, pydantic) and so stays at about 20 MiB instead of 45.

Settings travel in the environment, never on a command line: any user on the host can read a
process's arguments (``/proc/PID/cmdline``, ``ps``), only its owner its environment. The settings
given as flags become ``PROCESSOR_*`` variables of the supervisor, and each process inherits them
with its own part on top (its socket, its static id, its client id).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NoReturn

from processor.instance.endpoints import Answer, fetch, merge_metrics
from processor.logs import LogFormat, LogLevel, configure_logging, get_logger
from processor.telemetry.http import (
    HEALTH_PATH,
    METRICS_CONTENT_TYPE,
    METRICS_PATH,
    READY_PATH,
    HttpServer,
    Response,
)
from processor.telemetry.names import PROCESS_UP

log = get_logger("processor.instance.supervisor")


# processor.config.ENV_PREFIX: the supervisor does not load the settings' module (pydantic).
ENV_PREFIX = "PROCESSOR_"


@dataclass(frozen=True, slots=True)
class Plan:
    """What the supervisor needs of the (already checked) settings. No secrets: it is the
    supervisor's command line."""

    processes: int
    client_id: str  # process i is ``<client_id>-i``
    http_host: str = "0.0.0.0"
    http_port: int = 0
    http_unix_socket: str | None = None
    group_instance_id: str | None = None
    log_level: LogLevel = "info"
    log_format: LogFormat = "auto"

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Plan:
        return cls(**json.loads(text))


def setting_variables(given: Mapping[str, str]) -> dict[str, str]:
    """Settings by name as the environment variables that set them."""
    return {ENV_PREFIX + name.upper(): value for name, value in given.items()}


def exec_supervisor(plan: Plan, given: Mapping[str, str]) -> NoReturn:
    """Become the supervisor of ``plan`` (this process image is replaced), with the settings
    ``given`` as flags moved into its environment."""
    sys.stdout.flush()
    sys.stderr.flush()
    argv = [sys.executable, "-m", "processor.instance.supervisor", plan.to_json()]
    os.execve(sys.executable, argv, {**os.environ, **setting_variables(given)})


def child_settings(plan: Plan, index: int, socket: Path) -> dict[str, str]:
    """The settings of process ``index`` beyond the instance's own: its part of the instance."""
    settings = {
        "processes": "1",
        "http_unix_socket": str(socket),
        "client_id": f"{plan.client_id}-{index}",
    }
    if plan.group_instance_id is not None:  # static members need ids of their own
        settings["group_instance_id"] = f"{plan.group_instance_id}-{index}"
    return settings


def exit_code(returncodes: Sequence[int]) -> int:
    """The instance's exit code from its processes' (in the order they exited): the first
    failure's, a death by signal N as 128 + N, like a shell; 0 when every one exited cleanly."""
    for code in returncodes:
        if code != 0:
            return 128 - code if code < 0 else code
    return 0


class Supervisor:
    """Runs ``plan.processes`` processor processes until they have all exited."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.count = plan.processes
        self.stopping = False
        self.processes: list[asyncio.subprocess.Process] = []
        self.sockets: list[Path] = []
        self.exited: dict[int, int] = {}  # process index -> its exit code, in exit order

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        with tempfile.TemporaryDirectory(prefix="processor-") as sockets:
            self.sockets = [Path(sockets) / f"{i}.sock" for i in range(self.count)]
            server = self._http_server()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, self._on_signal, signum)
            try:
                await self._spawn_all()
                log.info("supervising", processes=self.count, pids=[p.pid for p in self.processes])
                if server is not None:
                    await server.start()
                codes = await self._wait_all()
            finally:
                self._forward(signal.SIGTERM)
                for signum in (signal.SIGTERM, signal.SIGINT):
                    loop.remove_signal_handler(signum)
                if server is not None:
                    await server.stop()
        code = exit_code(codes)
        log.info("supervisor_stopped", exit_code=code)
        return code

    async def _spawn_all(self) -> None:
        for index, socket in enumerate(self.sockets):
            argv = [
                sys.executable, "-m", "processor", "run",
                "--process-index", str(index), "--supervisor-pid", str(os.getpid()),
            ]  # fmt: skip
            env = {**os.environ, **setting_variables(child_settings(self.plan, index, socket))}
            self.processes.append(await asyncio.create_subprocess_exec(*argv, env=env))

    async def _wait_all(self) -> list[int]:
        """Wait for every process; their exit codes in the order they exited."""
        loop = asyncio.get_running_loop()
        waits = {loop.create_task(p.wait()): i for i, p in enumerate(self.processes)}
        pending = set(waits)
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                index, code = waits[task], task.result()
                self.exited[index] = code
                if self.stopping:
                    log.info("process_stopped", process=index, exit_code=code)
                else:
                    log.error("process_exited", process=index, exit_code=code)
                    self.stopping = True
                    self._forward(signal.SIGTERM)
        return list(self.exited.values())

    def _on_signal(self, signum: int) -> None:
        """Every signal goes to every process: the second one is theirs to treat as urgent."""
        if not self.stopping:
            log.info("shutdown_requested", signal=signal.Signals(signum).name)
        self.stopping = True
        self._forward(signum)

    def _forward(self, signum: int) -> None:
        for process in self.processes:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signum)

    # HTTP: one address for the whole instance.

    def _http_server(self) -> HttpServer | None:
        p = self.plan
        if not (p.http_port or p.http_unix_socket):
            return None
        routes = {METRICS_PATH: self.metrics, HEALTH_PATH: self.healthz, READY_PATH: self.readyz}
        unix = Path(p.http_unix_socket) if p.http_unix_socket else None
        return HttpServer(routes, p.http_host, p.http_port, unix)

    async def _ask_all(self, path: str) -> list[Answer]:
        return list(await asyncio.gather(*(self._ask(i, path) for i in range(self.count))))

    async def _ask(self, index: int, path: str) -> Answer:
        if index in self.exited:
            return Answer(0, f"exited with code {self.exited[index]}".encode())
        return await fetch(self.sockets[index], path)

    async def metrics(self) -> Response:
        answers = await self._ask_all(METRICS_PATH)
        name = PROCESS_UP.name
        up = [
            f"# HELP {name} {PROCESS_UP.help}",
            f"# TYPE {name} {PROCESS_UP.kind}",
            *(f'{name}{{process="{i}"}} {int(a.status == 200)}' for i, a in enumerate(answers)),
        ]
        texts = [(str(i), a.body.decode()) for i, a in enumerate(answers) if a.status == 200]
        body = "\n".join(up) + "\n" + merge_metrics(texts)
        return Response(200, body.encode(), METRICS_CONTENT_TYPE)

    async def healthz(self) -> Response:
        return _all_of(await self._ask_all(HEALTH_PATH), "ok")

    async def readyz(self) -> Response:
        if self.stopping:
            return Response(503, b"stopping\n")
        return _all_of(await self._ask_all(READY_PATH), "ready")


def _all_of(answers: Sequence[Answer], ok: str) -> Response:
    """200 when every process answered 200; else 503 naming the ones that did not."""
    problems = [
        f"process {i}: {a.body.decode(errors='replace').strip()}"
        for i, a in enumerate(answers)
        if a.status != 200
    ]
    if problems:
        return Response(503, ("\n".join(problems) + "\n").encode())
    return Response(200, f"{ok} ({len(answers)} processes)\n".encode())


def main(argv: Sequence[str]) -> int:
    plan = Plan.from_json(argv[0])
    configure_logging(plan.log_level, plan.log_format)
    try:
        return asyncio.run(Supervisor(plan).run())
    except OSError as exc:  # e.g. no writable temporary directory for the sockets
        print(f"processor: cannot start {plan.processes} processes: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
