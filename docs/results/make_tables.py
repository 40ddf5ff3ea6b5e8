#!/usr/bin/env python3
"""Markdown tables from `cascade audit --json` reports (docs/PRIVACY.md §5).

usage: make_tables.py REPORT.json [...]  > table.md
Per party: the share of the prompts' private positions (all but BOS) whose
rows it sees, and per attack the fraction of all private tokens recovered
("prompt") and of the private positions the party sees ("seen"); for vocab
matching also the fraction of the private positions it does NOT see that the
gap search recovers (its fillings of the gaps).
"""
import json, sys

ATTACKS = ["vocab_match", "context_free_after_bos", "context_free_filler", "ridge_inverter"]
SHORT = {"vocab_match": "vocab match", "context_free_after_bos": "ctx-free after BOS",
         "context_free_filler": "ctx-free filler", "ridge_inverter": "ridge"}

def table(path):
    r = json.load(open(path))
    p = r["plan"]
    out = []
    out.append(f"**{path.split('/')[-1]}**: plan alpha={p['alpha']} beta={p['beta']} c={p['c']} delta={p['delta']} "
               f"F={p['front_layers']} public_prefix={p['public_prefix']} client_head={p['client_head']} "
               f"(client keeps [0,{p['head']})); rows at layer {r['layer']}; {r['n_prompts']} prompts; "
               f"epsilon {r['epsilon']:.4g}")
    out.append("")
    out.append("| party | seen / private | " + " | ".join(f"{SHORT[a]} prompt / seen" for a in ATTACKS) +
               " | vocab match: unseen recovered |")
    out.append("|---|---|" + "---|" * len(ATTACKS) + "---|")
    rows = []
    for party in r["parties"]:
        sc = {a["attack"]: a for a in party["attacks"]}
        any_a = next(iter(sc.values()))
        seen = any_a["observed_private"] / any_a["private_positions"] if any_a["private_positions"] else 0
        cells = []
        for a in ATTACKS:
            if a in sc:
                cells.append(f"{100*sc[a]['fraction_of_prompt']:.1f} % / {100*sc[a]['fraction_of_observed']:.1f} %")
            else:
                cells.append("-")
        rows.append((party["name"], seen, cells, sc))
    for name, seen, cells, sc in rows:
        vm = sc.get("vocab_match")
        unseen = "-"
        if vm and vm["private_positions"] > vm["observed_private"]:
            u = (vm["private_recovered"] - vm["observed_recovered"]) / (vm["private_positions"] - vm["observed_private"])
            unseen = f"{100*u:.1f} %"
        out.append(f"| {name} | {100*seen:.1f} % | " + " | ".join(cells) + f" | {unseen} |")
    # worst single node per attack
    singles = [x for x in rows if "+" not in x[0]]
    out.append("")
    for a in ATTACKS:
        have = [x for x in singles if a in x[3]]
        if not have:
            continue
        w = max(have, key=lambda x: x[3][a]["fraction_of_prompt"])
        mean = sum(x[3][a]["fraction_of_prompt"] for x in have) / len(have)
        out.append(f"* worst single node, {SHORT[a]}: {w[0]} {100*w[3][a]['fraction_of_prompt']:.1f} % of the prompt "
                   f"(mean over the {len(have)} nodes {100*mean:.1f} %)")
    vm = [x for x in rows if "vocab_match" in x[3]]
    if vm:
        c = sum(x[3]["vocab_match"]["candidates_tried"] for x in vm)
        out.append(f"* vocab-match candidates tried, all parties together: {c:.3g}")
    return "\n".join(out) + "\n"

if __name__ == "__main__":
    print("\n".join(table(p) for p in sys.argv[1:]))
