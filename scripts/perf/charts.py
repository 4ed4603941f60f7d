#!/usr/bin/env python3
"""Charts of load runs, as SVG, from oha's own record of each request.

oha's --db-url writes every answered request of a run to a SQLite file:
when it was due (open model) or sent, when it ended, its latency (from when
it was due, so without coordinated omission) and its status. Requests that
got no answer (refused or reset connections) are not in it: oha only counts
them, in its JSON summary. The load scripts keep one such file per run in
the report's requests/ (not committed), and in raw/events.tsv one line per
event, "<unix ms>\t<name>\t<label>": each run's start ("oha start", written
just before oha is started, so within a tenth of a second of its clock's
zero) and what the script did to the system during a step (a kill, a
restart, an import's phases, an outage).

  charts.py timeline --raw RAW --requests DIR --out FILE.svg --title T STEP
      p50, p99 and p99.9 latency in 1-s slices (by when each request was
      due) over answers per second (by when each ended), with the step's
      events as vertical lines. STEP's requests are DIR/STEP.db, or a series
      DIR/STEP-1.db, DIR/STEP-2.db, ... of short runs laid on one time axis.
  charts.py histogram --raw RAW --requests DIR --out FILE.svg --title T RUN[=LABEL]...
      the share of requests per latency bin, one line per run (or series).
  charts.py self-test
      builds both from synthetic runs and checks what they hold.

scripts/lib/chart-tools.sh makes the virtualenv (matplotlib, pinned) it runs in.
"""

import argparse
import math
import os
import re
import sqlite3
import sys
import tempfile
import xml.etree.ElementTree as ET

import matplotlib

matplotlib.use("svg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

# Text stays text (smaller files that GitHub renders with its own fonts), and
# the same input makes the same bytes: ids from a fixed salt, no date.
plt.rcParams.update({
    "svg.fonttype": "none",
    "svg.hashsalt": "atelier-charts",
    "font.size": 9,
    "axes.grid": True,
    "grid.alpha": 0.3,
})
METADATA = {"Date": None, "Creator": None}
START = "oha start"
SLICE = 1.0  # seconds


def read_events(raw):
    """{name: [(unix seconds, label)]} from RAW/events.tsv (none if absent)."""
    events = {}
    path = os.path.join(raw, "events.tsv")
    if not os.path.exists(path):
        return events
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t", 2)
            if len(parts) == 3 and parts[0].isdigit():
                events.setdefault(parts[1], []).append((int(parts[0]) / 1000, parts[2]))
    return events


def read_run(path):
    """A run's requests: (due, end, latency, status) arrays, seconds from its start."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = con.execute(
            "SELECT coalesce(start_latency_correction, start), end, duration, status FROM oha"
        ).fetchall()
    finally:
        con.close()
    data = np.array(rows, dtype=float).reshape(-1, 4)
    return data[:, 0], data[:, 1], data[:, 2], data[:, 3]


def runs_of(requests, step):
    """STEP.db, or the series STEP-1.db, STEP-2.db, ... in order."""
    single = os.path.join(requests, f"{step}.db")
    if os.path.exists(single):
        return [step]
    pattern = re.compile(re.escape(step) + r"-(\d+)\.db$")
    found = []
    for name in os.listdir(requests):
        m = pattern.match(name)
        if m:
            found.append((int(m.group(1)), name[:-3]))
    return [name for _, name in sorted(found)]


def slices(step, raw, requests):
    """The step's requests in 1-s slices from its first run's start.

    Returns a dict: t (slice starts, s), count (requests due), p50/p99/p999
    (ms, NaN where none was due), ok/other (answers per second by status
    class, by when they ended), events [(s, label)], requests (total).
    """
    events = read_events(raw)
    runs = runs_of(requests, step)
    if not runs:
        raise SystemExit(f"charts: no requests recorded for {step} in {requests}")
    starts = {}
    for run in runs:
        begun = [t for t, label in events.get(run, []) if label == START]
        if not begun:
            raise SystemExit(f"charts: no '{START}' event for {run} in {raw}/events.tsv")
        starts[run] = begun[-1]
    zero = min(starts.values())
    due, end, latency, status = [], [], [], []
    for run in runs:
        d, e, l, s = read_run(os.path.join(requests, f"{run}.db"))
        offset = starts[run] - zero
        due.append(d + offset)
        end.append(e + offset)
        latency.append(l)
        status.append(s)
    due, end = np.concatenate(due), np.concatenate(end)
    latency, status = np.concatenate(latency) * 1000, np.concatenate(status)
    marks = sorted((t - zero, label) for t, label in events.get(step, []) if label != START)
    # Slices up to the last request's due time: the few answers that end
    # after it (in flight at the run's deadline) would make a slice of
    # their own, a cliff that is no event.
    n = int(math.floor(due.max(initial=0) / SLICE)) + 1
    t = np.arange(n) * SLICE
    by_due = np.clip((due // SLICE).astype(int), 0, n - 1)
    by_end = (end // SLICE).astype(int)
    count = np.bincount(by_due, minlength=n)
    within = by_end < n
    ok = np.bincount(by_end[within & (status < 400)], minlength=n) / SLICE
    other = np.bincount(by_end[within & (status >= 400)], minlength=n) / SLICE
    p = {q: np.full(n, np.nan) for q in (50, 99, 99.9)}
    order = np.argsort(by_due, kind="stable")
    bounds = np.searchsorted(by_due[order], np.arange(n + 1))
    for k in range(n):
        part = latency[order[bounds[k]:bounds[k + 1]]]
        if part.size:
            for q in p:
                p[q][k] = np.percentile(part, q)
    return {"t": t, "count": count, "p50": p[50], "p99": p[99], "p999": p[99.9],
            "ok": ok, "other": other, "events": marks, "requests": int(due.size)}


def steps(ax, t, values, **style):
    """values[k] drawn flat over slice k, the last slice included."""
    (line,) = ax.plot(np.append(t, t[-1] + SLICE), np.append(values, values[-1]),
                      drawstyle="steps-post", linewidth=1.2, **style)
    return line


def timeline(step, raw, requests, out, title):
    s = slices(step, raw, requests)
    fig, (lat, rps) = plt.subplots(2, 1, sharex=True, figsize=(9, 5.2),
                                   gridspec_kw={"height_ratios": [3, 2]})
    fig.suptitle(title, fontsize=10)
    for key, label, color in (("p50", "p50", "#2b8cbe"), ("p99", "p99", "#e6550d"),
                              ("p999", "p99.9", "#756bb1")):
        steps(lat, s["t"], s[key], label=label, color=color).set_gid(key)
    lat.set_yscale("log")
    lat.set_ylabel("latency, ms (1-s slices)")
    lat.legend(loc="upper right", fontsize=8)
    steps(rps, s["t"], s["ok"], label="2xx/3xx", color="#31a354").set_gid("ok")
    if s["other"].any():
        steps(rps, s["t"], s["other"], label="4xx/5xx", color="#de2d26").set_gid("other")
    rps.set_ylabel("answers per second")
    rps.set_xlabel("seconds from the start of the step")
    rps.set_ylim(bottom=0)
    rps.legend(loc="lower right", fontsize=8)
    left = min([0.0] + [t for t, _ in s["events"]])
    rps.set_xlim(left - 0.5, s["t"][-1] + SLICE)
    for k, (t, label) in enumerate(s["events"]):
        for ax, gid in ((lat, f"event-{k}"), (rps, None)):
            ax.axvline(t, color="#555555", linestyle="--", linewidth=0.8, gid=gid)
        lat.annotate(label, xy=(t, 1), xycoords=("data", "axes fraction"), xytext=(2, -2),
                     textcoords="offset points", rotation=90, va="top", ha="left",
                     fontsize=7, color="#333333")
    fig.tight_layout()
    fig.savefig(out, format="svg", metadata=METADATA)
    plt.close(fig)
    return {"slices": len(s["t"]), "requests": s["requests"], "events": len(s["events"])}


def histogram(runs, raw, requests, out, title):
    """runs: [(run, label)]."""
    lat = {}
    for run, label in runs:
        parts = runs_of(requests, run)
        if not parts:
            raise SystemExit(f"charts: no requests recorded for {run} in {requests}")
        lat[run] = np.concatenate(
            [read_run(os.path.join(requests, f"{part}.db"))[2] for part in parts]) * 1000
    everything = np.concatenate([v for v in lat.values() if v.size] or [np.array([1.0])])
    low = max(everything.min(initial=1.0), 0.01)
    high = max(everything.max(initial=1.0), low * 10)
    # Ten bins per decade, on tenths of a decade, from the fastest request
    # to the slowest.
    lo = math.floor(math.log10(low) * 10)
    hi = math.ceil(math.log10(high) * 10)
    edges = 10 ** (np.arange(lo, hi + 1) / 10)
    fig, ax = plt.subplots(figsize=(9, 3.8))
    fig.suptitle(title, fontsize=10)
    for k, (run, label) in enumerate(runs):
        values = lat[run]
        if not values.size:
            continue
        counts, _ = np.histogram(values, bins=edges)
        share = 100 * counts / values.size
        p99 = np.percentile(values, 99)
        (line,) = ax.step(edges[:-1], share, where="post",
                          label=f"{label} (p50 {np.percentile(values, 50):.2f}, p99 {p99:.2f} ms)",
                          linewidth=1.2)
        line.set_gid(f"run-{k}")
    ax.set_xscale("log")
    ax.set_xlabel("latency, ms (ten bins per decade)")
    ax.set_ylabel("% of the run's requests")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    fig.savefig(out, format="svg", metadata=METADATA)
    plt.close(fig)
    return {"runs": len([r for r, _ in runs if lat[r].size]), "bins": len(edges) - 1}


# ---- self-test --------------------------------------------------------------

OHA_SCHEMA = """CREATE TABLE oha (url TEXT NOT NULL, start REAL NOT NULL,
  start_latency_correction REAL, end REAL NOT NULL, duration REAL NOT NULL,
  status INTEGER NOT NULL, len_bytes INTEGER NOT NULL, run INTEGER NOT NULL)"""


def write_run(path, requests):
    """requests: [(due s, latency s, status)], in oha's --db-url table."""
    con = sqlite3.connect(path)
    con.execute(OHA_SCHEMA)
    con.executemany(
        "INSERT INTO oha VALUES ('http://127.0.0.1/products/1', ?, ?, ?, ?, ?, 100, 0)",
        [(due, due, due + lat, lat, status) for due, lat, status in requests])
    con.commit()
    con.close()


def self_test():
    failures = []

    def check(ok, what):
        if not ok:
            failures.append(what)

    with tempfile.TemporaryDirectory() as tmp:
        raw, requests = os.path.join(tmp, "raw"), os.path.join(tmp, "requests")
        os.makedirs(raw)
        os.makedirs(requests)
        t0 = 1_700_000_000_000
        # A 10.5-s step at 100 requests/s: 1 ms, but 50 ms from 4 s (a kill)
        # to 5 s, and 503s from 6 s to 7 s.
        step = []
        for i in range(1050):
            due = i / 100
            lat = 0.050 if 4 <= due < 5 else 0.001
            step.append((due, lat, 503 if 6 <= due < 7 else 200))
        write_run(os.path.join(requests, "b-kill.db"), step)
        # A series of two 1-s runs, 1.5 s apart, after a restart at -2 s.
        for k in (1, 2):
            write_run(os.path.join(requests, f"g-cold-{k}.db"),
                      [(i / 50, 0.002 * k, 200) for i in range(50)])
        with open(os.path.join(raw, "events.tsv"), "w") as f:
            f.write(f"{t0}\tb-kill\t{START}\n")
            f.write(f"{t0 + 4000}\tb-kill\tkill -9 instance 2\n")
            f.write(f"{t0 + 8000}\tb-kill\tinstance 2 started\n")
            f.write(f"{t0 + 98000}\tg-cold\tPostgreSQL restarted\n")
            f.write(f"{t0 + 100000}\tg-cold-1\t{START}\n")
            f.write(f"{t0 + 101500}\tg-cold-2\t{START}\n")

        s = slices("b-kill", raw, requests)
        check(len(s["t"]) == 11, f"b-kill: 11 one-second slices, got {len(s['t'])}")
        check(s["requests"] == 1050, f"b-kill: 1050 requests, got {s['requests']}")
        check(list(s["count"][:10]) == [100] * 10 and s["count"][10] == 50,
              f"b-kill: 100 requests due per slice, 50 in the last, got {list(s['count'])}")
        check(abs(s["p99"][4] - 50) < 1e-6 and abs(s["p99"][3] - 1) < 1e-6,
              f"b-kill: p99 50 ms in the slice of the kill, 1 ms before, got {s['p99'][3:5]}")
        check(s["other"][6] == 100 and s["other"][5] == 0,
              f"b-kill: 100 503s a second from 6 s, got {list(s['other'])}")
        check(s["events"] == [(4.0, "kill -9 instance 2"), (8.0, "instance 2 started")],
              f"b-kill: the two events at 4 s and 8 s, got {s['events']}")
        g = slices("g-cold", raw, requests)
        check(g["requests"] == 100, f"g-cold: both runs' 100 requests, got {g['requests']}")
        check(g["events"] == [(-2.0, "PostgreSQL restarted")],
              f"g-cold: the restart 2 s before the first run, got {g['events']}")
        check(len(g["t"]) == 3 and list(g["count"]) == [50, 25, 25],
              f"g-cold: runs at 0 s and 1.5 s in three slices, got {list(g['count'])}")

        out = os.path.join(tmp, "b-kill.svg")
        made = timeline("b-kill", raw, requests, out, "(b) kill -9 of instance 2")
        check(made == {"slices": 11, "requests": 1050, "events": 2}, f"timeline: {made}")
        svg = ET.parse(out).getroot()
        ids = {e.get("id") for e in svg.iter()}
        for gid in ("p50", "p99", "p999", "ok", "other", "event-0", "event-1"):
            check(gid in ids, f"timeline: no element {gid} in the SVG")
        text = open(out).read()
        check("kill -9 instance 2" in text and "(b) kill -9 of instance 2" in text,
              "timeline: the event's label and the title are not in the SVG's text")
        again = os.path.join(tmp, "again.svg")
        timeline("b-kill", raw, requests, again, "(b) kill -9 of instance 2")
        check(open(again).read() == text, "timeline: the same input made different bytes")
        timeline("g-cold", raw, requests, os.path.join(tmp, "g-cold.svg"), "(g) cold")

        out = os.path.join(tmp, "histogram.svg")
        made = histogram([("b-kill", "kill"), ("g-cold", "cold")], raw, requests, out,
                         "latency")
        check(made["runs"] == 2, f"histogram: a run and a series, got {made}")
        # 1 ms to 50 ms: 17 tenths of a decade (10^0 to 10^1.7).
        check(made["bins"] == 17, f"histogram: ten bins per decade, got {made}")
        ids = {e.get("id") for e in ET.parse(out).getroot().iter()}
        check({"run-0", "run-1"} <= ids, "histogram: a line per run")
        produced = sorted(f for f in os.listdir(tmp) if f.endswith(".svg"))
        check(produced == ["again.svg", "b-kill.svg", "g-cold.svg", "histogram.svg"],
              f"files: {produced}")

    for failure in failures:
        print(f"charts self-test: FAILED: {failure}", file=sys.stderr)
    if failures:
        sys.exit(1)
    print("charts self-test: timeline and histogram made from synthetic runs, all checks passed")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("timeline", "histogram"):
        p = sub.add_parser(name)
        p.add_argument("--raw", required=True, help="the report's raw/ (events.tsv)")
        p.add_argument("--requests", required=True, help="where the runs' .db files are")
        p.add_argument("--out", required=True)
        p.add_argument("--title", required=True)
        if name == "timeline":
            p.add_argument("step")
        else:
            p.add_argument("runs", nargs="+", metavar="RUN[=LABEL]")
    sub.add_parser("self-test")
    args = parser.parse_args()
    if args.command == "self-test":
        self_test()
    elif args.command == "timeline":
        made = timeline(args.step, args.raw, args.requests, args.out, args.title)
        print(f"{args.out}: {made['slices']} one-second slices, {made['requests']} requests, "
              f"{made['events']} events")
    else:
        runs = [tuple(r.split("=", 1)) if "=" in r else (r, r) for r in args.runs]
        made = histogram(runs, args.raw, args.requests, args.out, args.title)
        print(f"{args.out}: {made['runs']} runs, {made['bins']} bins")


if __name__ == "__main__":
    main()
