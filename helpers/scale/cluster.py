"""Starting or joining a Dask cluster: a ``LocalCluster``
on this machine by default, any running cluster by address."""

from __future__ import annotations

import os

from distributed import Client, LocalCluster
from distributed.diagnostics.plugin import WorkerPlugin


class PinToCores(WorkerPlugin):
    """Pins each process of a local cluster to cores of its own: worker ``k`` (its name) to the
    ``k``-th ``threads_per_worker`` of ``cores``.

    Unpinned, Linux placed both single-threaded workers of a 2-core machine on one core about a
    third of the time (measured: the machine 34 % idle during the job, 37 images/s; pinned, 0.5 %
    idle and 56 images/s)."""

    def __init__(self, cores: list[int], threads_per_worker: int):
        self.cores, self.threads_per_worker = cores, threads_per_worker

    def setup(self, worker) -> None:
        start = int(worker.name) * self.threads_per_worker % len(self.cores)
        own = set(self.cores[start : start + self.threads_per_worker])
        for thread in os.listdir("/proc/self/task"):  # threads started later inherit the mask
            os.sched_setaffinity(int(thread), own)


def connect(
    address: str | None = None,
    *,
    workers: int | None = None,
    threads_per_worker: int = 1,
    memory_limit: str = "auto",
) -> Client:
    """A client of the cluster at ``address`` (``tcp://host:8786``), else of the one Dask's
    configuration names (``DASK_SCHEDULER_ADDRESS`` or ``scheduler-address``), else of a new
    ``LocalCluster`` on 127.0.0.1.

    A local cluster runs ``workers`` processes (default: one per core) with ``threads_per_worker``
    threads each: one thread per process suits TensorFlow and OpenVINO, which bring their own thread
    pools: those pools are sized to the worker's threads too (TensorFlow's would take every core and
    oversubscribe the machine), and on Linux each worker is pinned to cores of its own when there
    are enough (``PinToCores``).
    """
    import dask

    address = (
        address
        or dask.config.get("scheduler-address", None)
        or os.environ.get("DASK_SCHEDULER_ADDRESS")
    )
    if address:
        return Client(address)
    cores = (
        sorted(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else list(range(os.cpu_count() or 1))
    )
    workers = workers or max(1, len(cores) // threads_per_worker)
    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=threads_per_worker,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
        memory_limit=memory_limit,
        env={
            "TF_NUM_INTRAOP_THREADS": str(threads_per_worker),
            "TF_NUM_INTEROP_THREADS": "1",
            "OMP_NUM_THREADS": str(threads_per_worker),
        },
        # the dashboard's statistical profiler samples every
        # thread each 10 ms: it took 10 % of a worker's core
        config={"distributed.worker.profile.enabled": False},
    )
    client = Client(cluster)
    if hasattr(os, "sched_setaffinity") and workers * threads_per_worker <= len(cores):
        client.register_plugin(PinToCores(cores, threads_per_worker))
    return client


def describe(client: Client) -> str:
    """One line: the scheduler, the number of workers
    and threads, and the dashboard when there is one."""
    info = client.scheduler_info()
    threads = sum(worker["nthreads"] for worker in info["workers"].values())
    dashboard = (
        f", dashboard {client.dashboard_link}"
        if client.dashboard_link and "None" not in str(client.dashboard_link)
        else ""
    )
    return (
        f"{client.scheduler.address}: {len(info['workers'])} workers, {threads} threads{dashboard}"
    )
