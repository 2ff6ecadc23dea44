"""The pipeline on Apache Spark: the same stages and rules as the DuckDB engine, at scale.

Why a package of its own: a store that outgrows one machine runs on a Spark cluster
(Databricks, EMR, Dataproc), and only this package imports pyspark (the optional extra
``spark``). It reads the canonical tables as Parquet (``spreadtrace export-parquet``),
writes each derived table as Parquet with the store's schema, and
``spreadtrace attach`` loads them into a store. Set-wise steps are the store's SQL
transpiled with sqlglot or joins; per-cascade work calls the pure functions of
:mod:`spreadtrace.graph` inside ``applyInPandas``. See docs/scale-out.md.
"""
