"""TF_CONFIG, read without TensorFlow: what is refused, how many input pipelines share the files, who writes."""

import json
import subprocess
import sys

import pytest

from style_transfer.fast import cluster
from style_transfer.core.errors import ConfigError


def tf_config(cluster_spec, task_type="worker", index=0) -> str:
    return json.dumps({"cluster": cluster_spec, "task": {"type": task_type, "index": index}})


@pytest.mark.parametrize("text, message", [
    (None, "multi_worker needs the TF_CONFIG environment variable on every worker"),
    ("", "multi_worker needs the TF_CONFIG environment variable"),
    ("{nonsense", "TF_CONFIG is not of the form"),
    ("[1, 2]", "TF_CONFIG is not of the form"),
    ('{"cluster": ["a:1"], "task": {"type": "worker", "index": 0}}', "TF_CONFIG is not of the form"),
    ('{"cluster": {"worker": ["a:1"]}}', "TF_CONFIG is not of the form"),
    (tf_config({"worker": []}), "TF_CONFIG's cluster lists no workers"),
    (tf_config({"worker": "a:1"}), "TF_CONFIG's cluster lists no workers"),
    (tf_config({"worker": ["a:1"], "chief": [5]}), "TF_CONFIG's cluster job 'chief' is not a list of host:port"),
    (tf_config({"worker": ["a:1", "b:2"]}, index=2), "TF_CONFIG's task 'worker' 2 is not in its cluster"),
    (tf_config({"worker": ["a:1"]}, index="0"), "TF_CONFIG's task 'worker' '0' is not in its cluster"),
    (tf_config({"worker": ["a:1"]}, index=True), "TF_CONFIG's task 'worker' True is not in its cluster"),
    (tf_config({"worker": ["a:1"]}, task_type=["worker"]), "TF_CONFIG's task ['worker'] 0 is not in its cluster"),
    (tf_config({"worker": ["a:1"]}, task_type="chief"), "TF_CONFIG's task 'chief' 0 is not in its cluster"),
])
def test_a_malformed_tf_config_is_one_config_error_naming_the_strategy(text, message):
    with pytest.raises(ConfigError) as raised:
        cluster.check_tf_config(text)
    assert raised.value.field == "strategy" and message in raised.value.message and "\n" not in str(raised.value)


def test_the_chief_and_the_workers_each_read_the_files_and_one_of_them_writes():
    two_workers = {"worker": ["a:1", "b:2"]}
    with_chief = {"chief": ["c:0"], "worker": ["a:1", "b:2"], "ps": ["p:9"]}  # a parameter server trains nothing
    assert cluster.check_tf_config(tf_config(with_chief, "worker", 1))["task"] == {"type": "worker", "index": 1}
    assert cluster.worker_count(two_workers) == 2 and cluster.worker_count(with_chief) == 3
    assert [cluster.is_chief(two_workers, "worker", index) for index in range(2)] == [True, False]
    assert [cluster.is_chief(with_chief, "worker", index) for index in range(2)] == [False, False]
    assert cluster.is_chief(with_chief, "chief", 0) and cluster.is_chief({}, None, None)


def test_the_cluster_is_read_without_importing_tensorflow():
    script = "import sys\nfrom style_transfer.fast import cluster\nprint('tensorflow' in sys.modules)"
    finished = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert finished.stdout.split() == ["False"], finished.stderr
