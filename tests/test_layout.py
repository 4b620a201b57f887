"""The project's layout rules, checked on the source: what imports what."""

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TABS = ("generate_tab", "compare_tab", "png_info_tab")
# A newcomer follows a click through at most this many layers of ui/ (issue 16).
MAX_LEVELS = 5


def imported_modules(path: Path) -> set[str]:
    """Every module `path` imports, by its full dotted name."""
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
    return modules


@pytest.mark.parametrize("path", sorted((REPO / "ui").glob("*.py")), ids=lambda path: path.name)
def test_the_interface_drives_the_model_only_through_pipeline(path):
    heavy = {module for module in imported_modules(path) if module.split(".")[0] in ("torch", "diffusers")}
    assert not heavy, f"{path.name} imports {heavy}"


@pytest.mark.parametrize("tab", TABS)
def test_tabs_sit_side_by_side(tab):
    others = {f"ui.{other}" for other in TABS if other != tab}
    assert not imported_modules(REPO / "ui" / f"{tab}.py") & others


def interface_imports() -> dict[str, set[str]]:
    """Each module of ui/ and the modules of ui/ it imports, by short name."""
    modules = {path.stem: path for path in (REPO / "ui").glob("*.py") if path.stem != "__init__"}
    return {
        name: {module.removeprefix("ui.") for module in imported_modules(path)} & modules.keys()
        for name, path in modules.items()
    }


def test_the_interface_is_at_most_five_import_levels_deep():
    imports = interface_imports()

    def level(module: str) -> int:  # a module that imports none of ui/ is level 1
        return 1 + max((level(other) for other in imports[module]), default=0)

    levels = {module: level(module) for module in imports}
    assert max(levels.values()) <= MAX_LEVELS, sorted(levels.items(), key=lambda item: item[1])


@pytest.mark.parametrize("path", sorted((REPO / "pipeline").glob("*.py")), ids=lambda path: path.name)
def test_the_pipeline_knows_nothing_of_gradio_or_the_environment_variables_of_the_app(path):
    assert not {module for module in imported_modules(path) if module.split(".")[0] in ("gradio", "ui")}
    assert "TURBO_STUDIO_" not in path.read_text(encoding="utf-8")
