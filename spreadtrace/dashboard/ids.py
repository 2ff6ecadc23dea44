"""Every component id of the dashboard, in one place, so pages and tests agree."""

from __future__ import annotations

# app shell
NAV = "nav-location"  # dcc.Location used by callbacks to navigate
URL_STATE = "url-state"  # {"path", "search"}: the page's state, mirrored into the URL
URL_SYNC = "url-sync"  # dummy output of the clientside replaceState callback
PAGE_TZ = "page-tz"  # the time zone the page was drawn in, mirrored into the URL (?tz=)
TZ_SYNC = "tz-sync"  # dummy output of the clientside callback that keeps ?tz= in the URL
SNAPSHOT_BADGE = "snapshot-badge"
SNAPSHOT_POLL = "snapshot-poll"
ERROR_NOTE = "error-note"  # shell-level message when a callback could not run

# overview
OV_HEADLINE = "ov-headline"
OV_DATES = "ov-dates"
OV_PLATFORM = "ov-platform"
OV_NARRATIVE = "ov-narrative"
OV_MIN_SIZE = "ov-min-size"
OV_MIN_BOT = "ov-min-bot"
OV_MIN_AMP = "ov-min-amp"
OV_TABLE = "ov-cascades"
OV_COUNT = "ov-count"
OV_CCDF = "ov-ccdf"
OV_BOTS = "ov-bots-vs-size"
OV_NARR_TABLE = "ov-narratives"
OV_DOWNLOAD_BTN = "ov-download-btn"
OV_DOWNLOAD = "ov-download"
OV_NARR_DOWNLOAD_BTN = "ov-narr-download-btn"
OV_NARR_DOWNLOAD = "ov-narr-download"

# cascade
CA_ID = "ca-id"  # dcc.Store with the cascade id
CA_INFO = "ca-info"
CA_GRAPH = "ca-graph"
CA_NOTE = "ca-note"
CA_SLIDER = "ca-slider"
CA_TIMELINE = "ca-timeline"
CA_ACCOUNT = "ca-account"
CA_LAYOUT = "ca-layout"
CA_HOVER = "ca-hover"  # the hovered post: account, time, reasons
CA_DRAWN = "ca-drawn"  # what the figure shows: cascade, layout, snapshot
CA_REPLAY = "ca-replay"  # figures.replay_steps for the clientside replay
CA_REPLAY_SINK = "ca-replay-sink"  # dummy output of the clientside replay
CA_EDGES = "ca-edges"  # dcc.Store: "all" draws every share edge (URL ?edges=all)
CA_EDGES_BTN = "ca-edges-btn"  # toggles CA_EDGES; shown only when edges are reduced
CA_DOWNLOAD_BTN = "ca-download-btn"
CA_DOWNLOAD = "ca-download"

# narrative
NA_ID = "na-id"
NA_TABLE = "na-table"
NA_ORIGINS = "na-origins"
NA_CASCADES = "na-cascades"
NA_TIMELINE = "na-timeline"
NA_DOWNLOAD_BTN = "na-download-btn"
NA_DOWNLOAD = "na-download"
NA_CASC_DOWNLOAD_BTN = "na-casc-download-btn"
NA_CASC_DOWNLOAD = "na-casc-download"

# accounts
AC_SEARCH = "ac-search"
AC_MIN_BOT = "ac-min-bot"
AC_TABLE = "ac-table"
AC_COUNT = "ac-count"
AC_DETAIL = "ac-detail"
AC_POSTS = "ac-posts"
AC_CASCADES = "ac-cascades"
AC_DOWNLOAD_BTN = "ac-download-btn"
AC_DOWNLOAD = "ac-download"
AC_POSTS_DOWNLOAD_BTN = "ac-posts-download-btn"
AC_POSTS_DOWNLOAD = "ac-posts-download"

# coordination
CO_CLUSTERS = "co-clusters"
CO_GRAPH = "co-graph"
CO_PAIRS = "co-pairs"
CO_DOWNLOAD_BTN = "co-download-btn"
CO_DOWNLOAD = "co-download"
CO_CLUSTER = "co-cluster"

# media
ME_ID = "me-id"
ME_TABLE = "me-table"
ME_TIMELINE = "me-timeline"
ME_POSTS = "me-posts"
ME_ACCOUNTS = "me-accounts"
ME_LINKS = "me-links"

# search (navbar box and the /search page)
NAV_SEARCH = "nav-search"
NAV_SEARCH_BTN = "nav-search-btn"
SEARCH_RESULTS = "search-results"

# cascade replay: play / pause and the clock
CA_PLAY = "ca-play"
CA_PLAY_TICK = "ca-play-tick"
CA_CLOCK = "ca-clock"
CO_EVIDENCE = "co-evidence"
CO_EVIDENCE_BTN = "co-evidence-btn"
CO_EVIDENCE_DOWNLOAD = "co-evidence-download"

# the workbench: the accounts and items behind every number
CA_FLAGGED = "ca-flagged"  # the cascade's bot-like and coordinated accounts
CA_FLAGGED_BTN = "ca-flagged-btn"
CA_FLAGGED_DOWNLOAD = "ca-flagged-download"
NA_FLAGGED = "na-flagged"
NA_FLAGGED_BTN = "na-flagged-btn"
NA_FLAGGED_DOWNLOAD = "na-flagged-download"
NA_CLUSTERS = "na-clusters"
NA_ITEMS = "na-items"
NA_BRIEF_BTN = "na-brief-btn"
NA_BRIEF_DOWNLOAD = "na-brief-download"
OV_ALERTS = "ov-alerts"
TZ_CHOICE = "tz-choice"  # navbar: the time zone of displayed times (URL ?tz=)
OV_SPREADING = "ov-spreading"  # the lead: narratives with enough evidence, most amplified
OV_TZ = "ov-tz"  # the time zone of the overview's times (URL ?tz=)
NW_ID = "nw-id"  # the account network page: narrative id
NW_GRAPH = "nw-graph"
NW_NOTE = "nw-note"
NW_GEXF_BTN = "nw-gexf-btn"
NW_GEXF_DOWNLOAD = "nw-gexf-download"
NW_IMAGE = "nw-image"  # PNG | SVG for the toolbar's camera button
