"""Summarizes a schemathesis run for tests/contract/schemathesis.sh.

usage: summarize.py NDJSON_REPORT [NDJSON_REPORT...] HOST_LOG

Reads the NDJSON event reports (every request schemathesis made, every check it ran;
one report per pass against the same host) and the host's log (one JSON access-log line
per request the component answered, plus the host's own errors), prints the totals, and
exits 1 when a check failed, a run errored, or any response was a 5xx.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Totals:
    """What one or more passes did."""

    test_cases: int = 0
    requests: int = 0
    errors: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    checks: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)

    def add(self, other: Totals) -> None:
        self.test_cases += other.test_cases
        self.requests += other.requests
        self.errors += other.errors
        self.statuses.update(other.statuses)
        self.checks.update(other.checks)
        self.failures.update(other.failures)


def read_report(report_path: str) -> Totals:
    """The totals of one pass's NDJSON report."""
    totals = Totals()
    with open(report_path, encoding="utf-8") as report:
        for line in report:
            event = json.loads(line)
            if "NonFatalError" in event or "FatalError" in event:
                totals.errors += 1
            finished = event.get("ScenarioFinished")
            if not finished:
                continue
            recorder = finished["recorder"]
            if finished["status"] == "error":
                # A case that could not be run (schemathesis reports these as "errored").
                totals.errors += 1
                sent = recorder.get("interactions", {})
                for case_id, case in recorder.get("cases", {}).items():
                    if case_id not in sent:
                        value = case["value"]
                        print(f"errored: {recorder['label']}: {value['method']} {value['path']} "
                              f"(case {case_id}, not sent)")
            totals.test_cases += len(recorder.get("cases", {}))
            for interaction in recorder.get("interactions", {}).values():
                totals.requests += 1
                response = interaction.get("response")
                if response is not None:
                    totals.statuses[response["status_code"]] += 1
            for results in recorder.get("checks", {}).values():
                for result in results:
                    totals.checks[result["name"]] += 1
                    if result["status"] == "failure":
                        totals.failures[result["name"]] += 1
    return totals


def main(report_paths: list[str], host_log_path: str) -> int:
    passes = [(path, read_report(path)) for path in report_paths]
    totals = Totals()
    for _, one in passes:
        totals.add(one)

    served = 0
    served_5xx = 0
    host_errors = 0
    with open(host_log_path, encoding="utf-8", errors="replace") as log:
        for line in log:
            if line.startswith("{"):
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if "status" in entry and "method" in entry:
                    served += 1
                    served_5xx += entry["status"] >= 500
            elif "Error processing request" in line or "Error serving HTTP connection" in line:
                host_errors += 1

    responses_5xx = sum(count for status, count in totals.statuses.items() if status >= 500)
    print("==================== schemathesis summary ====================")
    if len(passes) > 1:
        for path, one in passes:
            print(f"pass {path}: {one.test_cases} test cases, {one.requests} requests, "
                  f"{sum(one.failures.values())} check failures, {one.errors} errored")
    print(f"test cases generated : {totals.test_cases}")
    # The access log also counts requests schemathesis makes outside test cases (probes
    # of its checks, getting access tokens).
    print(f"requests made        : {totals.requests} (the host's access log counts {served})")
    print("responses by status  : " + ", ".join(f"{s}: {n}" for s, n in sorted(totals.statuses.items())))
    print(f"checks run           : {sum(totals.checks.values())} ({len(totals.checks)} kinds)")
    for name, count in sorted(totals.checks.items()):
        print(f"  {name:<30} {count:>7} run, {totals.failures[name]} failed")
    print(f"check failures       : {sum(totals.failures.values())}")
    print(f"errored cases        : {totals.errors}")
    print(f"5xx responses        : {responses_5xx} (access log: {served_5xx}; host errors: {host_errors})")
    print("===============================================================")
    bad = sum(totals.failures.values()) or totals.errors or responses_5xx or served_5xx or host_errors
    return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1:-1], sys.argv[-1]))
