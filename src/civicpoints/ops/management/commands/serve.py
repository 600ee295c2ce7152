"""``civicpoints serve``: gunicorn for the web, the scheduler, and the task worker
(``db_worker``: texts to residents), until Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from civicpoints.ops.scheduler import run_forever

WORKER_RESTART_SECONDS = 5.0


class Command(BaseCommand):
    help = "启动网页服务和后台任务（Ctrl-C 停止）"

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_WORKERS", "2")))
        parser.add_argument("--threads", type=int, default=int(os.environ.get("WEB_THREADS", "4")))
        parser.add_argument("--no-scheduler", action="store_true")
        parser.add_argument(
            "--no-worker", action="store_true", help="不启动后台任务进程（db_worker 另行运行时）"
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        if settings.PRODUCTION:
            call_command("collectstatic", interactive=False, verbosity=0)
        cmd = [
            sys.executable,
            "-m",
            "gunicorn",
            "civicpoints.wsgi:application",
            "--bind",
            f"{opts['host']}:{opts['port']}",
            "--workers",
            str(opts["workers"]),
            "--threads",
            str(opts["threads"]),
            "--graceful-timeout",
            "10",
            "--access-logfile",
            "-" if os.environ.get("ACCESS_LOG") else "/dev/null",
        ]
        web = subprocess.Popen(cmd)
        worker = None
        worker_cmd = [sys.executable, "-m", "civicpoints.cli", "db_worker", "--no-reload"]
        worker_started = time.monotonic()
        if not opts["no_worker"]:
            # Its own session: a Ctrl-C in the terminal must not reach it; it gets one SIGTERM
            # from us and finishes the task it is on (a second signal would cut a send short).
            worker = subprocess.Popen(worker_cmd, start_new_session=True)
        stop = threading.Event()

        def _stop(signum: int, frame: Any) -> None:
            stop.set()

        signal.signal(signal.SIGINT, _stop)
        signal.signal(signal.SIGTERM, _stop)
        scheduler = None
        if not opts["no_scheduler"]:
            scheduler = threading.Thread(target=run_forever, args=(stop,), daemon=True)
            scheduler.start()
        self.stdout.write(
            _("civicpoints 已启动：%(url)s  （Ctrl-C 停止）")
            % {"url": f"http://{opts['host']}:{opts['port']}/"}
        )
        self.stdout.flush()
        while not stop.is_set():
            if web.poll() is not None:
                self.stderr.write(f"web server exited with {web.returncode}")
                stop.set()
                break
            if (
                worker is not None
                and worker.poll() is not None
                and time.monotonic() - worker_started > WORKER_RESTART_SECONDS
            ):
                # A worker that died (e.g. the database was away) is restarted, at most every
                # few seconds.
                self.stderr.write(f"task worker exited with {worker.returncode}; restarting")
                worker = subprocess.Popen(worker_cmd, start_new_session=True)
                worker_started = time.monotonic()
            stop.wait(0.5)
        for child in (web, worker):
            if child is not None and child.poll() is None:
                child.send_signal(signal.SIGTERM)  # the worker finishes the task it is on
        # One deadline for both (gunicorn's graceful timeout is 10 s): a worker stuck waiting
        # for a lock is killed rather than holding the shutdown.
        deadline = time.monotonic() + 12
        for child in (web, worker):
            if child is None:
                continue
            try:
                child.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        if scheduler is not None:
            scheduler.join(timeout=5)  # a daemon thread: a long job does not hold the exit
        self.stdout.write(_("civicpoints 已停止"))
        if web.returncode not in (0, -signal.SIGTERM, -signal.SIGINT, None):
            sys.exit(1)
