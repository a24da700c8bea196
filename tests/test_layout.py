from pathlib import Path

from style_transfer.optimize import layout


def test_default_names_step_around_anything_a_run_would_write(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert layout.default_output("in/photo.jpg", "art/painting.png") == Path("photo_painting.png")
    Path("photo_painting.png").write_bytes(b"")
    Path("photo_painting_2.png_run").mkdir()
    Path("photo_painting_3.png_summary.png").write_bytes(b"")
    assert layout.default_output("in/photo.jpg", "art/painting.png") == Path("photo_painting_4.png")


def test_companions_sit_beside_the_output_named_from_its_whole_file_name():
    output = Path("out/dir/pic.jpg")
    assert layout.run_directory(output) == Path("out/dir/pic.jpg_run")
    assert layout.checkpoint_directory(output) == Path("out/dir/pic.jpg_run/checkpoint")
    assert layout.summary_path(output) == Path("out/dir/pic.jpg_summary.png")
    # Outputs differing only in their extension share nothing; the stem alone named them before.
    outputs = [Path("o.png"), Path("o.jpg"), Path("o.PNG"), Path("o_png.png")]
    for companion in (layout.run_directory, layout.summary_path):
        assert len({companion(output) for output in outputs}) == len(outputs)
    assert layout.earlier_run_directory(Path("o.jpg")) == Path("o_run")


def test_run_pictures_are_only_the_files_a_run_writes(tmp_path):
    for name in ("step_000002.png", "last_finite_step_000007.png", "step_2.png", "notes.txt", "my_step_000001.png"):
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in layout.run_pictures(tmp_path)] == ["last_finite_step_000007.png", "step_000002.png"]
    assert layout.run_pictures(tmp_path / "missing") == []


def test_resumable_output_finds_the_interrupted_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert layout.resumable_output("photo.jpg", "painting.jpg") is None
    Path("photo_painting.png").write_bytes(b"")  # a finished run
    (tmp_path / "photo_painting_2.png_run" / "checkpoint").mkdir(parents=True)
    (tmp_path / "photo_painting_2.png_run" / "checkpoint" / "state.json").write_text("{}")
    assert layout.resumable_output("photo.jpg", "painting.jpg") == Path("photo_painting_2.png")
