"""A SparkSession with the settings the engine relies on (UTC, microsecond Parquet times).

Why one place: results must equal the DuckDB engine's, so the session time zone is UTC
and timestamps are written as Parquet TIMESTAMP_MICROS (the store's precision), on a
laptop in local mode and on a cluster alike.
"""

from __future__ import annotations

import os
import sys

from pyspark.sql import SparkSession

__all__ = ["session"]


def session(
    master: str | None = None, *, shuffle_partitions: int | None = None, app: str = "spreadtrace"
) -> SparkSession:
    """The active SparkSession, or a new one (``master`` e.g. ``local[2]``; None: as submitted).

    Under spark-submit or on Databricks the master comes from the cluster; without one
    pyspark runs locally. Python workers run this interpreter unless PYSPARK_PYTHON says
    otherwise, so they see the same spreadtrace and numpy as the driver.
    """
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app)
    if master:
        builder = builder.master(master)
    settings = {
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.ui.showConsoleProgress": "false",
    }
    if master and master.startswith("local"):
        settings["spark.ui.enabled"] = "false"
        settings["spark.sql.shuffle.partitions"] = str(shuffle_partitions or 4)
    elif shuffle_partitions:
        settings["spark.sql.shuffle.partitions"] = str(shuffle_partitions)
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark
