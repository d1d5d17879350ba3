"""Nothing imports the folders ``shared`` or ``services``: only the ``tickvault*`` packages.

A folder named ``shared`` sits beside every checkout here, so ``import shared`` would pick
up whatever happens to be on the path. Ruff's banned-api rule catches it at lint time; this
test catches it even where ruff is not run, including dynamic imports with a literal name.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from tests.support.paths import REPO_ROOT

BANNED = {"shared", "services"}
SCANNED = ("shared", "services", "tests", "bench")
DYNAMIC = {"import_module", "__import__"}


def python_files() -> Iterator[Path]:
    for folder in SCANNED:
        for path in sorted((REPO_ROOT / folder).rglob("*.py")):
            if not any(part.startswith(".") for part in path.relative_to(REPO_ROOT).parts):
                yield path


def banned_imports(source: str, filename: str) -> list[str]:
    """Return ``line: module`` for every import of a banned top-level name in *source*."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            first = node.args[0]
            if called in DYNAMIC and isinstance(first, ast.Constant):
                names = [str(first.value)]
        line = getattr(node, "lineno", 0)
        found += [f"{line}: {n}" for n in names if n.split(".")[0] in BANNED]
    return found


def test_the_guard_sees_every_kind_of_banned_import() -> None:
    sample = (
        "import shared\n"
        "import services.writer.tickvault_writer as w\n"
        "from shared.tickvault import codec\n"
        "import importlib\n"
        "importlib.import_module('services.api')\n"
        "from tickvault import codec\n"
        "from . import shared\n"
        "import sharedlib\n"
    )
    assert banned_imports(sample, "<sample>") == [
        "1: shared",
        "2: services.writer.tickvault_writer",
        "3: shared.tickvault",
        "5: services.api",
    ]


def test_no_python_file_imports_the_shared_or_services_folders() -> None:
    files = list(python_files())
    assert any(p.name == "codec.py" for p in files)  # the scan really covers the package
    offenders = [
        f"{path.relative_to(REPO_ROOT)}:{hit}"
        for path in files
        for hit in banned_imports(path.read_text(encoding="utf-8"), str(path))
    ]
    assert offenders == []


def test_ruff_flags_a_banned_import_with_the_project_config(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        '"""Sample."""\n\nimport shared.tickvault\nfrom services.writer import x\n\n'
        "print(shared, x)\n"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ruff",
            "check",
            "--no-cache",
            "--config",
            str(REPO_ROOT / "pyproject.toml"),
            "--select",
            "TID251",
            "--output-format",
            "concise",
            str(sample),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    flagged = [line for line in done.stdout.splitlines() if "TID251" in line]
    assert len(flagged) == 2, done.stdout
    assert "`shared` is banned" in done.stdout
    assert "`services` is banned" in done.stdout
