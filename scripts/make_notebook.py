"""Builds an .ipynb (nbformat 4.5, no outputs) from a plain-text source where cells are separated by
lines '# %% [markdown]' or '# %%' (the percent format editors use). Usage: make_notebook.py SRC OUT"""
import json, sys, hashlib

def cells_of(text):
    cells, kind, lines, tags = [], None, [], []
    def flush():
        if kind is None: return
        src = "\n".join(lines).strip("\n")
        if kind == "markdown":
            src = "\n".join(l[2:] if l.startswith("# ") else l.lstrip("#") for l in src.split("\n"))
        cid = hashlib.sha1(f"{len(cells)}:{src[:40]}".encode()).hexdigest()[:8]
        cell = {"cell_type": kind, "id": cid, "metadata": {"tags": tags} if tags else {}, "source": src}
        if kind == "code": cell.update(outputs=[], execution_count=None)
        cells.append(cell)
    for line in text.split("\n"):
        if line.startswith("# %%"):
            flush()
            kind = "markdown" if "[markdown]" in line else "code"
            tags = line.split("tags=")[1].strip().split(",") if "tags=" in line else []
            lines = []
        else:
            lines.append(line)
    flush()
    return cells

src, out = sys.argv[1], sys.argv[2]
nb = {"nbformat": 4, "nbformat_minor": 5,
      "metadata": {"kernelspec": {"name": "vlab", "display_name": "TypeScript (vlab)", "language": "typescript"},
                   "language_info": {"name": "typescript", "file_extension": ".ts", "mimetype": "text/typescript"}},
      "cells": cells_of(open(src).read())}
json.dump(nb, open(out, "w"), indent=1, ensure_ascii=False)
open(out, "a").write("\n")
