import json, statistics as st, sys
def q(xs, f):
    xs = sorted(xs); k = (len(xs) - 1) * f; lo = int(k); hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)
def summ(label, per):  # per: {name: [values]}
    b, a = per["before"], per["after"]
    print(f"  {label}: before median {st.median(b):.4g} (IQR {q(b,.25):.4g}-{q(b,.75):.4g}, n={len(b)}) | "
          f"after median {st.median(a):.4g} (IQR {q(a,.25):.4g}-{q(a,.75):.4g}, n={len(a)}) | after/before {st.median(a)/st.median(b):.3f}")
kind, path = sys.argv[1], sys.argv[2]
rows = json.load(open(path))
print(kind, path, "loads:", [(r["name"][0], round(r["load"][0], 2)) for r in rows])
get = lambda f: {n: [v for r in rows if r["name"] == n for v in f(r)] for n in ("before", "after")}
if kind == "engine":
    for m in ("small", "big"):
        summ(f"{m} paired fit/plain steps ratio (plain_s/fit_s)", get(lambda r: [p / f for f, p in zip(r[f"{m}_fit_s"], r[f"{m}_plain_s"])]))
        summ(f"{m} fit_s", get(lambda r: r[f"{m}_fit_s"])); summ(f"{m} plain_s", get(lambda r: r[f"{m}_plain_s"]))
        summ(f"{m} per-worker min fit_s", get(lambda r: [min(r[f"{m}_fit_s"])]))
    summ("batches_s (10,000 rows)", get(lambda r: r["batches_s"]))
    summ("batches per-worker median", get(lambda r: [st.median(r["batches_s"])]))
else:
    summ("paired fit/plain samples ratio", get(lambda r: [p / f for f, p in zip(r["fit_s"], r["plain_s"])]))
    summ("fit_s", get(lambda r: r["fit_s"])); summ("plain_s", get(lambda r: r["plain_s"]))
