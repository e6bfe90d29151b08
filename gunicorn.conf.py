"""gunicorn reads this file from the working folder: metrics shared by all worker processes, and the
garbage collector told to leave alone what a worker loads once.

prometheus-client's multiprocess mode needs PROMETHEUS_MULTIPROC_DIR set before any worker imports it,
an empty folder at each start, and the files of a worker that exited marked as dead.
"""

import gc
import glob
import os
import shutil
import tempfile

if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    _made_here = False
else:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="assistant-metrics-")
    _made_here = True


def on_starting(server):
    """Counts restart from zero with the server, as Prometheus expects of a restarted process."""
    for path in glob.glob(os.path.join(os.environ["PROMETHEUS_MULTIPROC_DIR"], "*.db")):
        os.remove(path)


def child_exit(server, worker):
    """Forget the gauges of a worker that exited (counters keep its counts)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    """The embedded Redis stops with the server (its data saved); the metrics' folder goes, after the import of
    the app's modules, which makes files in it."""
    if not os.environ.get("REDIS_URL") and not os.environ.get("REDIS_SENTINELS"):
        from bot.config import ConfigError, Settings
        from bot.store import stop_embedded

        try:
            stop_embedded(Settings.from_env().DATA_DIR)
        except ConfigError:
            pass  # the server never started: the settings were refused
    if _made_here:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)


def post_worker_init(worker):
    """Leave what the worker loaded out of the garbage collector's full passes.

    A worker starts with some 66,000 objects (the modules of the app and its libraries, the knowledge)
    that live as long as the process; a full collection walks every one of them (about 19 ms, every few
    thousand messages), and all the worker's threads wait meanwhile. A knowledge file loaded later is
    not frozen, and the version it replaces is freed all the same, since it holds no reference cycle.
    """
    gc.freeze()
