from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import write_damaged_pictures
from style_transfer.fast import dataset
from style_transfer.core.errors import DataError


def write_pictures(folder, count=3, size=(80, 60)):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for index in range(count):
        Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(folder / f"p{index}.png")
    return folder


def test_the_scan_keeps_pictures_and_counts_what_it_skips(tmp_path, content_path):
    folder = write_pictures(tmp_path / "data", 2)
    (folder / "sub").mkdir()
    (folder / "sub" / "photo.jpg").write_bytes(content_path.read_bytes())  # searched recursively
    (folder / "notes.txt").write_text("not a picture")
    (folder / "empty.jpg").write_bytes(b"")
    Image.new("RGB", (8, 8)).save(folder / "scan.tif")  # Pillow reads it, tf.data does not
    Image.new("RGB", (5000, 5000)).save(folder / "huge.png")
    (folder / ".hidden.png").write_bytes((folder / "p0.png").read_bytes())
    scanned = dataset.scan_folder(folder, max_pixels=10_000_000)
    assert [p.split("data/")[1] for p in scanned.paths] == ["p0.png", "p1.png", "sub/photo.jpg"]
    reasons = {path.split("data/")[1]: reason for path, reason in scanned.skipped}
    assert reasons == {"empty.jpg": "not a picture", "notes.txt": "not a picture",
                       "scan.tif": "TIFF pictures are not read by tf.data (JPEG, PNG, GIF, BMP, WebP are)",
                       "huge.png": "5000x5000 is above the limit of 10 megapixels"}


def test_unusable_folders_are_named(tmp_path):
    with pytest.raises(DataError, match="no such folder"):
        dataset.scan_folder(tmp_path / "missing")
    (tmp_path / "file").write_text("x")
    with pytest.raises(DataError, match="not a folder"):
        dataset.scan_folder(tmp_path / "file")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty; put training photographs"):
        dataset.scan_folder(tmp_path / "empty")
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "a.jpg").write_text("x")
    with pytest.raises(DataError, match=r"none of its 1 files is a picture .*a\.jpg: not a picture"):
        dataset.scan_folder(tmp_path / "texts")


def take(data, batches):
    return [batch.numpy() for batch in data.take(batches)]


def test_batches_are_square_crops_in_the_unit_range_reproducible_by_seed(tmp_path, content_path):
    folder = write_pictures(tmp_path / "data", 2, size=(50, 30))  # short side below the crop: scaled up
    paths = [*dataset.scan_folder(folder).paths, str(content_path)]
    first = take(dataset.training_dataset(paths, image_size=32, batch_size=2, seed=0), 4)
    assert all(batch.shape == (2, 32, 32, 3) and batch.dtype == np.float32 for batch in first)
    assert min(batch.min() for batch in first) >= 0 and max(batch.max() for batch in first) <= 1
    again = take(dataset.training_dataset(paths, image_size=32, batch_size=2, seed=0), 4)
    other = take(dataset.training_dataset(paths, image_size=32, batch_size=2, seed=1), 4)
    np.testing.assert_array_equal(np.stack(first), np.stack(again))
    assert not np.array_equal(np.stack(first), np.stack(other))


def test_skipping_batches_starts_the_same_sequence_later(tmp_path):
    paths = dataset.scan_folder(write_pictures(tmp_path / "data", 5)).paths
    whole = take(dataset.training_dataset(paths, image_size=32, batch_size=2, seed=4), 7)  # beyond one epoch
    later = take(dataset.training_dataset(paths, image_size=32, batch_size=2, seed=4, skip_batches=4), 3)
    np.testing.assert_array_equal(np.stack(later), np.stack(whole[4:]))


def test_a_damaged_picture_is_dropped_and_training_goes_on(tmp_path, content_path):
    folder = tmp_path / "data"
    folder.mkdir()
    good = content_path.read_bytes()
    (folder / "good.jpg").write_bytes(good)
    (folder / "truncated.jpg").write_bytes(good[: len(good) // 3])  # a valid header, damaged data
    paths = dataset.scan_folder(folder).paths
    assert len(paths) == 2  # the header check cannot see the damage
    batches = take(dataset.training_dataset(paths, image_size=32, batch_size=1, seed=0), 6)
    assert len(batches) == 6  # every batch from the good picture; the damaged one is left out
    assert all(np.isfinite(batch).all() for batch in batches)


def test_workers_read_disjoint_shards_of_the_files(tmp_path):
    import tensorflow as tf

    folder = tmp_path / "data"
    folder.mkdir()
    for level in range(4):  # one flat grey level per picture tells where a crop came from
        Image.new("RGB", (40, 40), (level * 60,) * 3).save(folder / f"grey{level}.png")
    paths = dataset.scan_folder(folder).paths

    def levels(pipeline):
        context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=pipeline,
                                             num_replicas_in_sync=2)
        batches = take(dataset.training_dataset(paths, image_size=16, batch_size=1, seed=0, input_context=context), 8)
        return {round(float(batch.mean()) * 255 / 60) for batch in batches}

    assert levels(0) | levels(1) == {0, 1, 2, 3} and not levels(0) & levels(1)


def test_samples_are_centre_crops_of_the_first_pictures(tmp_path):
    folder = write_pictures(tmp_path / "data", 5, size=(64, 48))
    samples = dataset.sample_batch(dataset.scan_folder(folder).paths, image_size=32, count=4).numpy()
    assert samples.shape == (4, 32, 32, 3)
    first = np.asarray(Image.open(folder / "p0.png").resize((43, 32), Image.BILINEAR), np.float32) / 255
    assert np.abs(samples[0] - first[:, 5:37]).mean() < 0.1


def test_a_folder_of_damaged_files_is_refused_naming_the_count_and_the_first_files(tmp_path, content_path):
    folder = write_damaged_pictures(tmp_path / "data", content_path)
    with pytest.raises(DataError) as refused:
        dataset.scan_folder(folder)
    message = str(refused.value)
    assert "\n" not in message and "none of its 3 files is a picture training can use" in message
    assert f"{folder / 'empty.png'}: not a picture" in message and f"{folder / 'random.jpg'}: not a picture" in message
    assert f"{folder / 'truncated.jpg'}: cannot decode image (image file is truncated" in message


def test_the_scan_decodes_until_a_picture_does(tmp_path, content_path):
    folder = write_damaged_pictures(tmp_path / "data", content_path)
    (folder / "truncated.jpg").rename(folder / "a_truncated.jpg")  # decoded, and skipped, before p0.png
    (folder / "z_truncated.jpg").write_bytes(content_path.read_bytes()[:30000])  # left to training
    write_pictures(folder, 1)
    scanned = dataset.scan_folder(folder)
    assert [Path(path).name for path in scanned.paths] == ["p0.png", "z_truncated.jpg"]
    assert [Path(path).name for path, _ in scanned.skipped] == ["a_truncated.jpg", "empty.png", "random.jpg"]


def grey_levels(folder, levels):
    folder.mkdir(parents=True, exist_ok=True)
    for level in levels:  # one flat grey level per picture tells where a crop came from
        Image.new("RGB", (40, 40), (level,) * 3).save(folder / f"grey{level:03d}.png")


def test_pictures_that_fail_later_are_skipped_with_one_warning_each(tmp_path, content_path, caplog):
    folder = tmp_path / "data"
    grey_levels(folder, [60, 120])
    write_damaged_pictures(folder, content_path)
    (folder / "truncated.jpg").rename(folder / "zz_truncated.jpg")  # after the good ones: the scan keeps it
    paths = dataset.scan_folder(folder).paths
    assert [Path(path).name for path in paths] == ["grey060.png", "grey120.png", "zz_truncated.jpg"]
    with caplog.at_level("WARNING"):
        batches = take(dataset.training_dataset(paths, image_size=16, batch_size=2, seed=0), 12)  # 8 epochs
    levels = {round(float(batch.mean(axis=(1, 2, 3))[index]) * 255) for batch in batches for index in range(2)}
    assert len(batches) == 12 and levels == {60, 120}
    warnings = [record.getMessage() for record in caplog.records if "zz_truncated.jpg" in record.getMessage()]
    assert len(warnings) == 1 and "cannot decode image" in warnings[0] and "training goes on without it" in warnings[0]


def test_when_every_picture_fails_the_pipeline_ends_instead_of_searching(tmp_path, caplog):
    folder = write_pictures(tmp_path / "data", 3)
    paths = dataset.scan_folder(folder).paths
    for path in paths:  # damaged after the scan: changed on disk, say
        Path(path).write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    with caplog.at_level("WARNING"):
        batches = take(dataset.training_dataset(paths, image_size=16, batch_size=2, seed=0), 5)
    assert batches == []  # ended, not spinning: take() returned
    assert sorted(record.getMessage().split(":")[0] for record in caplog.records
                  if "training goes on without it" in record.getMessage()) == sorted(paths)
    with pytest.raises(DataError, match="none of the 3 training pictures decodes any more"):
        dataset.sample_batch(paths, image_size=16)


# Several workers: each input pipeline reads its own share of the files (worker_share), so each share needs a
# picture that decodes, or that worker's pipeline ends while the others go on and the cluster's step fails.

def pipeline_levels(paths, worker, workers, batches=6):
    """The grey levels in the first `batches` single-picture batches of worker `worker`'s pipeline."""
    import tensorflow as tf

    context = tf.distribute.InputContext(num_input_pipelines=workers, input_pipeline_id=worker,
                                         num_replicas_in_sync=workers)
    crops = take(dataset.training_dataset(paths, image_size=16, batch_size=1, seed=0, input_context=context), batches)
    return [round(float(crop.mean()) * 255) for crop in crops]


def interleaved(folder, content_path, good_levels):
    """A grey picture, then a JPEG cut short (whose header is sound), for each of `good_levels`, in that order."""
    folder.mkdir(parents=True)
    cut_short = content_path.read_bytes()[:20000]
    for position, level in enumerate(good_levels):
        Image.new("RGB", (40, 40), (level,) * 3).save(folder / f"{position}a_grey{level:03d}.png")
        (folder / f"{position}b_truncated.jpg").write_bytes(cut_short)
    return folder


def test_the_workers_shares_are_the_files_dataset_shard_would_give_or_all_when_too_few():
    paths = [f"p{index}" for index in range(5)]
    assert [dataset.worker_share(paths, worker, 2) for worker in range(2)] == [paths[0::2], paths[1::2]]
    assert dataset.worker_share(paths, 0, 1) == paths
    assert [dataset.worker_share(paths[:2], worker, 3) for worker in range(3)] == [paths[:2]] * 3


def test_every_workers_share_holds_a_picture_that_decodes(tmp_path, content_path, caplog):
    # Sorted, the cut-short JPEGs are every second file: dealt as before, worker 1's share is all of them.
    folder = interleaved(tmp_path / "data", content_path, [40, 80, 120, 160])
    alone = dataset.scan_folder(folder)
    assert len(alone.paths) == 8 and not alone.skipped  # one worker: its first picture decodes; enough
    assert pipeline_levels(alone.paths, 1, 2) == []  # worker 1's pipeline of those files ends at once

    scanned = dataset.scan_folder(folder, workers=2)
    with caplog.at_level("WARNING"):
        levels = [pipeline_levels(scanned.paths, worker, 2) for worker in range(2)]
    assert all(len(found) == 6 and set(found) <= {40, 80, 120, 160} for found in levels), levels
    assert not set(levels[0]) & set(levels[1])  # still disjoint shares
    # Worker 1's share was decoded to its end, all of it failing: those files are named and left out.
    assert [Path(path).name for path, _ in scanned.skipped] == [f"{position}b_truncated.jpg" for position in range(4)]
    assert scanned.paths == [path for path in alone.paths if "grey" in path]


def test_a_share_of_damaged_files_is_dealt_again_down_to_one_picture_for_every_worker(tmp_path, content_path):
    folder = interleaved(tmp_path / "data", content_path, [90, 180])
    (folder / "1a_grey180.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)  # not even a header now
    for worker_count in (2, 3, 5):  # two files for two workers, or fewer files than workers: all read both
        scanned = dataset.scan_folder(folder, workers=worker_count)
        assert all(pipeline_levels(scanned.paths, worker, worker_count, 3) == [90] * 3
                   for worker in range(worker_count)), worker_count


def test_with_several_workers_the_scan_decodes_one_picture_a_share(tmp_path, monkeypatch):
    folder = write_pictures(tmp_path / "data", 7)
    decoded = []
    load_image = dataset.image_io.load_image
    monkeypatch.setattr(dataset.image_io, "load_image", lambda path, **kwargs: decoded.append(path) or load_image(
        path, **kwargs))
    assert len(dataset.scan_folder(folder, workers=3).paths) == 7
    assert [Path(path).name for path in decoded] == ["p0.png", "p1.png", "p2.png"]


def test_a_folder_without_a_picture_that_decodes_stops_every_worker_with_the_same_line(tmp_path, content_path):
    folder = write_damaged_pictures(tmp_path / "data", content_path)
    (folder / "truncated_again.jpg").write_bytes(content_path.read_bytes()[:30000])
    messages = set()
    for worker_count in (1, 2, 3, 4):
        with pytest.raises(DataError) as refused:
            dataset.scan_folder(folder, workers=worker_count)
        messages.add(str(refused.value))
    (message,) = messages  # the line names the folder's files, not how they were dealt
    assert "none of its 4 files is a picture training can use" in message and message.endswith(" ...")


def test_importing_the_module_does_not_import_tensorflow():
    import subprocess
    import sys

    script = "import sys\nfrom style_transfer.fast import dataset\nprint('tensorflow' in sys.modules)"
    finished = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert finished.stdout.strip() == "False", finished.stderr


def test_a_failing_file_brought_twice_at_once_is_read_and_warned_about_once(monkeypatch, caplog):
    # The pipeline decodes in parallel, so one file can come from two epochs at once: the second call must wait
    # for the first and see that it failed.
    import threading
    import time

    from style_transfer.core.errors import ImageError

    reads = []

    def slow_failure(name, **kwargs):
        reads.append(name)
        time.sleep(0.3)
        raise ImageError(f"{name}: cannot decode image")

    monkeypatch.setattr(dataset.image_io, "load_image", slow_failure)
    decode = dataset._PictureDecoder(["bad.jpg", "good.jpg"])
    with caplog.at_level("WARNING"):
        calls = [threading.Thread(target=decode, args=(b"bad.jpg",)) for _ in range(2)]
        for call in calls:
            call.start()
        for call in calls:
            call.join()
    assert reads == ["bad.jpg"]
    assert len([record for record in caplog.records if "bad.jpg" in record.getMessage()]) == 1
    assert decode.remaining == 1  # counted once: good.jpg is left
