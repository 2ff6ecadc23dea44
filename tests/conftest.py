"""Shared fixtures: stores (in memory and on disk), the shared real data, the CLI runner."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from spreadtrace.store import Store

REPO = Path(__file__).resolve().parents[1]
TEST_DATA = Path(__file__).resolve().parent / "data"
# The real public datasets live beside the checkout, never inside it (see ../shared/data).
SHARED_DATA = Path(os.environ.get("SPREADTRACE_SHARED_DATA", REPO.parent / "shared" / "data"))


def shared_file(relative: str) -> Path:
    """Path to a file of the shared real datasets, or skip the test with the reason."""
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"real dataset {relative} not available ({SHARED_DATA} absent)")
    return path


@pytest.fixture
def mem_store() -> Iterator[Store]:
    """An in-memory store with the current schema."""
    with Store.open(":memory:") as store:
        yield store


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """Path for a temp-file store (not yet created)."""
    return tmp_path / "store.duckdb"


@pytest.fixture
def file_store(db_path: Path) -> Iterator[Store]:
    """A temp-file store with the current schema, open for writing."""
    with Store.open(db_path) as store:
        yield store


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()
