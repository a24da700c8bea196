import pytest

from style_transfer.optimize import memory
from style_transfer.core.config import DEFAULT

PHOTO, PAINTING = (1024, 768), (1024, 640)


def estimate(max_dim=512, content=PHOTO, styles=(PAINTING,), **changes):
    return memory.estimate_mb(DEFAULT.replace(max_dim=max_dim, **changes), content, list(styles))


def test_the_estimate_grows_with_the_output_and_the_style_and_not_otherwise():
    sizes = [16, 64, 256, 512, 1000, 2048, 4096, 10000, 100000]
    for changes in ({}, {"recompute": True}, {"precision": "bfloat16"}, {"network": "vgg16"},
                    {"optimizer": "lbfgs", "precision": "float32"}):
        estimates = [estimate(size, **changes) for size in sizes]
        assert estimates == sorted(estimates) and len(set(estimates)) == len(estimates), changes
    # Four times the pixels cost more than twice the memory above the fixed part, never four times it all.
    assert 2 * estimate(1024) < estimate(2048) + estimate(16) and estimate(2048) < 4 * estimate(1024)
    assert estimate(style_scale=4.0) > estimate(style_scale=2.0) > estimate(style_scale=1.0)
    assert estimate(style_scale=4.0, style_max_dim=512) == estimate(style_scale=1.0)
    # A portrait output of the same longest side has the same pixels as a landscape one.
    assert estimate(content=(768, 1024)) == estimate()


def test_what_saves_memory_lowers_the_estimate():
    for size in (256, 2048):
        plain = estimate(size)
        assert estimate(size, recompute=True) < plain
        assert estimate(size, precision="bfloat16") < plain
        assert estimate(size, network="vgg16") < plain
        assert estimate(size, optimizer="lbfgs", precision="float32") > plain
        assert estimate(size, size_bucket=64) >= plain
    # 'auto' may turn out float32, the larger: the estimate takes it.
    assert estimate(precision="auto") == estimate(precision="float32")


def test_the_largest_max_dim_is_the_last_that_fits():
    config = DEFAULT.replace(max_dim=100000)
    for available in (2000, 8000, 20000):
        largest = memory.largest_max_dim(config, PHOTO, [PAINTING], available)
        assert memory.estimate_mb(config, PHOTO, [PAINTING], largest) <= available
        assert memory.estimate_mb(config, PHOTO, [PAINTING], largest + 1) > available
    assert memory.largest_max_dim(config, PHOTO, [PAINTING], 100) is None


@pytest.mark.parametrize("version", [1, 2])
def test_a_cgroup_limit_lower_than_the_machines_memory_is_what_is_available(tmp_path, monkeypatch, version):
    group = tmp_path / "sys" / "group"
    group.mkdir(parents=True)
    if version == 2:
        files = {"memory.max": "3221225472", "memory.current": "2147483648", "memory.stat": "inactive_file 536870912"}
        mount, line = tmp_path / "sys", "0::/group"
    else:
        files = {"memory.limit_in_bytes": "3221225472", "memory.usage_in_bytes": "2147483648",
                 "memory.stat": "cache 9\ntotal_inactive_file 536870912"}
        mount, line = tmp_path / "sys", "4:memory:/group"
    for name, text in files.items():
        (group / name).write_text(text + "\n")
    (mount / ("memory.max" if version == 2 else "memory.limit_in_bytes")).write_text(
        "max\n" if version == 2 else f"{2 ** 63 - 4096}\n")  # the root: no limit
    (tmp_path / "cgroup").write_text(line + "\n")
    real_path = memory.Path

    def fake_path(name):
        return {"/proc/self/cgroup": tmp_path / "cgroup", "/sys/fs/cgroup": mount,
                "/sys/fs/cgroup/memory": mount}.get(str(name), real_path(name))

    monkeypatch.setattr(memory, "Path", fake_path)
    monkeypatch.setattr(memory, "_meminfo_available", lambda: 64 * 2 ** 30)
    # 3 GB limit - 2 GB used + 0.5 GB of page cache it may reclaim.
    assert memory.available_mb() == 1536
    monkeypatch.setattr(memory, "_meminfo_available", lambda: 2 ** 30)
    assert memory.available_mb() == 1024  # the machine's, when that is less


def test_sizes_read_as_people_write_them():
    assert [memory.describe_mb(value) for value in (512, 1536, 2.5e7)] == ["512 MB", "1.5 GB", "23.8 TB"]
