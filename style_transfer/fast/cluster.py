"""The cluster of a multi-worker training run, as the TF_CONFIG environment variable describes it, read
without TensorFlow: style-transfer-train checks it before paying for TensorFlow's import, and every worker
derives the same facts from it (how many input pipelines share the files, which worker writes the run's files).

    TF_CONFIG='{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}'
"""

from __future__ import annotations

import json

from style_transfer.core.errors import ConfigError

EXAMPLE = '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}'
TRAINING_JOBS = ("chief", "worker")  # the jobs MultiWorkerMirroredStrategy trains on, chief first


def check_tf_config(text: str | None) -> dict:
    """TF_CONFIG parsed and checked: {"cluster": {"worker": [host:port, ...], ...}, "task": {"type", "index"}}.
    ConfigError naming `strategy` (the flag that asked for a cluster) for anything else."""
    if not text:
        raise ConfigError("strategy", f"multi_worker needs the TF_CONFIG environment variable on every worker, "
                          f"e.g. TF_CONFIG='{EXAMPLE}'")
    try:
        tf_config = json.loads(text)
        cluster = tf_config["cluster"]
        workers = cluster["worker"]
        task_type, index = tf_config["task"]["type"], tf_config["task"]["index"]
    except (ValueError, KeyError, TypeError):
        raise ConfigError("strategy", f"TF_CONFIG is not of the form {EXAMPLE}: {text[:200]!r}") from None
    if not isinstance(workers, list) or not workers:
        raise ConfigError("strategy", "TF_CONFIG's cluster lists no workers")
    for job, addresses in cluster.items():
        if not (isinstance(addresses, list) and all(isinstance(address, str) and address for address in addresses)):
            raise ConfigError("strategy", f"TF_CONFIG's cluster job {job!r} is not a list of host:port addresses: "
                              f"{str(addresses)[:200]!r}")
    if (not isinstance(task_type, str) or task_type not in cluster or isinstance(index, bool)
            or not isinstance(index, int) or not 0 <= index < len(cluster[task_type])):
        raise ConfigError("strategy", f"TF_CONFIG's task {task_type!r} {index!r} is not in its cluster")
    return tf_config


def worker_count(cluster: dict) -> int:
    """How many processes train together: the chief and the workers of `cluster` (TF_CONFIG's "cluster", or
    a ClusterSpec's as_dict()). MultiWorkerMirroredStrategy gives each of them one input pipeline."""
    return sum(len(cluster.get(job, ())) for job in TRAINING_JOBS)


def is_chief(cluster: dict, task_type: str | None, task_id: int | None) -> bool:
    """Whether the task writes the run's files: the only process (no task), the chief, or worker 0 when the
    cluster has no chief."""
    if not task_type or task_type == "chief":
        return True
    return task_type == "worker" and task_id == 0 and "chief" not in cluster
