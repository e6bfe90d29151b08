"""gunicorn reads this file from the working folder: metrics shared by all worker processes.

prometheus-client's multiprocess mode needs PROMETHEUS_MULTIPROC_DIR set before any worker imports it,
an empty folder at each start, and the files of a worker that exited marked as dead.
"""

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
    if _made_here:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
