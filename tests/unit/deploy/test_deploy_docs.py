"""The docs stay true to the code: the README's configuration table lists every setting and
only settings that exist; the paths, make targets, subcommands and flags the docs quote exist."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys

import pytest
from tests.support.paths import REPO_ROOT, SHARED_DIR

from tickvault.cli import build_parser
from tickvault.config import Settings
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
        if path.startswith("bench/results/") or path.endswith(("/event-stream", "/price")):
            continue  # written when a benchmark runs; MIME types and Binance endpoints
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
