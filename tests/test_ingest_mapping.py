"""Column mappings, several rows per post, and time parsing.

The German elections file (Righetti et al. 2022, CooRTweet's example data) is the
real long-format case: one row per URL, hashtag or image of a post. It must land
whole through its shipped mapping, and the co-sharing result must be the one in
docs/scores.md.
"""

from __future__ import annotations

import json

import polars as pl
import pytest

from spreadtrace.cli import main
from spreadtrace.errors import InputError
from spreadtrace.ingest import ingest_file
from spreadtrace.ingest.mapping import Mapping, load_mapping, shipped_mappings, suggest
from spreadtrace.store import Store
from spreadtrace.store import items as items_sql
from tests.conftest import REPO, shared_file

GERMAN = "coordination/german_elections.csv.gz"


@pytest.fixture(scope="module")
def german_store():
    path = shared_file(GERMAN)
    with Store.open(":memory:") as store:
        result = ingest_file(store, path, mapping=load_mapping("german-elections"))
        # coordination co-shares the build's items: key the URLs as a build's items stage does
        items_sql.write_items(store.con, 0, None)
        yield store, result, path


def test_german_elections_nothing_lost(german_store):
    store, r, path = german_store
    raw = pl.read_csv(path, infer_schema=False)
    # every row is accounted for: 3 rows carry no post at all
    assert r.rows_read == raw.height == 218_971
    assert r.rows_read == r.rows_inserted + r.rows_merged + r.rows_duplicate + r.rows_rejected
    assert (r.rows_inserted, r.rows_rejected) == (194_323, 3)
    assert r.reject_reasons == {"missing post_id": 3}
    # A later row of a post is merged when it differs from every earlier row and adds
    # something to the post's first row (here: another URL, hashtag, image or domain);
    # otherwise it is a duplicate. Worked out independently on the raw rows:
    rows = raw.filter(pl.col("post_id").is_not_null()).with_row_index("line")
    first = rows.group_by("post_id").agg(pl.all().sort_by("line").first().name.suffix("_1"))
    later = (
        rows.unique(subset=[c for c in raw.columns], keep="first")
        .join(first, on="post_id")
        .filter(pl.col("line") != pl.col("line_1"))
    )
    adds = pl.any_horizontal(
        [
            pl.col(c).is_not_null() & (pl.col(f"{c}_1").is_null() | (pl.col(c) != pl.col(f"{c}_1")))
            for c in ("url_id", "hashtag_id", "phash_id", "domain_id")
        ]
    )
    assert r.rows_merged == later.filter(adds).height == 426
    assert r.rows_duplicate == raw.height - 3 - r.rows_inserted - r.rows_merged
    # every (post, item) pair of the file is in the store, and nothing else
    for column, prefix, target in (
        ("url_id", "url-", "urls"),
        ("hashtag_id", "hashtag-", "hashtags"),
        ("phash_id", "phash:", "media"),
    ):
        want = {
            (p, prefix + v)
            for p, v in raw.select("post_id", column).drop_nulls().unique().iter_rows()
        }
        got = set(
            store.con.execute(
                f"SELECT post_id, unnest({target}) FROM posts WHERE {target} IS NOT NULL"
            ).fetchall()
        )
        assert got == want, column
    domains = dict(
        store.con.execute(
            "SELECT post_id, platform_meta->>'domain_id' FROM posts WHERE platform_meta IS NOT NULL"
        ).fetchall()
    )
    assert domains == dict(raw.select("post_id", "domain_id").drop_nulls().unique().iter_rows())
    platforms = dict(
        store.con.execute("SELECT platform, count(*) FROM posts GROUP BY 1").fetchall()
    )
    assert platforms == {"facebook": 81_566, "twitter": 112_757}
    (mapping,) = store.con.execute("SELECT mapping FROM ingest_runs").fetchone()
    assert json.loads(mapping)["name"] == "german-elections"
    assert store.con.execute("SELECT rows_merged FROM ingest_runs").fetchone() == (r.rows_merged,)


@pytest.mark.parametrize(
    ("window", "pairs", "cross", "clusters", "accounts"),
    [(60, 1_119, 0, 128, 372), (3_600, 2_462, 22, 262, 751)],  # docs/scores.md table
)
def test_german_elections_coordination_matches_docs(
    german_store, window, pairs, cross, clusters, accounts
):
    from spreadtrace.graph.coordination import cluster_pairs, npmi
    from spreadtrace.store import coordination as coordination_sql

    store, _, _ = german_store
    stats = coordination_sql.co_share_pairs(
        store.con, window_s=window, min_shared=2, items=("url",)
    )
    assert (stats["shares"], stats["items"]) == (41_085, 11_960)  # docs: URL shares, URLs
    found = coordination_sql.fetch_pairs(store.con)
    found = found.with_columns(
        pl.Series(
            "strength",
            npmi(found["shared_items"], found["n_a"], found["n_b"], int(found["n_items"][0])),
        )
    )
    groups = cluster_pairs(found, min_strength=0.3, method="leiden")
    n_cross = found.filter(
        pl.col("account_a").str.slice(0, 2) != pl.col("account_b").str.slice(0, 2)
    ).height
    assert (found.height, n_cross, groups["cluster_id"].n_unique(), groups.height) == (
        pairs,
        cross,
        clusters,
        accounts,
    )


def test_foreign_columns_and_float_epochs_with_map_alone_give_the_canonical_posts(runner, tmp_path):
    sample = REPO / "data" / "sample" / "posts.csv.gz"
    posts = pl.read_csv(sample, infer_schema=False, encoding="utf8-lossy")
    canonical = tmp_path / "canonical.csv"
    posts.write_csv(canonical)
    foreign = posts.select(
        pl.col("post_id").alias("content_id"),
        pl.col("account_id"),
        pl.col("parent_id").alias("object_id"),
        (
            pl.col("created_at")
            .str.to_datetime("%Y-%m-%dT%H:%M:%SZ", strict=False)
            .dt.epoch("s")
            .cast(pl.Float64)
        ).alias("timestamp_share"),
        pl.col("kind").alias("share_type"),
        pl.col("root_id").alias("thread_root"),
        pl.col("text").alias("message"),
        pl.col("urls").alias("links"),
        "hashtags",
        pl.col("lang").alias("language"),
        pl.col("platform").alias("network"),
    )
    raw = tmp_path / "raw_export.csv"
    foreign.write_csv(raw)
    assert "1709484009.0" in raw.read_text()[:500]  # float epoch seconds, as exported
    a, b = tmp_path / "a.duckdb", tmp_path / "b.duckdb"
    assert runner.invoke(main, ["--db", str(a), "ingest", "-q", str(canonical)]).exit_code == 0
    maps = [
        "post_id=content_id",
        "parent_id=object_id",
        "created_at=timestamp_share",
        "kind=share_type",
        "root_id=thread_root",
        "text=message",
        "urls=links",
        "lang=language",
        "platform=network",
    ]
    args = ["--db", str(b), "ingest", "-q", str(raw)]
    for m in maps:
        args += ["--map", m]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    query = (
        "SELECT post_id, account_id, created_at, parent_id, kind, root_id, text, "
        "urls, hashtags, lang, platform FROM posts ORDER BY post_id"
    )
    with Store.open(a, read_only=True) as sa, Store.open(b, read_only=True) as sb:
        left, right = sa.con.execute(query).fetchall(), sb.con.execute(query).fetchall()
        assert len(left) > 29_000  # the sample's good posts (it also holds planted rejects)
        assert left == right
        (mapping,) = sb.con.execute("SELECT mapping FROM ingest_runs").fetchone()
        assert json.loads(mapping)["columns"]["post_id"] == "content_id"


def _one_post(store, path, mapping=None):
    r = ingest_file(store, path, mapping=mapping)
    return r, store.con.execute(
        "SELECT post_id, strftime(created_at, '%Y-%m-%dT%H:%M:%S.%fZ') FROM posts ORDER BY 1"
    ).fetchall()


def test_epoch_seconds_milliseconds_microseconds_int_or_float(mem_store, tmp_path):
    path = tmp_path / "posts.csv"
    path.write_text(
        "post_id,account_id,created_at\n"
        "s,a,1714557600\n"
        "sf,a,1714557600.25\n"
        "ms,a,1714557600250\n"
        "msf,a,1714557600250.0\n"
        "us,a,1714557600250000\n"
        "ns,a,1714557600250000000\n"  # nanoseconds: beyond the documented units
    )
    r, rows = _one_post(mem_store, path)
    assert dict(rows) == {
        "s": "2024-05-01T10:00:00.000000Z",
        "sf": "2024-05-01T10:00:00.250000Z",
        "ms": "2024-05-01T10:00:00.250000Z",
        "msf": "2024-05-01T10:00:00.250000Z",
        "us": "2024-05-01T10:00:00.250000Z",
    }
    # all digits beyond every epoch unit: a time out of range, not an unreadable one
    assert r.reject_reasons == {"created_at out of range (not in 1900-2199)": 1}


def test_time_format_and_zone_for_naive_times(mem_store, tmp_path):
    path = tmp_path / "posts.csv"
    path.write_text(
        "post_id,account_id,created_at\n"
        "d,a,01.05.2024 12:00\n"  # German wall time, summer: UTC+2
        "iso,a,2024-05-01T12:00:00\n"  # naive ISO: also Berlin time
        "z,a,2024-05-01T12:00:00Z\n"  # an explicit offset is kept
    )
    m = Mapping.from_options(time_format="%d.%m.%Y %H:%M", time_zone="Europe/Berlin")
    _, rows = _one_post(mem_store, path, m)
    assert dict(rows) == {
        "d": "2024-05-01T10:00:00.000000Z",
        "iso": "2024-05-01T10:00:00.000000Z",
        "z": "2024-05-01T12:00:00.000000Z",
    }


def test_mapping_file_with_constant_expression_and_kind(mem_store, tmp_path):
    data = tmp_path / "export.tsv"
    data.write_text(
        "msg\tchannel\twhen\tfwd\ntg1\tc1\t2024-05-01 10:00\t\ntg2\tc2\t2024-05-01 10:05\ttg1\n"
    )
    mapping = tmp_path / "tg.toml"
    mapping.write_text(
        'kind = "posts"\ntime_format = "%Y-%m-%d %H:%M"\n'
        '[columns]\npost_id = "msg"\naccount_id = "channel"\ncreated_at = "when"\n'
        'parent_id = "fwd"\n'
        '[constants]\nplatform = "telegram"\n'
        "[expressions]\nkind = \"CASE WHEN fwd IS NULL OR fwd = '' THEN 'original' ELSE 'repost' END\"\n"
    )
    r = ingest_file(mem_store, data, mapping=load_mapping(mapping))
    assert (r.rows_inserted, r.rows_rejected) == (2, 0)
    assert mem_store.con.execute(
        "SELECT post_id, parent_id, kind, platform FROM posts ORDER BY 1"
    ).fetchall() == [("tg1", None, "original", "telegram"), ("tg2", "tg1", "repost", "telegram")]


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        (
            Mapping(columns={"post_id": "content_id", "account_id": "nobody", "created_at": "t"}),
            "the mapping's account_id = names column 'nobody', which the file does not have",
        ),
        (
            Mapping(
                columns={"post_id": "content_id", "account_id": "a", "created_at": "t"},
                expressions={"platform": "upper(missing_col)"},
            ),
            "the mapping's platform expression names column 'missing_col'",
        ),
        (
            Mapping(
                columns={"post_id": "content_id", "account_id": "a", "created_at": "t"},
                expressions={"text": "(SELECT max(post_id) FROM posts)"},
            ),
            "may not contain a subquery",
        ),
        (
            Mapping(
                columns={"post_id": "content_id", "account_id": "a", "created_at": "t"},
                expressions={"text": "getenv('HOME')"},
            ),
            "calls 'getenv', which is not an allowed scalar function",
        ),
        (
            Mapping(columns={"post_id": "content_id", "account_id": "a"}),
            "the mapping gives no created_at",
        ),
    ],
)
def test_bad_mappings_are_one_line_errors_and_write_nothing(mem_store, tmp_path, mapping, message):
    path = tmp_path / "x.csv"
    path.write_text("content_id,a,t\n1,u,2024-05-01T10:00:00Z\n")
    with pytest.raises(
        InputError, match="^.*" + message.replace("(", r"\(").replace(")", r"\)")
    ) as exc:
        ingest_file(mem_store, path, mapping=mapping)
    assert "\n" not in str(exc.value)
    assert mem_store.con.execute("SELECT count(*) FROM ingest_runs").fetchone() == (0,)


def test_map_option_checks_names(tmp_path):
    with pytest.raises(InputError, match="not a canonical posts column"):
        Mapping.from_options(["postid=x"])
    with pytest.raises(InputError, match="CANONICAL=SOURCE"):
        Mapping.from_options(["post_id"])
    with pytest.raises(InputError, match="unknown time zone"):
        Mapping.from_options(time_zone="Mars/Olympus")


def test_shipped_mappings_are_package_data_and_load():
    names = shipped_mappings()
    assert {"german-elections", "coortweet", "crowdtangle", "4cat-csv", "4cat-ndjson"} <= set(names)
    for name, path in names.items():
        assert "spreadtrace" in path.parts  # inside the package, so installed copies have them
        assert load_mapping(name).name == name


def test_suggest_matches_likely_source_names():
    assert suggest(("content_id", "account_id", "object_id", "timestamp_share")) == {
        "post_id": "content_id",
        "account_id": "account_id",
        "created_at": "timestamp_share",
        "parent_id": "object_id",
    }


def test_a_version_1_store_migrates_and_ingests_long_format(tmp_path):
    import duckdb

    from spreadtrace.store import migrate
    from spreadtrace.store.schema import MIGRATIONS

    db = tmp_path / "v1.duckdb"
    con = duckdb.connect(str(db))
    migrate(con, 0, 1, {1: MIGRATIONS[1]})
    con.execute(
        "INSERT INTO ingest_runs (ingest_run_id, path, content_hash, format, rows_read, "
        "rows_inserted, rows_duplicate, rows_rejected, started_at, finished_at) "
        "VALUES (nextval('ingest_run_seq'), 'old.csv', 'h', 'posts', 1, 1, 0, 0, now(), now())"
    )
    con.execute(
        "INSERT INTO posts (post_id, account_id, created_at, kind, urls, ingest_run_id) "
        "VALUES ('p1', 'a', '2024-05-01 10:00:00+00', 'original', ['u1'], 1)"
    )
    con.close()
    path = tmp_path / "long.csv"
    path.write_text(
        "post_id,account_id,created_at,urls,media\n"
        "p1,a,2024-05-01T10:00:00Z,u2,phash:ff\n"
        "p2,b,2024-05-01T10:01:00Z,u1,\n"
        "p2,b,2024-05-01T10:01:00Z,u3,\n"
    )
    with Store.open(db) as store:  # migrates to the current version
        r = ingest_file(store, path)
        assert (r.rows_inserted, r.rows_merged, r.rows_duplicate) == (1, 1, 1)
        assert store.con.execute(
            "SELECT post_id, urls, media FROM posts ORDER BY 1"
        ).fetchall() == [("p1", ["u1", "u2"], ["phash:ff"]), ("p2", ["u1", "u3"], None)]
        assert store.con.execute(
            "SELECT rows_merged, mapping FROM ingest_runs ORDER BY ingest_run_id"
        ).fetchall() == [(0, None), (1, None)]


def test_foreign_columns_without_a_mapping_say_what_to_pass(runner, tmp_path):
    # A new user's first try: the file names its columns its own way. The one-line
    # error must say which --map options would read it, and they must work.
    path = tmp_path / "shares.csv"
    path.write_text("tweet_id,user_id,timestamp\n1,alice,1629589836\n2,bob,1629589900\n")
    db = str(tmp_path / "s.duckdb")
    result = runner.invoke(main, ["--db", db, "ingest", "-q", str(path)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    hint = "--map post_id=tweet_id --map account_id=user_id --map created_at=timestamp"
    assert hint in result.output
    args = ["--db", db, "ingest", "-q", str(path), *hint.replace("--map ", "--map=").split()]
    assert runner.invoke(main, args).exit_code == 0
    with Store.open(db, read_only=True) as store:
        assert store.con.execute("SELECT count(*) FROM posts").fetchone() == (2,)


def test_real_file_without_a_mapping_names_the_shipped_mapping_made_for_it(runner, tmp_path):
    path = shared_file(GERMAN)
    result = runner.invoke(main, ["--db", str(tmp_path / "g.duckdb"), "ingest", str(path)])
    assert result.exit_code == 2
    assert "pass --mapping german-elections" in result.output
