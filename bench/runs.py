"""What the bench scripts that repeat one benchmark binary share when they
read its runs (see runs.sh): the results by benchmark name, and a
median (min - max) cell."""
import json
import statistics
import sys


def load_runs(paths):
    """Each run's benchmarks by name (the part before '/'), and the context
    of the last run. Exits naming the benchmark if one reported an error."""
    runs, ctx = [], {}
    for path in paths:
        with open(path) as f:
            data = json.load(f)
        run = {}
        for b in data["benchmarks"]:
            if b.get("error_occurred"):
                sys.exit(f"{b['name']} failed: {b.get('error_message')}")
            run[b["name"].split("/")[0]] = b
        runs.append(run)
        ctx = data["context"]
    return runs, ctx


def spread(values, fmt):
    """`median (min - max)` of `values`, each written by `fmt`."""
    return f"{fmt(statistics.median(values))} ({fmt(min(values))} - {fmt(max(values))})"
