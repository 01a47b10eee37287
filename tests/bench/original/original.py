#!/usr/bin/env python3
"""Runs the original service, the Flask + SQLAlchemy app this API replaces
(github.com/Revanth-0405/ecommerce-api), as the benchmark's reference row.

Its code is never copied into this repository: it is read from a checkout, or exported
from a clone (a bare git directory is fine, e.g. the one the `fetch` tool leaves under
/work/.mirror/) into target/original-src. It runs unchanged except for configuration
(bench_wsgi.py: its database path and its rate limit) in a virtual environment under
target/original-venv with the versions in requirements.txt, served by gunicorn with two
sync workers on a fresh database and orders file.

    python3 tests/bench/original/original.py --original DIR [--port 5000]

serves it in the foreground (Ctrl-C stops it); bench.py uses `OriginalService` directly.
The original has no health route; it answers 401 to a product read without a key.
"""

import argparse
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ORIGINAL_DIR = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(ORIGINAL_DIR)))
VENV = os.path.join(ROOT, "target", "original-venv")
EXPORTED_SOURCE = os.path.join(ROOT, "target", "original-src")
REQUIREMENTS = os.path.join(ORIGINAL_DIR, "requirements.txt")
# Only what the service runs: the clone also holds a Windows virtual environment, a
# SQLite file and an orders file with its author's data, none of which the benchmark
# may start from.
SOURCE_PATHS = ["app", "run.py", "requirements.txt"]
WORKERS = 2


def log(message):
    print(message, file=sys.stderr, flush=True)


def source_directory(given):
    """A directory holding the original's `run.py` and `app/`: `given` itself if it is a
    checkout, or an export of HEAD into target/original-src if it is a git directory."""
    given = os.path.abspath(given)
    if os.path.exists(os.path.join(given, "run.py")):
        return given
    if not os.path.exists(os.path.join(given, "HEAD")):
        raise SystemExit(f"{given} is neither a checkout of the original (no run.py) nor a git directory")
    commit = subprocess.run(["git", "--git-dir", given, "rev-parse", "HEAD"], capture_output=True,
                            text=True, check=True).stdout.strip()
    stamp = os.path.join(EXPORTED_SOURCE, ".commit")
    if os.path.exists(stamp) and open(stamp).read() == commit:
        return EXPORTED_SOURCE
    shutil.rmtree(EXPORTED_SOURCE, ignore_errors=True)
    os.makedirs(EXPORTED_SOURCE)
    archive = subprocess.run(["git", "--git-dir", given, "archive", commit, *SOURCE_PATHS],
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", EXPORTED_SOURCE], input=archive, check=True)
    with open(stamp, "w") as written:
        written.write(commit)
    log(f"exported the original at {commit[:12]} to {EXPORTED_SOURCE}")
    return EXPORTED_SOURCE


def ensure_virtual_environment():
    """The venv's bin directory, created and installed once per version of requirements.txt."""
    bin_dir = os.path.join(VENV, "bin")
    stamp = os.path.join(VENV, ".requirements")
    with open(REQUIREMENTS) as wanted:
        requirements = wanted.read()
    if os.path.exists(stamp) and open(stamp).read() == requirements:
        return bin_dir
    log(f"creating {VENV} (Flask, SQLAlchemy, gunicorn from PyPI)")
    subprocess.run([sys.executable, "-m", "venv", "--clear", VENV], check=True)
    subprocess.run([os.path.join(bin_dir, "pip"), "install", "-q", "-r", REQUIREMENTS], check=True)
    with open(stamp, "w") as written:
        written.write(requirements)
    return bin_dir


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class OriginalService:
    """The original under gunicorn on a fresh database and orders file; shaped like
    bench.py's `Server` (port, base, kind, rss_kib, stop)."""

    def __init__(self, given_source, port=None):
        source = source_directory(given_source)
        bin_dir = ensure_virtual_environment()
        self.port = port or free_port()
        self.base = f"127.0.0.1:{self.port}"
        self.data_dir = tempfile.mkdtemp(prefix="inventory-bench-original-")
        orders_file = os.path.join(self.data_dir, "orders.json")
        with open(orders_file, "w") as orders:
            orders.write("[]")
        environment = dict(os.environ,
                           ORIGINAL_DATABASE=os.path.join(self.data_dir, "products.db"),
                           ORDERS_FILE=orders_file,
                           PYTHONPATH=ORIGINAL_DIR,
                           PYTHONDONTWRITEBYTECODE="1")
        python = os.path.join(bin_dir, "python")
        # The original creates its tables when the app is built, in every worker. Two
        # workers doing so at once on a fresh file can both try CREATE TABLE, so the
        # tables are created once here, before gunicorn starts; the workers then find
        # them.
        subprocess.run([python, "-c", "import bench_wsgi"], cwd=source, env=environment, check=True,
                       stdout=subprocess.DEVNULL)
        self.kind = ("gunicorn " + subprocess.run([python, "-m", "gunicorn", "--version"], capture_output=True,
                                                  text=True).stdout.split()[-1].rstrip(")")
                     + f", {WORKERS} sync workers, Python {sys.version.split()[0]}")
        command = [python, "-m", "gunicorn", "--workers", str(WORKERS), "--worker-class", "sync",
                   "--bind", self.base, "--chdir", source, "--log-level", "warning", "bench_wsgi:app"]
        # Its own process group, so that stop() ends the workers with the master.
        self.process = subprocess.Popen(command, cwd=source, env=environment, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise SystemExit("the original service exited at start (run original.py to see why)")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                connection.request("GET", "/api/v1/products/1")
                if connection.getresponse().status == 401:
                    connection.close()
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise SystemExit("the original service did not start")

    def rss_kib(self):
        """Resident memory of gunicorn's master and workers."""
        total = 0
        children = subprocess.run(["pgrep", "-g", str(self.process.pid)], capture_output=True, text=True)
        for pid in children.stdout.split() or [str(self.process.pid)]:
            try:
                with open(f"/proc/{pid}/status") as status:
                    total += next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
            except (OSError, StopIteration):
                pass
        return total

    def stop(self):
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=15)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        shutil.rmtree(self.data_dir, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--original", default=os.environ.get("ORIGINAL_SOURCE"), required="ORIGINAL_SOURCE"
                        not in os.environ, help="a checkout or git directory of the original "
                                                "(default: $ORIGINAL_SOURCE)")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args()
    service = OriginalService(args.original, args.port)
    print(f"Serving the original ({service.kind}) on http://{service.base}; data in {service.data_dir}",
          flush=True)
    try:
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        service.stop()


if __name__ == "__main__":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    main()
