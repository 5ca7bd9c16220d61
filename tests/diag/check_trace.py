#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""check_trace.py TRACE.json: check a BATON_TRACE file.

It must parse as JSON in Chrome's trace-event format; every complete event
("ph": "X") has a name, a category, a start, a non-negative duration and a
thread named by a thread_name record; the events of each thread nest (two
events of one thread either are disjoint or one contains the other); and
the workload of test_stats' trace_workload case shows: jobs on workers, a
job holding another event (nested job or wait), kernel parts, blocking
waits, and no dropped events.
"""
import json
import sys

EPS = 0.002  # us: timestamps are printed with 3 decimals


def fail(msg):
    print("check_trace: FAIL:", msg)
    sys.exit(1)


def main(path):
    with open(path) as f:
        doc = json.load(f)
    events = doc.get("traceEvents")
    if not isinstance(events, list):
        fail("no traceEvents list")
    names = {}
    complete = []
    for e in events:
        ph = e.get("ph")
        if ph == "M" and e.get("name") == "thread_name":
            names[(e["pid"], e["tid"])] = e["args"]["name"]
        elif ph == "X":
            for key in ("name", "cat", "ts", "dur", "pid", "tid"):
                if key not in e:
                    fail("event without %s: %r" % (key, e))
            if e["dur"] < 0:
                fail("negative duration: %r" % e)
            complete.append(e)
    for e in complete:
        if (e["pid"], e["tid"]) not in names:
            fail("thread %r has no thread_name" % e["tid"])
    cats = {e["cat"] for e in complete}
    for want in ("job", "part", "wait"):
        if want not in cats:
            fail("no %r event (categories: %s)" % (want, sorted(cats)))
    if not any(names[(e["pid"], e["tid"])].startswith("worker ")
               for e in complete if e["cat"] == "job"):
        fail("no job on a worker")

    by_thread = {}
    for e in complete:
        by_thread.setdefault((e["pid"], e["tid"]), []).append(e)
    nested_in_job = 0
    for key, evs in by_thread.items():
        evs.sort(key=lambda e: (e["ts"], -e["dur"]))
        stack = []
        for e in evs:
            # Events that ended before this one starts are done with.
            while stack and e["ts"] + EPS >= stack[-1]["ts"] + stack[-1]["dur"]:
                stack.pop()
            if stack:
                top = stack[-1]
                if e["ts"] + e["dur"] > top["ts"] + top["dur"] + EPS:
                    fail("%s %s at %.3f+%.3f overlaps %s %s at %.3f+%.3f on %s"
                         % (e["cat"], e["name"], e["ts"], e["dur"], top["cat"],
                            top["name"], top["ts"], top["dur"], names[key]))
                if top["cat"] == "job":
                    nested_in_job += 1
            stack.append(e)
    if nested_in_job == 0:
        fail("no event nested in a job")
    dropped = doc.get("otherData", {}).get("dropped")
    if dropped != 0:
        fail("dropped %r events" % dropped)
    print("check_trace: %d events on %d threads, categories %s, %d nested in "
          "jobs" % (len(complete), len(by_thread), sorted(cats), nested_in_job))


if __name__ == "__main__":
    main(sys.argv[1])
