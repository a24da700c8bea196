"""The documentation stays in step with the code: the command-line reference is the commands' own --help, and
every relative link of the README leads to a file of the repository."""

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_the_command_line_reference_is_the_commands_help():
    result = subprocess.run([sys.executable, "scripts/make_cli_reference.py", "--check"], cwd=REPO,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_reference_holds_every_flag_of_the_three_commands():
    sys.path.insert(0, str(REPO / "scripts"))
    import make_cli_reference
    from style_transfer.cli import apply, run, train_fast, ui

    page = (REPO / "docs" / "cli.md").read_text(encoding="utf8")
    sections = dict(zip(["style-transfer", "style-transfer-train", "style-transfer-apply", "style-transfer-ui"],
                        re.split(r"\n## `style-transfer[a-z-]*`\n", page)[1:]))
    flag_sets = {"style-transfer": [flag.name for flag in run.FLAGS.get_flags_for_module(run)],
                 "style-transfer-train": list(train_fast.FLAGS), "style-transfer-apply": list(apply.FLAGS),
                 "style-transfer-ui": list(ui.FLAGS)}
    assert set(make_cli_reference.help_texts()) == set(flag_sets)
    for program, names in flag_sets.items():
        assert len(names) > (5 if program == "style-transfer-ui" else 10)
        for name in names:
            assert re.search(rf"^ +--(\[no\])?{name}:", sections[program], re.MULTILINE), (program, name)


def test_the_readme_links_lead_to_files():
    readme = (REPO / "README.md").read_text(encoding="utf8")
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme)
    local = [target for target in targets if "://" not in target]
    assert len(local) > 10
    missing = [target for target in local if not (REPO / target).exists()]
    assert not missing


def test_ci_runs_the_readme_quick_start_install_and_test_commands():
    readme = (REPO / "README.md").read_text(encoding="utf8")
    quick_start = readme.split("\n## Quick start\n")[1].split("\n## ")[0]
    install_and_paint, test = re.findall(r"```bash\n(.+)\n```", quick_start)
    ci = (REPO / ".ci" / "run").read_text(encoding="utf8").splitlines()
    assert install_and_paint.split(" && style-transfer ")[0] in ci
    assert test.removeprefix(". .venv/bin/activate && ") in ci
    # The Tests section and the Reliability page show the same command.
    assert readme.count(f"```bash\n{test}\n```") == 2
    assert f"```bash\n{test}\n```" in (REPO / "docs" / "reliability.md").read_text(encoding="utf8")


def test_the_readme_is_short():
    assert len((REPO / "README.md").read_text(encoding="utf8").splitlines()) <= 300


def test_the_commands_lay_out_their_help_alike():
    from style_transfer.cli import apply, run, train_fast, ui

    helps = {"style-transfer": (run.usage(), {"content", "style"}, run.FLAGS,
                                [flag.name for flag in run.FLAGS.get_flags_for_module(run)]),
             "style-transfer-train": (train_fast.COMMAND.usage(), {"style", "data", "model_dir"}, train_fast.FLAGS,
                                      list(train_fast.FLAGS)),
             "style-transfer-apply": (apply.COMMAND.usage(), {"model", "content"}, apply.FLAGS, list(apply.FLAGS)),
             "style-transfer-ui": (ui.COMMAND.usage(), set(), ui.FLAGS, list(ui.FLAGS))}
    for program, (text, required, flag_values, names) in helps.items():
        titles = re.findall(r"^([A-Z][A-Za-z ]*):$", text, re.MULTILINE)
        # A command without required flags (style-transfer-ui) starts with the most used.
        first = ["Required", "Most used"] if required else ["Most used"]
        assert titles[:len(first)] == first and "Other" not in titles, (program, titles)
        listed = re.findall(r"^  --(?:\[no\])?(\w+):", text, re.MULTILINE)
        assert sorted(listed) == sorted(names), program  # every flag once
        sections = re.split(r"^[A-Z][A-Za-z ]*:$", text, flags=re.MULTILINE)
        if required:
            assert set(re.findall(r"^  --(\w+):", sections[1], re.MULTILINE)) == required, program
        most_used = re.findall(r"^  --(?:\[no\])?(\w+):", sections[len(first)], re.MULTILINE)
        assert 8 <= len(most_used) <= 10, program
        assert all(flag_values[name].default is None for name in required)
