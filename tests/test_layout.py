"""The code's shape: dependencies run one way, ui -> service -> core, with no circle; Gradio is imported only
under augtune/ui/, whose modules stay short enough to read as layout and wiring; a grid worker never loads
Gradio. Read from the source files (ast), so every import counts, also one inside a function."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "augtune"
UI_MAX_LINES = 450


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imports(name: str) -> set[str]:
    """Every module `name` imports, by its full name; `from package import thing` counts both."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            found.add(source)
            found.update(f"{source}.{alias.name}" for alias in node.names)
    return found


def layer(name: str) -> str:
    if name == "augtune.ui" or name.startswith("augtune.ui."):
        return "ui"
    if name == "augtune.service" or name.startswith("augtune.service."):
        return "service"
    return "core"


def internal(name: str) -> set[str]:
    """The augtune modules `name` imports (names that are not modules, like a function, left out)."""
    return {imported for imported in imports(name) if imported in MODULES}


def test_the_layers_exist():
    assert {layer(name) for name in MODULES} == {"ui", "service", "core"}
    assert "augtune.service.grid_workers" in MODULES and "augtune.ui.app" in MODULES


def test_only_the_ui_imports_gradio():
    offenders = {
        name: sorted(imported for imported in imports(name) if imported == "gradio" or imported.startswith("gradio."))
        for name in MODULES if layer(name) != "ui"
    }
    assert not {name: found for name, found in offenders.items() if found}


def test_dependencies_run_one_way():
    allowed = {"core": {"core"}, "service": {"core", "service"}, "ui": {"core", "service", "ui"}}
    wrong = {
        name: sorted(imported for imported in internal(name) if layer(imported) not in allowed[layer(name)])
        for name in MODULES
    }
    assert not {name: found for name, found in wrong.items() if found}


def test_only_the_app_module_is_the_top_of_the_ui():
    importers = sorted(name for name in MODULES if "augtune.ui.app" in internal(name) and name != "augtune.ui.app")
    assert not importers


def test_no_import_circle_in_the_ui_or_the_service():
    graph = {name: {imported for imported in internal(name) if layer(imported) != "core" and imported != name}
             for name in MODULES if layer(name) != "core"}
    for package in ("augtune.ui", "augtune.service", "augtune.service.strings"):
        for node in graph.values():
            node.discard(package)  # importing a package's own __init__ is no circle
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        assert name not in path, "import circle: " + " -> ".join([*path[path.index(name):], name])
        if name in done:
            return
        for imported in graph.get(name, ()):
            visit(imported, [*path, name])
        done.add(name)

    for name in graph:
        visit(name, [])


def test_every_ui_module_is_short():
    lengths = {path.name: len(path.read_text().splitlines()) for path in (PACKAGE / "ui").glob("*.py")}
    assert all(length <= UI_MAX_LINES for length in lengths.values()), lengths


def test_the_ui_defines_no_gradio_component_class():
    """Gradio writes a .pyi stub beside the module of every component class it meets (gradio 6.31's
    ComponentMeta), so a subclass in the package would leave files behind at import time."""
    import augtune.ui.app  # noqa: F401  (every ui module, imported as the server imports it)

    assert not sorted(PACKAGE.rglob("*.pyi"))


def test_the_upload_folder_is_gradios():
    """augtune.service restates where Gradio keeps uploads (so that it needs no Gradio): the two must agree."""
    from gradio.utils import get_upload_folder

    from augtune.service.pictures import upload_folder

    assert upload_folder() == get_upload_folder()


def test_a_grid_worker_loads_no_gradio():
    """A grid worker's whole life, in a fresh interpreter: its module, its start, one grid drawn."""
    script = textwrap.dedent("""
        import sys, threading
        from multiprocessing import Pipe
        sys.path.insert(0, sys.argv[1])
        from augtune import AugSpec
        from augtune.service import grid_workers
        from augtune.service.pictures import DEFAULT_IMAGE
        from PIL import Image
        server, worker = Pipe()
        threading.Thread(target=grid_workers.serve, args=(worker, 2**26), daemon=True).start()
        assert server.poll(120) and server.recv() == "ready"
        picture = Image.open(DEFAULT_IMAGE).convert("RGB")
        server.send(("grid", "cat", AugSpec(samples=2).to_json(), "en", grid_workers._payload(picture)))
        assert server.poll(120)
        answer = server.recv()
        assert answer[0] == "grid" and answer[1]["grid"].startswith("<div"), answer
        print("gradio loaded:", sorted(name for name in sys.modules if name.split(".")[0] == "gradio"))
    """)
    done = subprocess.run([sys.executable, "-c", script, str(ROOT)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "gradio loaded: []" in done.stdout, done.stdout
