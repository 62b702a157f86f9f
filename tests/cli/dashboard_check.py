#!/usr/bin/env python3
"""Checks deploy/grafana/weir.json against a real scrape of the daemon's /metrics.

Usage: dashboard_check.py DASHBOARD SCRAPE RULES_OUT

Fails (exit 1, naming them) when a metric the dashboard queries (a weir_* name in a panel's
expr or a template variable's query) has no sample in SCRAPE. Writes RULES_OUT, a Prometheus
rules file with one recording rule per panel query (Grafana's $variables replaced by values), for
`promtool check rules` to parse every query as PromQL.
"""
import json
import re
import sys

dashboard, scrape_path, rules_out = sys.argv[1:4]
d = json.load(open(dashboard))
exprs = [t["expr"] for p in d["panels"] for t in p.get("targets", [])]
queries = list(exprs)
for v in d.get("templating", {}).get("list", []):
    q = v.get("query")
    if isinstance(q, dict):
        q = q.get("query")
    if isinstance(q, str):
        queries.append(q)

scraped = set()
for line in open(scrape_path):
    if line.startswith("#") or not line.strip():
        continue
    scraped.add(re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0))

used = sorted({m for q in queries for m in re.findall(r"\bweir_[a-z0-9_]+\b", q)})
missing = [m for m in used if m not in scraped]
if not exprs or not used:
    print("the dashboard queries no weir metric")
    sys.exit(1)
if missing:
    print("queried by the dashboard but not in the scrape: " + ", ".join(missing))
    sys.exit(1)

with open(rules_out, "w") as f:
    f.write("groups:\n  - name: weir-dashboard\n    rules:\n")
    for i, e in enumerate(exprs):
        e = e.replace("$__rate_interval", "1m").replace("$interface", ".*")
        f.write(f"      - record: weir_dashboard:query{i}\n        expr: {json.dumps(e)}\n")
print(f"{len(used)} metrics queried, all scraped; {len(exprs)} queries")
