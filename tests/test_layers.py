"""The direction of imports between the layers: storage knows nothing of what uses it, and
handlers know no platform. Read from the source, so a new module is checked as it lands."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PLATFORM_LIBRARIES = ("telegram", "httpx", "starlette", "uvicorn")


def imported_modules(package: str) -> list[tuple[str, str]]:
    """(file, module) for every import in the package's source files."""
    found: list[tuple[str, str]] = []
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found.extend((str(path.relative_to(ROOT)), alias.name) for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.append((str(path.relative_to(ROOT)), node.module))
    return found


def test_the_check_sees_imports() -> None:
    assert ("storage/db.py", "sqlalchemy") in [
        (f, m.split(".")[0]) for f, m in imported_modules("storage")
    ]


@pytest.mark.parametrize("forbidden", ["handlers", "bot"])
def test_storage_imports_nothing_from_the_layers_above(forbidden: str) -> None:
    wrong = [(f, m) for f, m in imported_modules("storage") if m.split(".")[0] == forbidden]
    assert wrong == []


def test_handlers_import_no_platform_library() -> None:
    wrong = [
        (f, m) for f, m in imported_modules("handlers") if m.split(".")[0] in PLATFORM_LIBRARIES
    ]
    assert wrong == []
