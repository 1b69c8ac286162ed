"""A real `tensorboard` process on 127.0.0.1 and a free port, for end-to-end tests."""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TensorBoardProcess:
    """Starts `python -m tensorboard.main`, waits until it serves, stops it by its own pid."""

    def __init__(self, logdir, load_fast="true", extra_args=(), reload_interval=1, env=None):
        self.logdir = str(logdir)
        self.load_fast = load_fast
        self.extra_args = list(extra_args)
        self.reload_interval = reload_interval
        self.env = env
        self.proc = None
        self.port = None
        self.log_path = None

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self, timeout=90):
        import tempfile

        for _ in range(3):
            self.port = free_port()
            fd, self.log_path = tempfile.mkstemp(prefix="tensorboard-", suffix=".log")
            env = dict(os.environ, **(self.env or {}))
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tensorboard.main",
                    "--logdir",
                    self.logdir,
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--load_fast",
                    self.load_fast,
                    "--reload_interval",
                    str(self.reload_interval),
                    *self.extra_args,
                ],
                stdout=fd,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
            os.close(fd)
            deadline = time.time() + timeout
            while time.time() < deadline:
                if self.proc.poll() is not None:
                    break
                try:
                    self.get_json("/data/plugins_listing")
                    return self
                except (urllib.error.URLError, ConnectionError, OSError):
                    time.sleep(0.3)
            self.stop()
        raise RuntimeError("tensorboard did not start:\n" + self.log())

    def log(self):
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()[-5000:]
        except OSError:
            return ""

    def get(self, path, timeout=60):
        """(status, headers, body) of a GET; 4xx/5xx are returned, not raised."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=timeout) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def get_json(self, path, timeout=60):
        status, _, body = self.get(path, timeout)
        if status != 200:
            raise urllib.error.URLError("%s -> %d %s" % (path, status, body[:300]))
        return json.loads(body)

    def wait_for(self, predicate, timeout=60, interval=0.5):
        """Poll until predicate() is truthy (TensorBoard loads logdirs in the background)."""
        deadline = time.time() + timeout
        last_error = None
        while time.time() < deadline:
            try:
                value = predicate()
                if value:
                    return value
            except Exception as e:  # not loaded yet
                last_error = e
            time.sleep(interval)
        raise AssertionError("condition not met within %ss (last error: %r)\n%s" % (timeout, last_error, self.log()))

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            # Only the process group this object started.
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


@contextlib.contextmanager
def serving_runs(logdir, runs, **options):
    """A TensorBoard on `logdir` (TensorBoardProcess `options`), once the plugin lists every run of
    `runs`; stopped afterwards."""
    with TensorBoardProcess(logdir, **options) as proc:
        proc.wait_for(lambda: set(runs) <= set(proc.get_json("/data/plugin/tb_attention/tags")["runs"]))
        yield proc
