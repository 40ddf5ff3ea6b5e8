#!/usr/bin/env python3
"""One line per audit report: worst single node and mean over nodes per attack, and each coalition.

usage: summarize.py REPORT.json [...] > summary.md
"""
import json, sys

ATTACKS = ["vocab_match", "context_free_after_bos", "context_free_filler", "ridge_inverter"]
SHORT = {"vocab_match": "vocab match", "context_free_after_bos": "ctx-free BOS",
         "context_free_filler": "ctx-free filler", "ridge_inverter": "ridge"}

print("| report | F | layer | client head | " + " | ".join(f"{SHORT[a]}: worst node / mean" for a in ATTACKS) +
      " | coalitions (vocab match / ctx-free BOS / ridge) |")
print("|---|---|---|---|" + "---|" * len(ATTACKS) + "---|")
for path in sys.argv[1:]:
    r = json.load(open(path))
    p = r["plan"]
    singles = [x for x in r["parties"] if "+" not in x["name"]]
    coal = [x for x in r["parties"] if "+" in x["name"]]
    cells = []
    for a in ATTACKS:
        fr = [(next(s for s in x["attacks"] if s["attack"] == a)["fraction_of_prompt"], x["name"]) for x in singles]
        w = max(fr, key=lambda t: t[0])
        cells.append(f"{100*w[0]:.1f} % ({w[1]}) / {100*sum(f for f, _ in fr)/len(fr):.1f} %")
    cs = []
    for x in coal:
        sc = {s["attack"]: s["fraction_of_prompt"] for s in x["attacks"]}
        cs.append(f"{x['name']}: {100*sc['vocab_match']:.1f} / {100*sc['context_free_after_bos']:.1f} / "
                  f"{100*sc['ridge_inverter']:.1f} %")
    print(f"| {path.split('/')[-1]} | {p['front_layers']} | {r['layer']} | {p['client_head']} | " + " | ".join(cells) +
          " | " + "; ".join(cs) + " |")
