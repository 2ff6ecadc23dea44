"""Keep ``pytest --doctest-modules`` from importing the pages on their own.

A Dash page calls ``dash.register_page`` at import, which needs the app to exist; the
pages are imported by ``create_app`` and tested through it (tests/test_dashboard.py).
"""

collect_ignore_glob = ["*.py"]
