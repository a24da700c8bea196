"""The folders show the architecture: imports go from the command line and the two products (the optimiser,
fast networks) down to core and kernels, never sideways between the products nor upwards."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "style_transfer"
# What each sub-package may import from this package, besides itself.
ALLOWED = {"kernels": set(), "core": {"kernels"}, "optimize": {"core", "kernels"}, "fast": {"core", "kernels"},
           "video": {"core", "optimize", "fast"},  # the products' public functions, to stylise frames
           "cli": {"core", "kernels", "optimize", "fast", "video"}}


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
            for imported in imports(path) - allowed - {package}:
                wrong.append(f"{package}/{path.name} imports {imported}")
    assert not wrong, wrong
    assert set(ALLOWED) == {path.name for path in PACKAGE.iterdir() if (path / "__init__.py").exists()}
