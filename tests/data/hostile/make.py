"""Write the hostile corpus (issue 16, part 1): small files, one hostile case each.

Run from the repository root: ``python tests/data/hostile/make.py``. The files are
committed; this script says how each was made (some hold bytes no editor keeps).
Every reader is run over every file by ``tests/test_ingest_hostile.py``.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import zstandard

HERE = Path(__file__).resolve().parent
H = b"post_id,account_id,created_at,parent_id,text\n"


def tweet(i: int, **extra: object) -> bytes:
    obj = {
        "id_str": str(i),
        "created_at": "Tue Mar 24 10:37:41 +0000 2015",
        "text": "ok",
        "user": {"id_str": "u1", "screen_name": "alice"},
    }
    obj.update(extra)
    return json.dumps(obj).encode()


def post(i: int, **extra: object) -> bytes:
    obj = {"post_id": f"p{i}", "account_id": "a", "created_at": "2024-05-01T10:00:00Z"}
    obj.update(extra)
    return json.dumps(obj).encode()


DEEP = b'{"a":' * 5000 + b"1" + b"}" * 5000
DEEP_ARRAY = b"[" * 5000 + b"]" * 5000

TELEGRAM = {
    "name": "News",
    "type": "public_channel",
    "id": 42,
    "messages": [
        {
            "id": 1,
            "type": "message",
            "date_unixtime": "1700000000",
            "from_id": "channel42",
            "text": "ok",
        },
        "not a message",
        {
            "id": 2,
            "type": "message",
            "date_unixtime": "99999999999999999",
            "from_id": "channel42",
        },
        {"id": {"x": 1}, "type": "message"},
        {"id": 3, "type": "service", "action": "pin_message"},
        None,
    ],
}

FILES: dict[str, bytes] = {
    # JSON nested far deeper than MAX_JSON_DEPTH (Python's parser would recurse out)
    "deep_nesting.jsonl": tweet(1) + b"\n" + DEEP + b"\n" + DEEP_ARRAY + b"\n" + tweet(2) + b"\n",
    "deep_value.jsonl": tweet(1, text=json.loads(b"[" * 600 + b"]" * 600))
    + b"\n"
    + tweet(2)
    + b"\n",
    # old Mac line ends, and a mix of all three
    "cr_only.csv": H.replace(b"\n", b"\r")
    + b"p1,a,2024-05-01T10:00:00Z,,x\rp2,b,2024-05-01T10:01:00Z,p1,y\r",
    "cr_only.jsonl": tweet(1) + b"\r" + tweet(2) + b"\r" + post(3) + b"\r",
    "mixed_line_ends.csv": H + b"p1,a,2024-05-01T10:00:00Z,,x\r\np2,b,2024-05-01T10:01:00Z,,y\r"
    b"p3,c,2024-05-01T10:02:00Z,,z\n",
    # NUL bytes, raw and escaped
    "nul_bytes.csv": H + b"p1,a\x00b,2024-05-01T10:00:00Z,,x\np2,b,2024-05-01T10:00:00Z,,y\x00\n"
    b"p3,c,2024-05-01T10:00:00Z,,z\n",
    "nul_bytes.jsonl": tweet(1)
    + b"\n"
    + tweet(2).replace(b'"ok"', b'"o\x00k"')
    + b"\n"
    + post(3, account_id="a\u0000b")
    + b"\n\x00\x00\x00\n"
    + tweet(4)
    + b"\n",
    # encodings: Latin-1 bytes in UTF-8 files, a whole UTF-16 file
    "latin1.csv": H
    + "p1,é,2024-05-01T10:00:00Z,,ü\n".encode("latin-1")
    + b"p2,b,2024-05-01T10:00:00Z,,y\n",
    "latin1.jsonl": tweet(1)
    + b"\n"
    + tweet(2).replace(b'"ok"', '"\xe9"'.encode("latin-1"))
    + b"\n"
    + tweet(3)
    + b"\n",
    "utf16.csv": (H + b"p1,a,2024-05-01T10:00:00Z,,x\n").decode().encode("utf-16"),
    "utf16_le_no_bom.jsonl": (tweet(1) + b"\n").decode().encode("utf-16-le"),
    "bom_utf8.csv": b"\xef\xbb\xbf" + H + b"p1,a,2024-05-01T10:00:00Z,,x\n",
    # times: out of range, offsets beyond +-14:00, words DuckDB reads as times
    "times.csv": H
    + b"p1,a,9999-01-01T00:00:00Z,,x\n"
    + b"p2,a,2024-05-01T10:00:00+99:00,,x\n"
    + b"p3,a,epoch,,x\n"
    + b"p4,a,infinity,,x\n"
    + b"p5,a,2024-05-01T10:00:00-14:30,,x\n"
    + b"p6,a,1800-01-01T00:00:00Z,,x\n"
    + b"p7,a,2024-05-01T10:00:00+14:00,,x\n"
    + b"p8,a,99999999999999999999,,x\n"
    + b"p9,a,-infinity,,x\n",
    "times.jsonl": tweet(1, created_at="Tue Mar 24 10:37:41 +9900 2015")
    + b"\n"
    + tweet(2, created_at="Fri Dec 31 23:59:59 +0000 9999")
    + b"\n"
    + tweet(3, created_at="epoch")
    + b"\n"
    + post(4, created_at="+275760-09-13T00:00:00Z")
    + b"\n",
    # structure
    "no_newline_at_end.jsonl": tweet(1) + b"\n" + tweet(2),
    "only_whitespace.jsonl": b"  \n\t\n \r\n",
    "empty.csv": b"",
    "only_header.csv": H,
    "unterminated_quote.csv": H
    + b'p1,a,2024-05-01T10:00:00Z,,"never closed\np2,b,2024-05-01T10:00:00Z,,y\n',
    "too_many_fields.csv": H
    + b"p1,a,2024-05-01T10:00:00Z,,x,y,z,w\np2,b,2024-05-01T10:00:00Z,,y\n",
    "binary_garbage.bin": bytes(range(256)) * 4 + b"\n" + bytes(reversed(range(256))),
    "wrong_types.jsonl": b"\n".join(
        [
            tweet(1, user=["not", "an", "object"]),
            tweet(2, id_str={"nested": 1}),
            tweet(3, text=12345, entities="no"),
            b'{"id_str": 1e400, "user": null}',
            b"[1, 2, [3]]",
            b'"just a string"',
            b"NaN",
            b'{"post_id": NaN, "account_id": Infinity, "created_at": -Infinity}',
            b'{"id": "1", "id": "2", "user": {"id_str": "u"}, "user": 7}',
            tweet(4),
        ]
    )
    + b"\n",
    "bidi_controls.jsonl": tweet(1, user={"id_str": "\u202eu1\x07", "screen_name": "\u202eevil"})
    + b"\n"
    + post(2, account_id="a\u0085\u2028b", text="\x1b[31mred")
    + b"\n",
    "long_id.csv": H + b"p" + b"9" * 5000 + b",a,2024-05-01T10:00:00Z,,x\n",
    # lone UTF-16 surrogates in JSON escapes (a pair is one character, and fine)
    "surrogates.jsonl": tweet(1, text="\U0001f600")  # written as the pair \ud83d\ude00
    + b"\n"
    + tweet(2).replace(b'"ok"', b'"\\ud800"')
    + b"\n"
    + tweet(3).replace(b'"u1"', b'"\\udfff\\ud800"')
    + b"\n"
    + tweet(4)
    + b"\n",
    "conflicting_duplicates.csv": H
    + b"p1,a,2024-05-01T10:00:00Z,,x\np1,b,2024-05-01T10:00:00Z,,x\np1,a,2024-06-01T10:00:00Z,,x\n",
    "telegram_hostile.json": json.dumps(TELEGRAM).encode(),
    "telegram_deep.json": b'{\n "name": "x", "type": "public_channel", "id": 1, "messages": '
    + DEEP_ARRAY
    + b"}",
    "telegram_hostile_indented.json": json.dumps(TELEGRAM, indent=1).encode(),
    "array_of_junk.json": json.dumps([{"id_str": "1"}, 1, None, "x", [], {"did": 5}]).encode(),
    "notes_junk.tsv": b"noteId\tcreatedAtMillis\ttweetId\tclassification\n"
    b"1\t1700000000000\t55\tMISINFORMED_OR_POTENTIALLY_MISLEADING\n"
    b"x\tsoon\t\t\n\t\t\t\n2\t-1\t56\tNOT_MISLEADING\textra\tfields\n3\n",
    "notes_nul.tsv": b"noteId\tcreatedAtMillis\ttweetId\tsummary\n"
    b"1\t1700000000000\t55\tok\n2\t1700000000000\t56\ta\x00b\n\x00\x00\x00\n"
    b"3\t1700000000000\t57\tok\n",
    "notes_latin1.tsv": b"noteId\tcreatedAtMillis\ttweetId\tsummary\n1\t1700000000000\t55\t\xe9t\xe9\n",
    "mastodon_hostile.jsonl": b"\n".join(
        [
            json.dumps(
                {
                    "id": "1",
                    "uri": "https://m.example/1",
                    "created_at": "2024-05-01T10:00:00Z",
                    "account": {"id": "9", "acct": "a@m.example"},
                    "content": "<p>ok</p>",
                }
            ).encode(),
            json.dumps(
                {"id": "2", "created_at": "2024-05-01T10:00:00+99:00", "account": "x"}
            ).encode(),
            json.dumps({"id": None, "reblog": {"reblog": {"reblog": None}}}).encode(),
        ]
    )
    + b"\n",
    "reddit_hostile.jsonl": b"\n".join(
        [
            json.dumps(
                {
                    "id": "abc",
                    "name": "t3_abc",
                    "author": "u",
                    "created_utc": 1700000000,
                    "title": "ok",
                    "subreddit": "news",
                }
            ).encode(),
            json.dumps(
                {
                    "id": "abd",
                    "name": "t1_abd",
                    "author": None,
                    "created_utc": "epoch",
                    "parent_id": "t3_abc",
                    "body": "x",
                }
            ).encode(),
            json.dumps({"id": "abe", "created_utc": 1e300, "author": "v"}).encode(),
            json.dumps({"kind": "Listing", "data": {"children": [1, 2]}}).encode(),
        ]
    )
    + b"\n",
    "bluesky_hostile.jsonl": b"\n".join(
        [
            json.dumps(
                {
                    "did": "did:plc:a",
                    "time_us": 1714557600000000,
                    "kind": "commit",
                    "commit": {
                        "operation": "create",
                        "collection": "app.bsky.feed.post",
                        "rkey": "1",
                        "record": {"text": "ok", "createdAt": "2024-05-01T10:00:00Z"},
                    },
                }
            ).encode(),
            json.dumps(
                {
                    "did": "did:plc:a",
                    "time_us": -1,
                    "kind": "commit",
                    "commit": {
                        "operation": "create",
                        "collection": "app.bsky.feed.post",
                        "rkey": "2",
                        "record": {"createdAt": "0000-00-00"},
                    },
                }
            ).encode(),
            json.dumps({"did": None, "kind": "commit", "commit": "x"}).encode(),
            json.dumps({"did": "did:plc:a", "kind": "identity"}).encode(),
        ]
    )
    + b"\n",
    "twitter_v2_hostile.jsonl": b"\n".join(
        [
            json.dumps(
                {
                    "data": [
                        {
                            "id": "1",
                            "author_id": "9",
                            "created_at": "2024-05-01T10:00:00.000Z",
                            "text": "ok",
                        }
                    ],
                    "includes": {"users": [{"id": "9", "username": "a"}]},
                }
            ).encode(),
            json.dumps({"data": [{"id": "2"}, None, 5], "includes": "x"}).encode(),
            json.dumps(
                {"data": {"id": "3", "author_id": "9", "created_at": "2024-05-01T10:00:00+99:00"}}
            ).encode(),
            json.dumps({"errors": [{"title": "Not Found Error"}]}).encode(),
        ]
    )
    + b"\n",
}

GZIP_FILES: dict[str, bytes] = {
    # over the 16 MiB platform cap, inside gzip: a reject, read past in bounded memory
    "long_line.jsonl.gz": tweet(1)
    + b"\n"
    + b'{"id_str": "2", "text": "'
    + b"x" * (17 << 20)
    + b'"}\n'
    + tweet(3)
    + b"\n",
    # over the ~64 MiB length past which DuckDB drops a canonical line without a reject
    "long_line_canonical.csv.gz": H
    + b"p1,a,2024-05-01T10:00:00Z,,x\np2,a,2024-05-01T10:00:00Z,,"
    + b"x" * (70 << 20)
    + b"\np3,a,2024-05-01T10:00:00Z,,x\n",
    # a Community Notes line over DuckDB's ~64 MiB: its sniffer gave up on the file
    "notes_long_line.tsv.gz": b"noteId\tcreatedAtMillis\ttweetId\tsummary\n"
    b"1\t1700000000000\t55\tok\n2\t1700000000000\t56\t"
    + b"n" * (70 << 20)
    + b"\n3\t1700000000000\t57\tok\n",
    # one long line and no newline at all
    "no_newline_at_all.jsonl.gz": b'{"id_str": "1", "text": "' + b"y" * (20 << 20),
}


def main() -> None:
    for name, data in FILES.items():
        (HERE / name).write_bytes(data)
    for name, data in GZIP_FILES.items():
        (HERE / name).write_bytes(gzip.compress(data, 9, mtime=0))
    full = gzip.compress((tweet(1) + b"\n") * 2000, 9, mtime=0)
    (HERE / "truncated.jsonl.gz").write_bytes(full[: len(full) // 2])
    for name, data in broken_streams().items():
        (HERE / name).write_bytes(data)


def broken_streams() -> dict[str, bytes]:
    """Compressed files that are not whole: every reader must refuse them in one line."""
    tweets = b"".join(tweet(i) + b"\n" for i in range(3000))
    posts = H + b"".join(b"p%d,a,2024-05-01T10:00:00Z,,x %d\n" % (i, i * i) for i in range(3000))
    zst = zstandard.ZstdCompressor(level=3, write_content_size=False)
    gz = gzip.compress(posts, 9, mtime=0)
    return {
        # a zstd download cut off mid-frame: the decompressor ends quietly there
        "zstd_truncated.jsonl.zst": zst.compress(tweets)[:-200],
        "zstd_truncated.csv.zst": zst.compress(posts)[:-200],
        # a valid magic, then junk
        "junk_after_magic.jsonl.zst": b"\x28\xb5\x2f\xfd" + bytes(range(7, 200)),
        "junk_after_magic.csv.gz": b"\x1f\x8b\x08\x00" + b"junk" * 40,
        # whole deflate data under a wrong CRC: DuckDB's gzip read does not check it
        "gzip_bad_crc.csv.gz": gz[:-8] + bytes(4) + gz[-4:],
    }


if __name__ == "__main__":
    main()
