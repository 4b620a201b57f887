"""Running the app as its clients do, shared by tests/ and benchmarks/: local `app.py` processes and
the page's queue protocol. The app itself never imports this package."""
