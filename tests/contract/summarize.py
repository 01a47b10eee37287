"""Summarizes a schemathesis run for tests/contract/schemathesis.sh.

usage: summarize.py NDJSON_REPORT HOST_LOG

Reads the NDJSON event report (every request schemathesis made, every check it ran) and
the host's log (one JSON access-log line per request the component answered, plus the
host's own errors), prints the totals, and exits 1 when a check failed, a run errored,
or any response was a 5xx.
"""

from __future__ import annotations

import json
import sys
from collections import Counter


def main(report_path: str, host_log_path: str) -> int:
    requests = 0
    statuses: Counter[int] = Counter()
    checks: Counter[str] = Counter()
    failures: Counter[str] = Counter()
    errors = 0
    test_cases = 0
    with open(report_path, encoding="utf-8") as report:
        for line in report:
            event = json.loads(line)
            if "NonFatalError" in event or "FatalError" in event:
                errors += 1
            finished = event.get("ScenarioFinished")
            if not finished:
                continue
            recorder = finished["recorder"]
            if finished["status"] == "error":
                # A case that could not be run (schemathesis reports these as "errored").
                errors += 1
                sent = recorder.get("interactions", {})
                for case_id, case in recorder.get("cases", {}).items():
                    if case_id not in sent:
                        value = case["value"]
                        print(f"errored: {recorder['label']}: {value['method']} {value['path']} "
                              f"(case {case_id}, not sent)")
            test_cases += len(recorder.get("cases", {}))
            for interaction in recorder.get("interactions", {}).values():
                requests += 1
                response = interaction.get("response")
                if response is not None:
                    statuses[response["status_code"]] += 1
            for results in recorder.get("checks", {}).values():
                for result in results:
                    checks[result["name"]] += 1
                    if result["status"] == "failure":
                        failures[result["name"]] += 1

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

    responses_5xx = sum(count for status, count in statuses.items() if status >= 500)
    print("==================== schemathesis summary ====================")
    print(f"test cases generated : {test_cases}")
    print(f"requests made        : {requests} (the host's access log counts {served})")
    print("responses by status  : " + ", ".join(f"{s}: {n}" for s, n in sorted(statuses.items())))
    print(f"checks run           : {sum(checks.values())} ({len(checks)} kinds)")
    for name, count in sorted(checks.items()):
        print(f"  {name:<30} {count:>7} run, {failures[name]} failed")
    print(f"check failures       : {sum(failures.values())}")
    print(f"errored cases        : {errors}")
    print(f"5xx responses        : {responses_5xx} (access log: {served_5xx}; host errors: {host_errors})")
    print("===============================================================")
    bad = sum(failures.values()) or errors or responses_5xx or served_5xx or host_errors
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
