"""Before/after comparison of the benchmark subset: python compare.py BEFORE_DIR AFTER_DIR (default /tmp/bench-before
and /tmp/bench-after, each holding the JSON files and runs/ of one side); prints facts."""
import json, statistics as st, sys, glob, os
from pathlib import Path

B, A = (Path(p) for p in (sys.argv[1:3] if len(sys.argv) > 2 else ("/tmp/bench-before", "/tmp/bench-after")))
def load(p):
    try: return json.loads(p.read_text())
    except FileNotFoundError: return None

def q(xs, f):
    xs = sorted(xs); k = (len(xs) - 1) * f; lo = int(k); hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)

def qual(name, b, a, fmt):
    """bit-identical / equal at printed precision / different."""
    if b == a: v = "bit-identical"
    elif fmt(b) == fmt(a): v = f"equal to printed precision (|Δ| {abs(a-b):.2g})"
    else: v = f"DIFFERENT (Δ {a-b:+.4g})"
    print(f"  {name}: before {fmt(b)}  after {fmt(a)}  -> {v}")
    return b == a

def flat(d, pre=""):
    out = {}
    if isinstance(d, dict):
        for k, v in d.items(): out.update(flat(v, f"{pre}.{k}" if pre else str(k)))
    elif isinstance(d, list):
        for i, v in enumerate(d): out.update(flat(v, f"{pre}[{i}]"))
    else: out[pre] = d
    return out

def same_tree(b, a, skip=("time", "seconds", "time_s", "wall_s", "epoch_s", "loadavg", "machine", "fit_s", "plain_s")):
    fb, fa = flat(b), flat(a)
    keep = lambda k: not any(s in k.split(".")[-1] or s in k for s in skip)
    fb = {k: v for k, v in fb.items() if keep(k)}; fa = {k: v for k, v in fa.items() if keep(k)}
    diff = [(k, fb.get(k), fa.get(k)) for k in sorted(set(fb) | set(fa)) if fb.get(k) != fa.get(k)]
    return len(fb), diff

def spread(name, b_pr, a_pr, b_ratio, a_ratio):
    """paired ratios (per alternating pair) before and after."""
    bm, am = st.median(b_pr), st.median(a_pr)
    biqr = (q(b_pr, .25), q(b_pr, .75)); aiqr = (q(a_pr, .25), q(a_pr, .75))
    if biqr[0] <= am <= biqr[1]: v = "within before's IQR"
    elif min(b_pr) <= am <= max(b_pr): v = "within before's range (outside IQR)"
    else: v = "OUTSIDE before's range"
    print(f"  {name}: ratio-of-medians {b_ratio:.3f} -> {a_ratio:.3f}; paired median {bm:.3f} -> {am:.3f}; "
          f"before IQR {biqr[0]:.3f}-{biqr[1]:.3f} range {min(b_pr):.3f}-{max(b_pr):.3f}; "
          f"after IQR {aiqr[0]:.3f}-{aiqr[1]:.3f} range {min(a_pr):.3f}-{max(a_pr):.3f}  -> {v}")

def times(name, bt, at, unit_per_s=None):
    print(f"  {name}: median {st.median(bt):.4f} -> {st.median(at):.4f} s; best {min(bt):.4f} -> {min(at):.4f} s "
          f"(best-of ratio after/before {min(at)/min(bt):.3f}); before range {min(bt):.4f}-{max(bt):.4f}, "
          f"after range {min(at):.4f}-{max(at):.4f}")

eb, ea = load(B / "engine.json"), load(A / "engine.json")
if ea:
    print("ENGINE machine before", eb["machine"], "\n       machine after ", ea["machine"])
    print("  loadavg end", eb["loadavg_end"], ea["loadavg_end"])
    for m in ("big", "small"):
        ob, oa = eb["overhead"][m], ea["overhead"][m]
        spread(f"1 {m} fit/plain steps/s", ob["paired_ratios"], oa["paired_ratios"], ob["ratio"], oa["ratio"])
        print(f"     steps/s fit {ob['fit_steps_per_s']:.1f} -> {oa['fit_steps_per_s']:.1f}, plain {ob['plain_steps_per_s']:.1f} -> {oa['plain_steps_per_s']:.1f}")
        times(f"1 {m} fit_s", ob["fit_s"], oa["fit_s"]); times(f"1 {m} plain_s", ob["plain_s"], oa["plain_s"])
    for m in ("big", "small"):
        db, da = eb["data_path"][m], ea["data_path"][m]
        spread(f"2 {m} speedup fit/DL", [d / f for f, d in zip(db["fit_s"], db["dataloader_s"])],
               [d / f for f, d in zip(da["fit_s"], da["dataloader_s"])], db["speedup"], da["speedup"])
        print(f"     samples/s fit {db['fit_samples_per_s']:,.0f} -> {da['fit_samples_per_s']:,.0f}, DL {db['dataloader_samples_per_s']:,.0f} -> {da['dataloader_samples_per_s']:,.0f}")
        times(f"2 {m} fit_s", db["fit_s"], da["fit_s"])
    db, da = eb["data_path"]["data_only"], ea["data_path"]["data_only"]
    spread("2c data only", [d / f for f, d in zip(db["fast_s"], db["dataloader_s"])],
           [d / f for f, d in zip(da["fast_s"], da["dataloader_s"])], db["speedup"], da["speedup"])
    print(f"     samples/s fast {db['fast_samples_per_s']:,.0f} -> {da['fast_samples_per_s']:,.0f}")
    times("2c fast_s", db["fast_s"], da["fast_s"])
    print(f"  3 peak {eb['peak']['peak_gflops']:.1f} -> {ea['peak']['peak_gflops']:.1f}")
    for bs in ("128", "512"):
        fb, fa = eb["flops"][bs], ea["flops"][bs]
        print(f"  3 batch {bs}: GFLOP/s {fb['gflops']:.1f} -> {fa['gflops']:.1f}; % of peak {fb['percent_of_peak']:.1f} -> {fa['percent_of_peak']:.1f}")
        times(f"3 batch {bs} fit_s", fb["fit_s"], fa["fit_s"])
    print(f"  3 plain_128 GFLOP/s {eb['flops']['plain_128']['gflops']:.1f} -> {ea['flops']['plain_128']['gflops']:.1f}")
    sb, sa = eb["sklearn"], ea["sklearn"]
    qual("4a neuralab digits acc", sb["neuralab"]["test_accuracy"], sa["neuralab"]["test_accuracy"], lambda x: f"{x:.4f}")
    qual("4a sklearn digits acc", sb["sklearn"]["test_accuracy"], sa["sklearn"]["test_accuracy"], lambda x: f"{x:.4f}")
    print(f"  4a sklearn n_iter {sb['sklearn']['n_iter']} -> {sa['sklearn']['n_iter']}; curve identical: {sb['curve'] == sa['curve']}; first_reach epoch {sb['first_reach']['epoch']} -> {sa['first_reach']['epoch']}")
    times("4b neuralab s", sb["neuralab"]["s"], sa["neuralab"]["s"]); times("4b sklearn s", sb["sklearn"]["s"], sa["sklearn"]["s"])
    print(f"  4b sklearn/neuralab: {st.median(sb['sklearn']['s'])/st.median(sb['neuralab']['s']):.2f} -> {st.median(sa['sklearn']['s'])/st.median(sa['neuralab']['s']):.2f}")

rb, ra = load(B / "recipes.json"), load(A / "recipes.json")
if ra:
    print("RECIPES")
    key = lambda r: (r["recipe"], r["seed"])
    db, da = {key(r): r for r in rb}, {key(r): r for r in ra}
    n, diff = same_tree(rb, ra); print(f"  {n} leaf values outside timings; differing: {len(diff)}")
    for k in diff[:20]: print("   ", k)
    for rec in ("digits-mlp", "solubility", "solubility-mpnn"):
        ms = ["accuracy", "nll"] if rec == "digits-mlp" else ["rmse", "mae", "r2"]
        for m in ms:
            vb = [db[(rec, s)]["test"][m] for s in range(5)]; va = [da[(rec, s)]["test"][m] for s in range(5)]
            f = lambda v: f"{st.mean(v):.4f} ± {st.stdev(v):.4f} ({v[0]:.4f})"
            print(f"  {rec} {m}: before {f(vb)} after {f(va)} -> {'bit-identical' if vb == va else 'equal at print' if f(vb) == f(va) else 'DIFFERENT'}  max|Δ| {max(abs(x-y) for x, y in zip(vb, va)):.3g}")
        wb = [db[(rec, s)]["seconds"] for s in range(5)]; wa = [da[(rec, s)]["seconds"] for s in range(5)]
        print(f"     wall mean {st.mean(wb):.1f} -> {st.mean(wa):.1f} s, median {st.median(wb):.1f} -> {st.median(wa):.1f}, min {min(wb):.1f} -> {min(wa):.1f}")
    # training histories in run dirs
    for p in sorted(glob.glob(str(B / "runs/recipes/*/metrics.json"))):
        pa = A / "runs/recipes" / Path(p).parent.name / "metrics.json"
        if pa.exists():
            n, diff = same_tree(json.loads(Path(p).read_text()), json.loads(pa.read_text()))
            print(f"  metrics.json {Path(p).parent.name}: {n} values (no times), differing {len(diff)} {diff[:3]}")

ib, ia = load(B / "images.json"), load(A / "images.json")
if ia:
    print("IMAGES machine after", ia.get("machine"), "loadavg_end", ib.get("loadavg_end"), ia.get("loadavg_end"))
    if "throughput" in ia:
        tb, ta = ib["throughput"], ia["throughput"]
        spread("4 throughput fit/plain", [p / f for f, p in zip(tb["fit_s"], tb["plain_s"])],
               [p / f for f, p in zip(ta["fit_s"], ta["plain_s"])], tb["ratio"], ta["ratio"])
        print(f"     samples/s fit {tb['fit_samples_per_s']:,.0f} -> {ta['fit_samples_per_s']:,.0f}, plain {tb['plain_samples_per_s']:,.0f} -> {ta['plain_samples_per_s']:,.0f}")
        times("4 fit_s", tb["fit_s"], ta["fit_s"]); times("4 plain_s", tb["plain_s"], ta["plain_s"])
    if ia.get("mlp"):
        mb, ma = ib["mlp"][0], ia["mlp"][0]
        qual("2 mnist-mlp test error %", mb["test_error_pct"], ma["test_error_pct"], lambda x: f"{x:.2f}")
        n, diff = same_tree(mb, ma); print(f"  mlp record {n} values, differing {diff}")
        print(f"  mlp wall {mb['seconds']:.0f} -> {ma['seconds']:.0f} s; epoch_s median {st.median(mb['epoch_s']):.1f} -> {st.median(ma['epoch_s']):.1f}, min {min(mb['epoch_s']):.2f} -> {min(ma['epoch_s']):.2f}")
        p, pa = B / "runs/images/mnist-mlp-0/metrics.json", A / "runs/images/mnist-mlp-0/metrics.json"
        if pa.exists():
            n, diff = same_tree(json.loads(p.read_text()), json.loads(pa.read_text()))
            print(f"  metrics.json mnist-mlp-0: {n} values (no times), differing {len(diff)} {diff[:3]}")

sb, sa = load(B / "sequences.json"), load(A / "sequences.json")
if sa:
    print("SEQUENCES machine after", sa.get("machine"))
    if "glassbox" in sa:
        n, diff = same_tree(sb["glassbox"], sa["glassbox"]); print(f"  glassbox: {n} values, differing {len(diff)} {diff[:5]}")
        print(f"  glassbox max out/grad {sb['glassbox']['max_abs_diff_outputs']:.2g}/{sb['glassbox']['max_abs_diff_gradients']:.2g} -> {sa['glassbox']['max_abs_diff_outputs']:.2g}/{sa['glassbox']['max_abs_diff_gradients']:.2g}")
        print(f"     load {sb['glassbox']['loadavg_before']} -> {sa['glassbox']['loadavg_before']}")
    for label, xb, xa in (("2 threads", sb.get("throughput"), sa.get("throughput")),
                          ("1 thread", (load(B / "sequences-throughput-1thread.json") or {}).get("throughput"),
                           (load(A / "sequences-throughput-1thread.json") or {}).get("throughput"))):
        if xa:
            print(f"  throughput {label}: threads {xb['threads']} -> {xa['threads']}; load before {xb['loadavg_before']} -> {xa['loadavg_before']}, after {xb['loadavg_after']} -> {xa['loadavg_after']}")
            for m in ("char", "forecaster"):
                spread(f"{label} {m}", xb[m]["paired_ratios"], xa[m]["paired_ratios"], xb[m]["ratio"], xa[m]["ratio"])
                print(f"     steps/s fit {xb[m]['fit_steps_per_s']:.2f} -> {xa[m]['fit_steps_per_s']:.2f}, plain {xb[m]['plain_steps_per_s']:.2f} -> {xa[m]['plain_steps_per_s']:.2f}")
                times(f"{label} {m} fit_s", xb[m]["fit_s"], xa[m]["fit_s"]); times(f"{label} {m} plain_s", xb[m]["plain_s"], xa[m]["plain_s"])
    if "forecast" in sa:
        fb, fa = sb["forecast"], sa["forecast"]
        n, diff = same_tree(fb, fa); print(f"  forecast: {n} values, differing {len(diff)}")
        for k in diff[:30]: print("    ", k)
        for r in ("airline-lstm", "temperatures-lstm", "sunspots-lstm"):
            for m in ("rmse", "mase"):
                qual(f"{r} model {m} mean", fb[r][f"model_{m}"][0], fa[r][f"model_{m}"][0], lambda x: f"{x:.3f}")
                qual(f"{r} model {m} std", fb[r][f"model_{m}"][1], fa[r][f"model_{m}"][1], lambda x: f"{x:.3f}")
        print(f"     load {fb['loadavg_before']} -> {fa['loadavg_before']}")

ob, oa = load(B / "solubility.json"), load(A / "solubility.json")
if oa:
    print("SOLUBILITY machine after", oa.get("machine"), oa["seeds"])
    key = lambda r: (r["model"], r["seed"])
    db, da = {key(r): r for r in ob["rows"]}, {key(r): r for r in oa["rows"]}
    print(f"  rows {len(db)} -> {len(da)}")
    n, diff = same_tree(ob["rows"], oa["rows"]); print(f"  {n} values, differing {len(diff)}")
    for k in diff[:30]: print("    ", k)
    for model in dict.fromkeys(r["model"] for r in ob["rows"]):
        for m in ("val_rmse", "test_rmse"):
            if m not in db[(model, 0)]: continue
            vb = [db[(model, s)][m] for s in range(3)]; va = [da[(model, s)][m] for s in range(3)]
            f = lambda v: f"{st.mean(v):.3f} ± {st.stdev(v):.3f}"
            print(f"  {model} {m}: {f(vb)} -> {f(va)}: {'bit-identical' if vb == va else 'DIFFERENT'} max|Δ| {max(abs(x-y) for x, y in zip(vb, va)):.3g}")
        wb = [db[(model, s)]["seconds"] for s in range(3)]; wa = [da[(model, s)]["seconds"] for s in range(3)]
        print(f"     wall mean {st.mean(wb):.1f} -> {st.mean(wa):.1f}, min {min(wb):.1f} -> {min(wa):.1f}")
