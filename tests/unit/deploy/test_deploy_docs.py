"""The docs stay true to the code: the README's configuration table lists every setting and
only settings that exist; the paths, make targets, subcommands and flags the docs quote exist;
and no doc or docstring names a module, class, function or endpoint that does not exist."""

from __future__ import annotations

import argparse
import ast
import builtins
import importlib
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import fakeredis
import pytest
from tests.support.paths import REPO_ROOT, SHARED_DIR

from tickvault.cli import build_parser
from tickvault.config import Settings
from tickvault_api import create_app
from tickvault_api.settings import ApiSettings
from tickvault_collector.settings import CollectorSettings
from tickvault_writer.archive.settings import ImportSettings
from tickvault_writer.settings import WriterSettings

# Read outside the Settings classes: the query client's URL and the test suite's own.
OTHER_VARIABLES = {
    "TICKVAULT_API_URL",
    "TICKVAULT_TEST_DATABASE_URL",
    "TICKVAULT_TEST_REDIS_URL",
    "TICKVAULT_SHARED_DIR",
}
DOCS = ["README.md", "docs/ARCHITECTURE.md", "docs/OPERATIONS.md", "docs/SCALING.md"]


def settings_variables() -> set[str]:
    """Return the TICKVAULT_ variables the settings read (the AWS_* ones keep their names)."""
    return {
        f"TICKVAULT_{name.upper()}"
        for cls in (Settings, CollectorSettings, WriterSettings, ApiSettings, ImportSettings)
        for name, field in cls.model_fields.items()
        if field.validation_alias is None
    }


def test_readme_configuration_table_lists_every_setting() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    rows = set(re.findall(r"^\| `(TICKVAULT_[A-Z0-9_]+)` \|", readme, re.M))
    assert settings_variables() - rows == set()


def test_docs_name_no_variable_the_code_does_not_read() -> None:
    known = settings_variables() | OTHER_VARIABLES
    for doc in DOCS:
        path = REPO_ROOT / doc
        text = path.read_text(encoding="utf-8")
        named = set(re.findall(r"TICKVAULT_[A-Z0-9_]*[A-Z0-9]", text))
        # "TICKVAULT_*_METRICS_PORT"-style wildcards are prose, not names
        assert {n for n in named if not n.endswith("_")} - known == set(), doc


def test_docs_link_only_to_files_that_exist() -> None:
    for doc in DOCS:
        path = REPO_ROOT / doc
        for target in re.findall(r"\]\((?!https?://|#)([^)#]+)", path.read_text(encoding="utf-8")):
            if target.endswith(("DATABASE.md", "API.md")):
                continue  # written by the schema and API owners; may land later
            assert (path.parent / target).exists(), f"{doc} links to missing {target}"


# ------------------------------------------------------------ commands and paths the docs quote

ALL_DOCS = ["README.md", *sorted(f"docs/{p.name}" for p in (REPO_ROOT / "docs").glob("*.md"))]
# Where a quoted path may be rooted besides the repository and the doc's own folder: the
# packages' source folders (docs name modules as `tickvault_writer/binary.py`), and the
# shared folder beside the checkout (recordings, the Binance protocol notes).
PATH_ROOTS = [
    REPO_ROOT,
    REPO_ROOT / "shared",
    REPO_ROOT / "shared" / "tickvault",
    REPO_ROOT / "shared" / "tickvault" / "db",
    *(p for p in (REPO_ROOT / "services").iterdir() if p.is_dir()),
]
_QUOTED = re.compile(r"`([^`\n]+)`")
_PATHLIKE = re.compile(r"^\.{0,2}/?[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.@-]+)+/?$")
_SERVICE_COMMANDS = {
    "tickvault-collector": "tickvault_collector.__main__",
    "tickvault-writer": "tickvault_writer.__main__",
    "tickvault-replay": "tickvault_replay.__main__",
    "tickvault-api": "tickvault_api.__main__",
}


def quoted(doc: str) -> list[str]:
    """Return every inline-code span of *doc* (code blocks included, line by line)."""
    return _QUOTED.findall((REPO_ROOT / doc).read_text(encoding="utf-8"))


def _exists(doc: str, path: str) -> bool:
    if path.startswith(("../shared/", "shared/docs/", "shared/data/")):
        return (SHARED_DIR / path.split("shared/", 1)[1]).exists()
    roots = [(REPO_ROOT / doc).parent, *PATH_ROOTS]
    return any((root / path).exists() for root in roots)


@pytest.mark.parametrize("doc", ALL_DOCS)
def test_paths_the_docs_quote_exist(doc: str) -> None:
    missing = []
    for span in quoted(doc):
        path = span.split("::", 1)[0].rstrip(".,:;")
        if path.startswith("/") or not _PATHLIKE.match(path) or "@" in path.split("/", 1)[0]:
            continue  # an HTTP route or a stream name, not a file
        if path.startswith(("bench/results/", ".compose/")):
            continue  # written when a benchmark or `make compose-demo` runs (not in git)
        if path.endswith(("/event-stream", "/price")):
            continue  # MIME types and Binance endpoints
        if not _exists(doc, path):
            missing.append(path)
    assert missing == [], f"{doc} quotes paths that do not exist: {missing}"


def _make_targets() -> set[str]:
    makefile = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([a-z][a-z-]*):", makefile, re.M))


def _subcommands() -> set[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return set(sub.choices)


def _flags(module: str) -> set[str]:
    """Return the long options a service's ``--help`` lists."""
    done = subprocess.run(
        [sys.executable, "-m", module.removesuffix(".__main__"), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "TICKVAULT_LOG_LEVEL": "WARNING"},
    )
    return set(re.findall(r"--[a-z][a-z-]*", done.stdout))


def test_make_targets_and_tickvault_subcommands_the_docs_quote_exist() -> None:
    targets, subcommands = _make_targets(), _subcommands()
    for doc in ALL_DOCS:
        for span in quoted(doc):
            for target in re.findall(r"(?:^|\s)make ([a-z][a-z-]*)", span):
                assert target in targets, f"{doc} quotes `make {target}`: no such target"
            for command in re.findall(r"(?:^|\s)tickvault ([a-z][a-z-]*)", span):
                assert command in subcommands, f"{doc} quotes `tickvault {command}`"


def test_service_flags_the_docs_quote_exist() -> None:
    flags = {command: _flags(module) for command, module in _SERVICE_COMMANDS.items()}
    for doc in ALL_DOCS:
        for span in quoted(doc):
            for command, options in re.findall(r"(tickvault-[a-z]+)((?: +--?[a-z][a-z-]*)+)", span):
                if command not in flags:
                    continue
                for flag in re.findall(r"--[a-z][a-z-]*", options):
                    assert flag in flags[command], f"{doc} quotes `{command} {flag}`"


CITED = "SPEC " + "§"  # a section of a file outside the repository (spelled apart: not cited)


def test_docs_cite_no_document_outside_the_repository() -> None:
    for doc in ALL_DOCS:
        text = (REPO_ROOT / doc).read_text(encoding="utf-8")
        assert CITED not in text, f"{doc} cites SPEC sections, which are not in the repo"


def test_code_cites_no_document_outside_the_repository() -> None:
    for root in ("shared", "services", "tests", "bench"):
        for path in sorted((REPO_ROOT / root).rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            assert CITED not in text, f"{path.relative_to(REPO_ROOT)} cites SPEC sections"


# ------------------------------------------------------------ modules, names and endpoints named

# Where a dotted name's first part lives: the packages, and the tests' and bench's own modules.
PACKAGE_DIRS = {
    "tickvault": REPO_ROOT / "shared" / "tickvault",
    "tickvault_collector": REPO_ROOT / "services" / "collector" / "tickvault_collector",
    "tickvault_writer": REPO_ROOT / "services" / "writer" / "tickvault_writer",
    "tickvault_api": REPO_ROOT / "services" / "api" / "tickvault_api",
    "tickvault_replay": REPO_ROOT / "services" / "replay" / "tickvault_replay",
    "tests": REPO_ROOT / "tests",
    "bench": REPO_ROOT / "bench",
}
SOURCE_DIRS = ("shared", "services", "tests", "bench")
# Quoted names that belong to other software (a name quoted in a doc is taken for ours).
FOREIGN_NAMES = {
    "Assembler",  # websockets' message assembler
    "Lock",  # redis-py's redis.lock.Lock
    "TimeZone",  # a PostgreSQL setting
    "Dockerfile",  # a file at the root
    "Allow",  # an HTTP header
    "NoSuchKey",  # an S3 error code
    "VmHWM",  # a field of /proc/PID/status
}
FOREIGN_FILES = {"enums.md"}  # Binance's API documentation
_DOTTED = re.compile(r"(?<![\w.:/-])(tickvault(?:_collector|_writer|_api|_replay)?(?:\.\w+)+)")
_FILE_SUFFIXES = {"json", "yml", "yaml", "md", "py", "toml", "txt", "csv", "gz", "sh", "ini"}
_ROLE = re.compile(r":(?:mod|class|func|meth|data|attr|exc|obj):`~?([\w.]+)`")
_CLASSLIKE = re.compile(r"^[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)*$")  # `Tick`, `PgStore`, `ApiDeps`
# Any /api/v1/... path, and the API's /prices, /symbols and /gaps written without the prefix
# (a bare /stream is also Binance's combined-stream route: it counts only with the prefix).
_ENDPOINT = re.compile(
    r"(?<![\w/])(?:/api/v1(?:/[\w{}<>.*%-]*)+|/(?:prices|symbols|gaps)(?:/[\w{}<>.*%-]*)*)"
)
_FILE_NAME = re.compile(r"[\w-]+\.(?:py|md|sh|yml|yaml|toml|ini|lua)")


def _python_files() -> Iterator[Path]:
    for root in SOURCE_DIRS:
        yield from sorted((REPO_ROOT / root).rglob("*.py"))


@cache
def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"))


def _defined(tree: ast.AST) -> frozenset[str]:
    """Return every name *tree* defines or imports: classes, functions, assigned names and
    attributes, enum members."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for part in ast.walk(target):
                    if isinstance(part, ast.Name):
                        names.add(part.id)
                    elif isinstance(part, ast.Attribute):
                        names.add(part.attr)
    return frozenset(names)


@cache
def _all_defined() -> frozenset[str]:
    modules = {p.stem for p in _python_files()} | {p.parent.name for p in _python_files()}
    return frozenset().union(modules, *(_defined(_tree(p)) for p in _python_files()))


def _module_file(dotted: str) -> Path | None:
    head, *rest = dotted.split(".")
    if head not in PACKAGE_DIRS:
        return None
    path = PACKAGE_DIRS[head].joinpath(*rest)
    for candidate in (path.with_suffix(".py") if rest else None, path / "__init__.py"):
        if candidate is not None and candidate.is_file():
            return candidate
    return None


def _resolves(dotted: str) -> bool:
    """Return whether *dotted* is a module of the tree, or names what such a module defines."""
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        found = _module_file(".".join(parts[:end]))
        if found is not None:
            return all(part in _defined(_tree(found)) for part in parts[end:])
    return False


def _importable(dotted: str) -> bool:
    """Return whether *dotted* names an installed module or something one defines."""
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:end]))
        except ImportError:
            continue
        for part in parts[end:]:
            if not hasattr(found, part):
                return False
            found = getattr(found, part)
        return True
    return False


def _texts() -> Iterator[tuple[str, str]]:
    """Yield (where, text) for every doc and every docstring of the tree."""
    for doc in ALL_DOCS:
        yield doc, (REPO_ROOT / doc).read_text(encoding="utf-8")
    for path in _python_files():
        where = str(path.relative_to(REPO_ROOT))
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                doc = ast.get_docstring(node, clean=False)
                if doc:
                    yield where, doc


def _code_spans(where: str, text: str) -> list[str]:
    """Return the inline code of a doc (`x`) or a docstring (``x``), trimmed."""
    pattern = r"``([^`\n]+)``" if where.endswith(".py") else r"`([^`\n]+)`"
    return [span.strip().removesuffix("()") for span in re.findall(pattern, text)]


def test_docs_and_docstrings_name_only_modules_that_exist() -> None:
    missing = []
    for where, text in _texts():
        for name in _DOTTED.findall(text):
            name = name.rstrip(".")
            if name.rsplit(".", 1)[-1] not in _FILE_SUFFIXES and not _resolves(name):
                missing.append(f"{where}: {name}")
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    for override in pyproject["tool"]["mypy"]["overrides"]:
        for module in override["module"]:
            if module.startswith("tickvault") and not _resolves(module):
                missing.append(f"pyproject.toml: {module}")
    assert missing == [], "named, but not in the tree:\n" + "\n".join(missing)


def test_docstring_cross_references_resolve() -> None:
    known = _all_defined()
    missing = []
    for where, text in _texts():
        for target in _ROLE.findall(text):
            target = target.lstrip(".")  # a relative :mod:`.periods` names a sibling module
            head = target.split(".")[0]
            if head in PACKAGE_DIRS:
                ok = _resolves(target)
            else:  # a name of the tree (`Stores.query`) or of a library (`redis.lock.Lock`)
                ok = all(p in known or hasattr(builtins, p) for p in target.split("."))
                ok = ok or ("." in target and _importable(target))
            if not ok:
                missing.append(f"{where}: {target}")
    assert missing == [], "cross-references to nothing:\n" + "\n".join(missing)


def _file_names() -> set[str]:
    roots = (*SOURCE_DIRS, "scripts", "deploy")
    files = {p.name for root in roots for p in (REPO_ROOT / root).rglob("*")}
    files |= {p.name for p in REPO_ROOT.iterdir()} | {p.name for p in SHARED_DIR.glob("docs/*")}
    return files | FOREIGN_FILES


def test_quoted_class_and_file_names_exist() -> None:
    known, files = _all_defined() | FOREIGN_NAMES, _file_names()
    missing = []
    for where, text in _texts():
        for span in _code_spans(where, text):
            if _CLASSLIKE.match(span):
                gone = span not in known and not hasattr(builtins, span)
            else:
                gone = _FILE_NAME.fullmatch(span) is not None and span not in files
            if gone:
                missing.append(f"{where}: `{span}`")
    assert missing == [], "quoted, but defined nowhere in the tree:\n" + "\n".join(missing)


def test_api_endpoints_the_docs_name_exist() -> None:
    app = create_app(ApiSettings(_env_file=None), redis=fakeredis.FakeRedis())  # type: ignore[call-arg]
    rules = [re.sub(r"<[^>]+>", "[^/]+", rule.rule) for rule in app.url_map.iter_rules()]
    missing = []
    for where, text in _texts():
        for named in _ENDPOINT.findall(text):
            path = named if named.startswith("/api/v1") else "/api/v1" + named
            path = re.sub(r"\{[^}]*\}|<[^>]*>", "X", path).rstrip(".:-")
            if not any(re.fullmatch(rule, path) for rule in rules):
                missing.append(f"{where}: {named}")
    assert missing == [], "endpoints the API does not serve:\n" + "\n".join(missing)
