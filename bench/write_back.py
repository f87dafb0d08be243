"""Driver of bench/write_back.sh: see there for what it measures."""
import json, os, statistics, subprocess, sys, tempfile, time

runs, bin_dir = int(sys.argv[1]), sys.argv[2]
rows = int(os.environ["STORESYNC_BENCH_ROWS"])
url = os.environ["STORESYNC_TEST_PG_URL"]
cli = f"{bin_dir}/reference_server/storesync-writeback"
work = tempfile.mkdtemp()


def duck(path, sql):
    subprocess.run([f"{bin_dir}/bench/duckdb_exec", path, sql], check=True)


def psql(sql):
    subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", url, "-c", sql], check=True, stdout=subprocess.DEVNULL)


def measured(args):
    """Wall seconds and peak RSS (KiB) of one process."""
    start = time.monotonic()
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = p.communicate()
    seconds = time.monotonic() - start
    if p.returncode != 0:
        sys.exit(f"{args[0]} failed ({p.returncode}): {err.decode()}")
    return seconds, out


def measured_rss(args):
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, 1)
        os.execv(args[0], args)
    _, status, usage = os.wait4(pid, 0)
    if status != 0:
        sys.exit(f"{args[0]} failed: status {status}")
    return time.monotonic() - start, usage.ru_maxrss


def make_source(path, n):
    duck(path, "CREATE TABLE memories AS SELECT i AS id, ['work','home','travel','misc'][1 + i % 4] AS category,"
               " CAST((i % 997) / 1000.0 AS DECIMAL(6,3)) AS strength,"
               " TIMESTAMP '2026-01-01' + to_seconds(i) AS created_at,"
               " TIMESTAMP '2026-01-01 06:00:00' + to_seconds(i) AS updated_at,"
               f" 'memory number ' || i || ' of the benchmark, with some text to carry' AS content FROM range({n}) t(i)")


def config(path, source, table, runs_table):
    fields = [{"field": "category", "type": "text"}, {"field": "strength", "type": "numeric"},
              {"field": "created_at", "type": "timestamptz"}, {"field": "content", "type": "text"}]
    with open(path, "w") as f:
        json.dump({"source": f"duckdb:{source}", "sink": url, "runs_table": runs_table,
                   "dead_letters_table": runs_table + "_dead",
                   "stages": [{"name": "memories",
                               "source": {"table": "memories", "key": ["id"], "version": "updated_at"},
                               "sink": {"table": table, "key": [{"column": "id", "type": "bigint"}],
                                        "version": {"column": "updated_at", "type": "timestamptz"},
                                        "fields": fields}}]}, f)


big, small = f"{work}/big.duckdb", f"{work}/small.duckdb"
make_source(big, rows)
make_source(small, rows // 10)
csv, shape_csv = f"{work}/memories.csv", f"{work}/shape.csv"
duck(big, f"COPY (SELECT id, category, strength, strftime(created_at, '%Y-%m-%d %H:%M:%S+00') AS created_at,"
          f" strftime(updated_at, '%Y-%m-%d %H:%M:%S+00') AS updated_at, content FROM memories) TO '{csv}' (HEADER false)")

results = []
for run in range(1, runs + 1):
    print(f"run {run} of {runs}", file=sys.stderr)
    for t in ("wb_big", "wb_small", "wb_runs", "wb_runs_dead", "wb_small_runs", "wb_small_runs_dead", "wb_copy",
              "wb_shape"):
        psql(f"DROP TABLE IF EXISTS {t}, {t}_checkpoints")
    config(f"{work}/big.json", big, "wb_big", "wb_runs")
    config(f"{work}/small.json", small, "wb_small", "wb_small_runs")
    w, rss_big = measured_rss([cli, "--config", f"{work}/big.json", "--progress", "none"])
    n, _ = measured_rss([cli, "--config", f"{work}/big.json", "--progress", "none"])
    _, rss_small = measured_rss([cli, "--config", f"{work}/small.json", "--progress", "none"])
    psql("CREATE TABLE wb_copy (id bigint PRIMARY KEY, category text, strength numeric, created_at timestamptz,"
         " updated_at timestamptz, content text)")
    c, _ = measured(["psql", "-q", "-v", "ON_ERROR_STOP=1", url, "-c", f"\\copy wb_copy FROM '{csv}' CSV"])
    # (t): the rows (w) landed, with storesync's columns and indexes, COPYed
    # into an empty table of the same shape: the floor of that layout.
    psql(f"\\copy wb_big TO '{shape_csv}' CSV")
    psql("CREATE TABLE wb_shape (LIKE wb_big INCLUDING ALL)")
    t, _ = measured(["psql", "-q", "-v", "ON_ERROR_STOP=1", url, "-c", f"\\copy wb_shape FROM '{shape_csv}' CSV"])
    results.append({"w": w, "n": n, "c": c, "t": t, "rss_big": rss_big, "rss_small": rss_small})
    print(json.dumps(results[-1]), file=sys.stderr)


def spread(values, fmt):
    return f"{fmt(statistics.median(values))} ({fmt(min(values))} - {fmt(max(values))})"


rate = lambda v: f"{v:,.0f}"
ratio = lambda v: f"{v:.3f}"
mib = lambda v: f"{v / 1024:,.0f}"
wc = [r["c"] / r["w"] for r in results]
wt = [r["t"] / r["w"] for r in results]
nw = [r["n"] / r["w"] for r in results]
rs = [r["rss_big"] / r["rss_small"] for r in results]
print(f"{runs} runs of {rows:,} rows (and {rows // 10:,} for the memory ratio), {os.cpu_count()} CPUs;"
      " median (min - max).")
print()
print("| measurement | value |")
print("|---|---:|")
print(f"| (w) first run, rows/s | {spread([rows / r['w'] for r in results], rate)} |")
print(f"| (c) plain COPY, rows/s | {spread([rows / r['c'] for r in results], rate)} |")
print(f"| (t) COPY into storesync's table shape, rows/s | {spread([rows / r['t'] for r in results], rate)} |")
print(f"| (n) no-change re-run, s | {spread([r['n'] for r in results], lambda v: f'{v:.2f}')} |")
print(f"| peak RSS at {rows:,} rows, MiB | {spread([r['rss_big'] for r in results], mib)} |")
print(f"| peak RSS at {rows // 10:,} rows, MiB | {spread([r['rss_small'] for r in results], mib)} |")
print()
verdict = lambda ok: "met" if ok else "**not met**"
print("| ratio (per run) | median (min - max) | target | |")
print("|---|---:|---|---|")
print(f"| w / c, rows/s | {spread(wc, ratio)} | >= 0.5 | {verdict(statistics.median(wc) >= 0.5)} |")
print(f"| w / t, rows/s | {spread(wt, ratio)} | (no target) | |")
print(f"| n / w, time | {spread(nw, ratio)} | <= 0.05 | {verdict(statistics.median(nw) <= 0.05)} |")
print(f"| RSS {rows:,} / {rows // 10:,} | {spread(rs, ratio)} | <= 1.2 | {verdict(statistics.median(rs) <= 1.2)} |")
