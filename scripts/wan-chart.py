#!/usr/bin/env python3
"""Draws braid vs plain TCP throughput per round trip from a `braid-stress wan` run, as an SVG.

    python3 scripts/wan-chart.py WAN_OUTPUT.txt docs/wan-throughput.svg [TITLE]

e.g. python3 scripts/wan-chart.py docs/data/wan-2026-12-05.txt docs/wan-throughput.svg

Reads the table the scenario prints at the end (rows `| form | round trip | backend | plain TCP MB/s |
braid 1 stream MB/s | braid N streams MB/s | ...`, as in docs/benchmarks.md); `cli` rows are left out. One
panel per link form; in each, one group of bars per round trip: plain TCP, then one stream and N streams for
each backend. Standard library only.
"""
import re
import sys
from xml.sax.saxutils import escape

ROW = re.compile(r"^\|\s*(relay|ns(?: [\w-]+)?)\s*\|\s*([0-9.]+\s*ms)\s*\|\s*(\w+)\s*\|\s*([0-9.]+)\s*\|\s*([0-9.]+)\s*\(([0-9.]+)\)"
                 r"\s*\|\s*([0-9.]+)\s*\(([0-9.]+)\)")
COLOURS = {"tcp": "#888888", "nio 1": "#1f77b4", "nio N": "#9ecae1", "epoll 1": "#d62728", "epoll N": "#fc9272",
           "loom 1": "#2ca02c", "loom N": "#a1d99b"}


def read(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = ROW.match(line.strip())
            if m:
                rows.append({"form": m.group(1), "rtt": m.group(2).replace(" ", ""), "backend": m.group(3),
                             "tcp": float(m.group(4)), "one": float(m.group(5)), "many": float(m.group(7))})
    if not rows:
        sys.exit("no wan table rows in " + path)
    return rows


def panel_title(form):
    """'relay form'; 'namespace form, bbr' for the row label 'ns bbr' (the endpoints' congestion control)."""
    if form == "relay":
        return "relay form"
    if form.startswith("ns"):
        cc = form[2:].strip()
        return "namespace form" + (", " + cc if cc else "")
    return form + " form"


def rtt_key(r):
    return float(r.replace("ms", ""))


def draw(rows, title):
    forms = []  # in the table's order: relay, then ns under each congestion control ("ns bbr", "ns reno")
    for r in rows:
        if r["form"] not in forms:
            forms.append(r["form"])
    backends = []
    for r in rows:
        if r["backend"] not in backends:
            backends.append(r["backend"])
    series = ["tcp"] + [b + s for b in backends for s in (" 1", " N")]
    top = max(max(r["tcp"], r["one"], r["many"]) for r in rows)
    top = (int(top / 25) + 1) * 25
    bar, gap, left, panel_h, head = 14, 26, 60, 230, 50
    rtts_per_form = {f: sorted({r["rtt"] for r in rows if r["form"] == f}, key=rtt_key) for f in forms}
    labels = ["plain TCP" if s == "tcp" else s.replace(" N", " 4 streams").replace(" 1", " 1 stream") for s in series]
    legend = sum(13 + 7 * len(label) + 12 for label in labels)
    width = max(left + max(len(v) for v in rtts_per_form.values()) * (len(series) * bar + gap) + 20, left + legend)
    height = head + len(forms) * (panel_h + 60) + 30
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="11">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{left}" y="18" font-size="13" font-weight="bold">{escape(title)}</text>']
    lx = left
    for s, label in zip(series, labels):
        out.append(f'<rect x="{lx}" y="28" width="10" height="10" fill="{COLOURS.get(s, "#444")}"/>')
        out.append(f'<text x="{lx + 13}" y="37">{escape(label)}</text>')
        lx += 13 + 7 * len(label) + 12
    for i, form in enumerate(forms):
        y0 = head + i * (panel_h + 60) + 10
        base = y0 + panel_h
        out.append(f'<text x="{left}" y="{y0 + 4}" font-weight="bold">{panel_title(form)}</text>')
        for t in range(0, top + 1, 25):
            y = base - t / top * (panel_h - 20)
            out.append(f'<line x1="{left - 4}" y1="{y:.1f}" x2="{width - 10}" y2="{y:.1f}" stroke="#e0e0e0"/>')
            out.append(f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end">{t}</text>')
        out.append(f'<text x="14" y="{base - panel_h / 2:.1f}" transform="rotate(-90 14 {base - panel_h / 2:.1f})" '
                   f'text-anchor="middle">MB/s</text>')
        x = left + (width - left - 20 - len(rtts_per_form[form]) * (len(series) * bar + gap)) / 2 + gap / 2
        for rtt in rtts_per_form[form]:
            cells = {r["backend"]: r for r in rows if r["form"] == form and r["rtt"] == rtt}
            tcp = next(iter(cells.values()))["tcp"]
            values = [tcp] + [cells[b][k] if b in cells else 0 for b in backends for k in ("one", "many")]
            for s, v in zip(series, values):
                h = v / top * (panel_h - 20)
                out.append(f'<rect x="{x:.1f}" y="{base - h:.1f}" width="{bar - 2}" height="{h:.1f}" '
                           f'fill="{COLOURS.get(s, "#444")}"><title>{escape(s)}: {v:.1f} MB/s</title></rect>')
                if s != "tcp" and tcp > 0:
                    out.append(f'<text x="{x + bar / 2 - 1:.1f}" y="{base - h - 3:.1f}" font-size="8" '
                               f'text-anchor="middle">{v / tcp:.2f}</text>')
                x += bar
            group = len(series) * bar
            out.append(f'<text x="{x - group / 2:.1f}" y="{base + 16}" text-anchor="middle">{rtt} round trip'
                       f'</text>')
            x += gap
        out.append(f'<line x1="{left - 4}" y1="{base}" x2="{width - 10}" y2="{base}" stroke="black"/>')
    out.append(f'<text x="{left}" y="{height - 10}" font-size="9">Numbers above the bars: braid / plain TCP '
               f'through the same link in the same run.</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    title = sys.argv[3] if len(sys.argv) > 3 else "braid vs plain TCP through an emulated 125 MB/s link"
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        f.write(draw(read(sys.argv[1]), title))


if __name__ == "__main__":
    main()
