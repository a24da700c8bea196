"""The folders show the architecture: imports go from the command line and the two products (the optimiser,
fast networks) down to core and kernels, never sideways between the products nor upwards."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "style_transfer"
# What each sub-package may import from this package, besides itself.
ALLOWED = {"kernels": set(), "core": {"kernels"}, "optimize": {"core", "kernels"}, "fast": {"core", "kernels"},
           "video": {"core", "optimize", "fast"},  # the products' public functions, to stylise frames
           "ui": {"core", "optimize", "fast", "video"}, "cli": {"core", "kernels", "optimize", "fast", "video", "ui"}}
# The web app uses the products' public modules only (what a user of the package would call), nothing deeper:
# for videos, the entry points style-transfer-apply uses (the reader, the frame loop, the extra's checks).
UI_MAY_USE = {"optimize": {"style_transfer.optimize.api", "style_transfer.optimize.optimization"},
              "fast": {"style_transfer.fast.export", "style_transfer.fast.fast_layout",
                       "style_transfer.fast.apply_config"},
              "video": {"style_transfer.video.io", "style_transfer.video.stream", "style_transfer.video.flow"}}
# Entry points (python -m style_transfer.<package>) call the command line, which sits above every package.
ENTRY_POINTS = {"ui": "__main__.py"}


def imported_modules(path: Path) -> set[str]:
    """The modules of style_transfer that a module imports, by full name."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("style_transfer"):
            folder = PACKAGE.parent.joinpath(*node.module.split("."))
            # from style_transfer.fast import export: the module style_transfer.fast.export
            found.update(f"{node.module}.{alias.name}" if (folder / f"{alias.name}.py").exists() else node.module
                         for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("style_transfer."))
    return found


def imports(path: Path) -> set[str]:
    """The sub-packages of style_transfer that a module imports, anywhere in it (function-level imports too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("style_transfer"):
            parts = node.module.split(".")
            if len(parts) > 1:
                found.add(parts[1])
            else:  # from style_transfer import x: x is a sub-package or a public name of the package
                found.update(alias.name for alias in node.names if (PACKAGE / alias.name).is_dir())
        elif isinstance(node, ast.Import):
            found.update(alias.name.split(".")[1] for alias in node.names
                         if alias.name.startswith("style_transfer."))
    return found


def test_every_module_lives_in_a_sub_package_but_the_entry_points():
    top = sorted(path.name for path in PACKAGE.glob("*.py"))
    assert top == ["__init__.py", "__main__.py", "apply.py", "run.py", "train_fast.py"]
    for shim in ("apply.py", "run.py", "train_fast.py"):  # python -m style_transfer.<command>
        assert len((PACKAGE / shim).read_text().splitlines()) <= 6


def test_imports_go_down_never_sideways_between_the_products():
    wrong = []
    for package, allowed in ALLOWED.items():
        for path in sorted((PACKAGE / package).glob("*.py")):
            if ENTRY_POINTS.get(package) == path.name:
                assert imported_modules(path) == {"style_transfer.cli.ui"}, path
                assert len(path.read_text().splitlines()) <= 6, path
                continue
            for imported in imports(path) - allowed - {package}:
                wrong.append(f"{package}/{path.name} imports {imported}")
    assert not wrong, wrong
    assert set(ALLOWED) == {path.name for path in PACKAGE.iterdir() if (path / "__init__.py").exists()}


def test_the_web_app_uses_only_the_products_public_modules():
    wrong = []
    for path in sorted((PACKAGE / "ui").glob("*.py")):
        for module in imported_modules(path):
            product = module.split(".")[1] if module.count(".") else ""
            if product in UI_MAY_USE and module not in UI_MAY_USE[product]:
                wrong.append(f"ui/{path.name} imports {module}")
    assert not wrong, wrong
