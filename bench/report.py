"""Turn pytest-benchmark JSON from bench/ into the Markdown tables of bench/RESULTS.md.

    pytest bench/test_lstm.py --benchmark-json=bench/lstm.json
    python bench/report.py bench/lstm.json [more.json ...] [--stat mean|median|min]

One table per op family; one row per shape and mode, with the time per implementation (pyseq,
torch, reference), the speed-ups torch/pyseq and reference/pyseq (> 1: pyseq is faster), pyseq's
GFLOP/s and that as a percentage of the sgemm 2048 peak measured in the same run with the BLAS
pyseq links (the ``test_blas_sgemm_peak`` row). GFLOP/s are computed from the chosen statistic
and the FLOP count each row recorded in extra_info (design.md, "Benchmarks").
"""

from __future__ import annotations

import argparse
import json
import sys

IMPLS = ("pyseq", "pyseq_blas_step", "torch", "reference")


def fmt_time(seconds):
    if seconds is None:
        return "—"
    if seconds >= 1.0:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.0f} µs"


def fmt_ratio(num, den):
    if num is None or den is None or den <= 0:
        return "—"
    return f"{num / den:.2f}×"


def fmt_num(v, spec=".1f"):
    return "—" if v is None else format(v, spec)


def load(paths):
    benches, meta = [], []
    for path in paths:
        with open(path) as fh:
            data = json.load(fh)
        benches.extend(data.get("benchmarks", []))
        meta.append(data)
    return benches, meta


def machine_line(meta):
    mi = meta[0].get("machine_info", {}) if meta else {}
    cpu = mi.get("cpu", {}) or {}
    brand = cpu.get("brand_raw") or mi.get("processor") or "?"
    count = cpu.get("count", "?")
    return (f"{brand}, {count} logical CPUs visible; {mi.get('system', '?')} {mi.get('release', '')}; "
            f"Python {mi.get('python_version', '?')}")


def build(benches, stat="mean"):
    """-> (peak dict or None, {family: {case: {"info": extra_info, impl: (seconds, flop)}}})"""
    peak = None
    families: dict = {}
    for b in benches:
        info = b.get("extra_info", {}) or {}
        seconds = (b.get("stats") or {}).get(stat)
        flop = info.get("flop")
        if info.get("kind") == "blas_peak":
            if seconds and flop:
                g = flop / seconds / 1e9
                if peak is None or g > peak["gflops"]:  # several family files: keep the best
                    peak = {"gflops": g, "seconds": seconds, "n": info.get("n"), "library": info.get("library")}
            continue
        fam, case, impl = info.get("family"), info.get("case"), info.get("impl")
        if not (fam and case and impl):
            continue
        row = families.setdefault(fam, {}).setdefault(case, {"info": info})
        row[impl] = (seconds, flop)
    return peak, families


def shape_label(info):
    if all(k in info for k in ("B", "T", "I", "H")):
        s = f"({info['B']}, {info['T']}, {info['I']}, {info['H']})"
        s += " bidirectional" if info.get("bidirectional") else ""
        return s + (f" {info['variant']}" if info.get("variant") else "")
    return info.get("case", "?")


def gflops(entry):
    if not entry:
        return None
    seconds, flop = entry
    if not seconds or not flop:
        return None
    return flop / seconds / 1e9


def render(peak, families, meta, stat="mean"):
    out = []
    versions = {}
    for b in (x for m in meta for x in m.get("benchmarks", [])):
        for k in ("torch", "numpy", "pyseq", "threads"):
            if k in (b.get("extra_info") or {}):
                versions.setdefault(k, b["extra_info"][k])
    out.append(f"- Machine: {machine_line(meta)}")
    out.append(f"- Threads: {versions.get('threads', '?')} on every side (pyseq OpenMP + BLAS, PyTorch, sgemm)")
    out.append(f"- Versions: pyseq {versions.get('pyseq', '?')}, PyTorch {versions.get('torch', 'not installed')}, "
               f"NumPy {versions.get('numpy', '?')}")
    if meta and meta[0].get("datetime"):
        out.append(f"- Run: {meta[0]['datetime']} (pytest-benchmark {meta[0].get('version', '?')})")
    if peak:
        out.append(f"- BLAS peak: sgemm {peak['n']}³ float32 with {peak['library']}: "
                   f"{peak['gflops']:.1f} GFLOP/s ({fmt_time(peak['seconds'])} per product, {stat})")
    else:
        out.append("- BLAS peak: not in this JSON (run the file's test_blas_sgemm_peak row)")
    out.append(f"- Times are the {stat} per call; speed-up = other / pyseq (> 1 means pyseq is faster).")
    out.append("")
    for fam, cases in families.items():
        if fam == "text":  # text preprocessing (bench/test_text.py): its own columns
            out.extend(render_text(cases, stat))
            continue
        if fam == "end_to_end":  # bench/test_end_to_end.py: time per epoch, loss curves
            out.extend(render_end_to_end(cases))
            continue
        out.append(f"### {fam}")
        out.append("")
        out.append("| mode | shape (B, T, I, H) | pyseq | torch | reference (f64) | torch / pyseq "
                   "| reference / pyseq | pyseq GFLOP/s | torch GFLOP/s | pyseq % of sgemm peak "
                   "| pyseq, BLAS step product | BLAS step / packed |")
        out.append("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for case, row in cases.items():
            info = row["info"]
            t = {impl: (row.get(impl) or (None, None))[0] for impl in IMPLS}
            g_py = gflops(row.get("pyseq"))
            g_th = gflops(row.get("torch"))
            pct = f"{100.0 * g_py / peak['gflops']:.1f} %" if (g_py and peak) else "—"
            out.append(
                f"| {info.get('mode', '?')} | {shape_label(info)} | {fmt_time(t['pyseq'])} | {fmt_time(t['torch'])} "
                f"| {fmt_time(t['reference'])} | {fmt_ratio(t['torch'], t['pyseq'])} "
                f"| {fmt_ratio(t['reference'], t['pyseq'])} | {fmt_num(g_py)} | {fmt_num(g_th)} | {pct} "
                f"| {fmt_time(t['pyseq_blas_step'])} | {fmt_ratio(t['pyseq_blas_step'], t['pyseq'])} |"
            )
        out.append("")
    out.append("— = row skipped (implementation not installed, or the reference slower than its per-call limit).")
    return "\n".join(out)


# ---- attention (issue 5): peak-memory rows ------------------------------------------------------


def render_memory(benches):
    """Rows with extra_info kind == "memory" (bench/test_attention.py) as a small table; empty
    when there are none."""
    rows = [b.get("extra_info") or {} for b in benches]
    rows = [r for r in rows if r.get("kind") == "memory"]
    if not rows:
        return ""
    out = ["", "| family | case | implementation | peak extra memory | an L×L float32 matrix | method |",
           "| --- | --- | --- | ---: | ---: | --- |"]
    for r in rows:
        out.append(f"| {r.get('memory_family', '?')} | {r.get('case', '?')} | {r.get('impl', '?')} "
                   f"| {fmt_num(r.get('extra_mib'))} MiB | {fmt_num(r.get('scores_matrix_mib'), '.0f')} MiB "
                   f"| {r.get('method', '?')} |")
    return "\n".join(out)


# ---- text preprocessing (bench/test_text.py) -----------------------------------------------------


def render_text(cases, stat):
    """Rows: operation and data; pyseq (compiled) against plain Python, and against Keras's
    per-row NumPy padding where measured."""
    out = ["### text preprocessing", "",
           "| operation | pyseq (Cython) | pure Python | pure Python / pyseq | NumPy per row (Keras) "
           "| NumPy per row / pyseq |",
           "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for case, row in cases.items():
        t = {impl: (row.get(impl) or (None, None))[0] for impl in ("pyseq", "python", "numpy_rows")}
        out.append(f"| {case} | {fmt_time(t['pyseq'])} | {fmt_time(t['python'])} "
                   f"| {fmt_ratio(t['python'], t['pyseq'])} | {fmt_time(t['numpy_rows'])} "
                   f"| {fmt_ratio(t['numpy_rows'], t['pyseq'])} |")
    out.append("")
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("json", nargs="+", help="pytest-benchmark JSON file(s) (--benchmark-json=FILE)")
    ap.add_argument("--stat", default="median", choices=("mean", "median", "min"),
                    help="statistic for times and GFLOP/s (default: median, robust to the "
                         "interruptions of a shared machine; the same for every implementation)")
    args = ap.parse_args(argv)
    benches, meta = load(args.json)
    peak, families = build(benches, args.stat)
    if not families and not peak:
        print("no pyseq benchmark rows found", file=sys.stderr)
        return 1
    print(render(peak, families, meta, args.stat))
    memory = render_memory(benches)  # attention (issue 5)
    if memory:
        print(memory)
    overhead = render_outside_kernels(benches)
    if overhead:
        print(overhead)
    return 0


# --- models (issue 6): the share of a training step outside pyseq's kernels -----------------
def render_outside_kernels(benches):
    lines = []
    for b in benches:
        info = b.get("extra_info") or {}
        if "outside_kernels_share" in info:
            lines.append(f"- {info.get('case')}: {100 * info['outside_kernels_share']:.1f} % of a "
                         f"training step outside pyseq.ops kernels ({info.get('step_ms')} ms per "
                         f"step, {info.get('ops_ms')} ms in ops.* calls)")
    return "\n".join([""] + lines) if lines else ""
# --- end of models block --------------------------------------------------------------------


# --- end to end (issue 7): the char-LM example against PyTorch -----------------------------
def render_end_to_end(cases):
    """Time per batch and per epoch of the example's model, pyseq against PyTorch, and the
    largest relative gap between the two loss curves."""
    out = ["### end to end", "",
           "| model | shape (B, T, I, H) | batches timed | pyseq per batch | torch per batch "
           "| batches per epoch | pyseq per epoch | torch per epoch | torch / pyseq "
           "| loss curves, largest gap |",
           "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for case, row in cases.items():
        info = row["info"]
        n, per_epoch = info.get("batches"), info.get("batches_per_epoch")
        t = {impl: (row.get(impl) or (None, None))[0] for impl in ("pyseq", "torch")}
        batch = {k: (v / n if (v is not None and n) else None) for k, v in t.items()}
        epoch = {k: (v * per_epoch if (v is not None and per_epoch) else None)
                 for k, v in batch.items()}
        gap = info.get("loss_max_rel_diff")
        gap_s = f"{100 * gap:.2g} %" if gap is not None else "—"
        out.append(f"| {case} | {shape_label(info)} | {n} | {fmt_time(batch['pyseq'])} "
                   f"| {fmt_time(batch['torch'])} | {per_epoch} | {fmt_time(epoch['pyseq'])} "
                   f"| {fmt_time(epoch['torch'])} | {fmt_ratio(t['torch'], t['pyseq'])} "
                   f"| {gap_s} |")
    out.append("")
    return out
# --- end of end-to-end block ---------------------------------------------------------------


if __name__ == "__main__":
    sys.exit(main())
