"""Starting or joining a Dask cluster: a ``LocalCluster`` on this machine by default, any running cluster by address."""

from __future__ import annotations

import os

from distributed import Client, LocalCluster


def connect(address: str | None = None, *, workers: int | None = None, threads_per_worker: int = 1, memory_limit: str = "auto") -> Client:
    """A client of the cluster at ``address`` (``tcp://host:8786``), else of the one Dask's configuration names
    (``DASK_SCHEDULER_ADDRESS`` or ``scheduler-address``), else of a new ``LocalCluster`` on 127.0.0.1.

    A local cluster runs ``workers`` processes (default: one per core) with ``threads_per_worker`` threads each:
    one thread per process suits TensorFlow and OpenVINO, which bring their own thread pools: those pools are
    sized to the worker's threads too (TensorFlow's would take every core and oversubscribe the machine).
    """
    import dask

    address = address or dask.config.get("scheduler-address", None) or os.environ.get("DASK_SCHEDULER_ADDRESS")
    if address:
        return Client(address)
    workers = workers or max(1, (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1) // threads_per_worker)
    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=threads_per_worker,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
        memory_limit=memory_limit,
        env={"TF_NUM_INTRAOP_THREADS": str(threads_per_worker), "TF_NUM_INTEROP_THREADS": "1", "OMP_NUM_THREADS": str(threads_per_worker)},
    )
    return Client(cluster)


def describe(client: Client) -> str:
    """One line: the scheduler, the number of workers and threads, and the dashboard when there is one."""
    info = client.scheduler_info()
    threads = sum(worker["nthreads"] for worker in info["workers"].values())
    dashboard = f", dashboard {client.dashboard_link}" if client.dashboard_link and "None" not in str(client.dashboard_link) else ""
    return f"{client.scheduler.address}: {len(info['workers'])} workers, {threads} threads{dashboard}"
