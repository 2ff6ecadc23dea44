"""Build stages: glue from the store to the pure graph functions and back (one module per stage)."""
