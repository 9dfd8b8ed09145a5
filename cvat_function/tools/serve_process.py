"""Start `serve` in a subprocess on free ports, wait until it is ready, stop it: for tests, soak and bench.

Every wait is bounded; `stop()` sends SIGTERM (what Ctrl-C does), then kills what is left.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from .entry import framework_path


class ServeError(RuntimeError):
    pass


class ServeProcess:
    """`python -m cvat_function serve --root ROOT …` on free ports (port 0), its log in `log_path`."""

    def __init__(
        self,
        root: str | Path,
        args: Sequence[str] = (),
        *,
        log_path: str | Path | None = None,
        env: dict[str, str] | None = None,
        port_file: str | Path | None = None,
    ) -> None:
        self.root = Path(root).resolve()
        self.args = list(args)
        self.log_path = Path(log_path) if log_path else None
        self.env = env
        self.port_file = Path(port_file) if port_file else None
        self.process: subprocess.Popen[bytes] | None = None
        self.ports: dict[str, Any] = {}
        self._log: IO[bytes] | None = None

    def start(self, timeout: float = 30.0) -> ServeProcess:
        if self.port_file is None:
            fd_dir = self.log_path.parent if self.log_path else Path(os.environ.get("TMPDIR", "/tmp"))
            self.port_file = fd_dir / f"serve-ports-{os.getpid()}-{time.monotonic_ns()}.json"
        self.port_file.unlink(missing_ok=True)
        command = [
            sys.executable, "-m", "cvat_function", "serve", "--root", str(self.root),
            "--port-base", "0", "--dashboard-port", "0", "--port-file", str(self.port_file), *self.args,
        ]  # fmt: skip
        env = dict(os.environ if self.env is None else self.env)
        env["PYTHONPATH"] = os.pathsep.join([str(framework_path()), *filter(None, [env.get("PYTHONPATH")])])
        self._log = open(self.log_path, "ab") if self.log_path else None  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            command,
            cwd=self.root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log or subprocess.DEVNULL,
            stderr=subprocess.STDOUT if self._log else subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.port_file.is_file():
                self.ports = json.loads(self.port_file.read_text(encoding="utf-8"))
                return self
            if self.process.poll() is not None:
                raise ServeError(f"serve exited with code {self.process.returncode}: {self.log_tail()}")
            time.sleep(0.05)
        self.stop()
        raise ServeError(f"serve did not bind its ports within {timeout:g} s: {self.log_tail()}")

    @property
    def dashboard_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['dashboard']}"

    def url(self, name: str | None = None) -> str:
        functions = self.ports["functions"]
        port = functions[name] if name else next(iter(functions.values()))
        return f"http://127.0.0.1:{port}/"

    def wait_ready(self, timeout: float = 60.0, url: str | None = None) -> None:
        """Until `GET /ready` (the dashboard's: every function) answers 200."""
        target = url or f"{self.dashboard_url}/ready"
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise ServeError(f"serve exited with code {self.process.returncode}: {self.log_tail()}")
            try:
                with urllib.request.urlopen(target, timeout=5) as response:
                    if response.status == 200:
                        return
            except urllib.error.HTTPError as e:
                last = e.read().decode("utf-8", "replace")
            except OSError as e:
                last = str(e)
            time.sleep(0.1)
        raise ServeError(f"{target} was not ready within {timeout:g} s ({last}): {self.log_tail()}")

    def pids(self) -> list[int]:
        """The server and all its descendants (the workers), from /proc."""
        if self.process is None:
            return []
        return [self.process.pid, *descendants(self.process.pid)]

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM, then SIGKILL after `timeout`; returns the exit code."""
        process = self.process
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        if self._log:
            self._log.close()
            self._log = None
        if self.port_file:
            self.port_file.unlink(missing_ok=True)
        return process.returncode

    def log_tail(self, chars: int = 3000) -> str:
        if self.log_path and self.log_path.is_file():
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]
        return "(no log)"

    def __enter__(self) -> ServeProcess:
        return self if self.process else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def descendants(pid: int) -> list[int]:
    """Every process below `pid`, read from /proc (Linux); [] elsewhere."""
    children: dict[int, list[int]] = {}
    proc = Path("/proc")
    if not proc.is_dir():
        return []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def rss_bytes(pids: Sequence[int]) -> int:
    """Summed resident set size of `pids` (VmRSS in /proc/<pid>/status)."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
                    break
        except OSError:
            continue
    return total
