"""``Changes``: what a build has to catch up on, computed once and handed to every stage.

Why one value: each stage used to find out for itself what changed (or recompute
everything). The build computes the change set once, from what ingest added since the
last finished build and what the cascades stage rebuilt, and passes it on, so a stage
that can work in proportion to the change knows its scope, and one that cannot says
so by ignoring it.

Example:

>>> from spreadtrace.store import Store
>>> with Store.open(":memory:") as store:
...     changes = Changes.since_last_build(store, touched=None, full=True)
>>> changes.full, changes.new_posts
(True, 0)
"""

from __future__ import annotations

from dataclasses import dataclass

from spreadtrace.store import Store
from spreadtrace.store import builds as builds_sql

__all__ = ["Changes"]


@dataclass(frozen=True)
class Changes:
    """The change set of one build.

    - full: everything is recomputed (``--full``, a first build, changed parameters);
    - cascades: the cascade ids the cascades stage rebuilt (None: all of them);
    - new_posts: posts ingested since the last finished build (0 on a first build,
      where ``full`` is set anyway);
    - accounts: the distinct accounts of those posts.
    """

    full: bool
    cascades: tuple[str, ...] | None
    new_posts: int = 0
    accounts: int = 0

    @classmethod
    def since_last_build(cls, store: Store, *, touched: list[str] | None, full: bool) -> Changes:
        """The change set after the cascades stage: ``touched`` is its rebuilt cascades."""
        posts, accounts = builds_sql.new_since_last_build(store.con)
        return cls(
            full=full or touched is None,
            cascades=None if touched is None else tuple(touched),
            new_posts=posts,
            accounts=accounts,
        )

    def to_dict(self) -> dict[str, int | bool]:
        """Counts for the build summary (never the ids, which can be many)."""
        return {
            "full": self.full,
            "cascades": -1 if self.cascades is None else len(self.cascades),
            "new_posts": self.new_posts,
            "accounts": self.accounts,
        }
