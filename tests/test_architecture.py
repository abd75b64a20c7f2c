"""The shape of the code: who may write an edit's status, and which way the imports point.

These read the source (with `ast`), so a change that breaks a layer rule fails here with the file
and line, before it turns into a bug somewhere else.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

EDITOR = Path(__file__).resolve().parent.parent / "editor"
WRITE_CALLS = {"update", "create", "get_or_create", "update_or_create", "bulk_create"}
# Imports inside a function that are there for a reason other than a cycle: the prompt model (MiniLM)
# loads only when a prompt needs it, which keeps every other edit's start-up light; signal receivers
# are connected in AppConfig.ready, once the models are loaded (Django's documented way).
LAZY_IMPORTS = {("engines/local/plan.py", "editor.engines.local"), ("apps.py", "editor")}


def modules(under: str = "") -> list[Path]:
    root = EDITOR / under
    return sorted(p for p in root.rglob("*.py") if "migrations" not in p.parts)


def name(path: Path) -> str:
    return path.relative_to(EDITOR).as_posix() if path.is_relative_to(EDITOR) else path.name


def tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def imported(node: ast.AST) -> list[str]:
    """Return the modules an import statement brings in (`from a import b` gives a and a.b)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom) and node.module:
        return [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
    return []


def status_writes(path: Path) -> list[str]:
    """Return where a module writes a `status` field: an ORM write with status=, an assignment, update_fields."""
    found = []
    for node in ast.walk(tree(path)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            keywords = {k.arg for k in node.keywords}
            if node.func.attr in WRITE_CALLS and "status" in keywords:
                found.append(f"{name(path)}:{node.lineno} {node.func.attr}(status=…)")
            for keyword in node.keywords:
                if keyword.arg == "update_fields" and "status" in ast.unparse(keyword.value):
                    found.append(f"{name(path)}:{node.lineno} save(update_fields=[…status…])")
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Attribute) and target.attr == "status":
                    found.append(f"{name(path)}:{node.lineno} .status = …")
    return found


def test_only_the_model_layer_writes_an_edits_status():
    # The engines cannot reach an edit at all (they import no ORM: see below); their `status` is HTTP's.
    django_side = [p for p in modules() if name(p) != "models.py" and not name(p).startswith("engines/")]
    writes = [w for path in django_side for w in status_writes(path)]
    assert writes == []


def test_the_scan_finds_a_raw_status_write(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "Edit.objects.filter(pk=1).update(status='failed')\nedit.status = 'running'\nedit.save(update_fields=['status'])\n"
    )
    assert len(status_writes(sample)) == 3


def test_only_the_queue_module_imports_the_tasks():
    importers = [name(p) for p in modules() if name(p) != "tasks.py" and "editor.tasks" in _all_imports(p)]
    assert importers == ["services/queue.py"]


def test_the_engines_import_no_django_and_nothing_above_them():
    above = ("editor.models", "editor.services", "editor.views", "editor.forms", "editor.storage", "editor.tasks")
    bad = {
        name(p): sorted(m for m in _all_imports(p) if m.split(".")[0] == "django" or m.startswith(above))
        for p in modules("engines")
    }
    assert {k: v for k, v in bad.items() if v} == {}


def test_the_models_import_nothing_from_the_engines_or_the_services():
    found = sorted(m for m in _all_imports(EDITOR / "models.py") if m.startswith(("editor.engines", "editor.services")))
    assert found == []


@pytest.mark.parametrize("module", ["services/remote_edits.py", "services/providers.py", "services/queue.py"])
def test_the_remote_services_never_import_the_edits_service(module):
    # (`from editor.services import edits` counts as importing editor.services.edits.)
    assert "editor.services.edits" not in _all_imports(EDITOR / module)


def test_views_and_forms_reach_engine_facts_through_services_or_the_catalogue():
    layer = [*modules("views"), EDITOR / "forms.py"]
    found = {name(p): sorted(m for m in _all_imports(p) if m.startswith("editor.engines.local")) for p in layer}
    assert {k: v for k, v in found.items() if v} == {}


def test_no_function_level_import_of_the_studios_own_modules():
    found = []
    for path in modules():
        for function in ast.walk(tree(path)):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(function):
                for module in imported(node)[:1]:
                    if module.startswith("editor") and (name(path), module) not in LAZY_IMPORTS:
                        found.append(f"{name(path)}:{node.lineno} {module}")
    assert found == []


def _all_imports(path: Path) -> set[str]:
    return {module for node in ast.walk(tree(path)) for module in imported(node)}



@pytest.mark.parametrize("module", sorted(p.stem for p in (EDITOR / "services").glob("*.py") if p.stem != "__init__") + ["tasks"])
def test_every_service_loads_first_in_a_fresh_process(module):
    """The tasks call the services and the services reach the queue that imports the tasks: whichever
    loads first, the circle must close (the services import one another as modules)."""
    import subprocess
    import sys

    target = "editor.tasks" if module == "tasks" else f"editor.services.{module}"
    code = f"import django; django.setup(); import {target}"
    done = subprocess.run([sys.executable, "-c", code], cwd=EDITOR.parent, capture_output=True, text=True,
                          env={**__import__("os").environ, "DJANGO_SETTINGS_MODULE": "aleph_studio.settings"})
    assert done.returncode == 0, done.stderr[-2000:]
