"""Interleaved old/new check of engine.py's parts 1b and 2c (and 1 big) under the same load; with AB_PART=2ab,
parts 2a and 2b instead (fit fast path vs DataLoader loop, big and small MLP, 10,000 rows, 7 pairs per worker).

Worker:  PYTHONPATH=TREE/src python ab_engine.py worker TREE   -> one JSON line of timings
Driver:  python ab_engine.py drive ROUNDS OUT.json               -> runs before, after, after, before, ... ROUNDS pairs
Each worker imports TREE/benchmarks/engine.py (the tree's own fit, MLP, and Batches/_Batches) and times, after one
warm-up each: part 1 small MLP 784-64-10 fit vs plain loop (60,000 rows, batch 128) 5 interleaved pairs; part 1 big
MLP 3 pairs; part 2c the engine's batcher over 10,000 rows, 30 draws.
"""
import json, os, subprocess, sys, time

TREES = {"before": os.environ.get("AB_BEFORE", "/tmp/before"), "after": os.environ.get("AB_AFTER", "/tmp/after")}

def worker(tree: str) -> None:
    sys.path.insert(0, f"{tree}/benchmarks")
    import torch, neuralab
    import engine as E
    from _common import timed_pair
    assert neuralab.__file__.startswith(tree), neuralab.__file__
    x, y = E.random_data(60_000)
    out = {"tree": tree, "neuralab": neuralab.__file__, "threads": torch.get_num_threads(),
           "load": os.getloadavg()}
    if os.environ.get("AB_PART") == "2ab":  # part 2a/2b: fit fast path vs DataLoader loop, 10,000 rows, 7 pairs
        xs, ys = x[:10_000], y[:10_000]
        for m, hidden in (("big", E.BIG), ("small", E.SMALL)):
            out[f"{m}_fit_s"], out[f"{m}_dl_s"] = timed_pair(lambda: E.run_fit(hidden, xs, ys, 128),
                                                            lambda: E.run_dataloader(hidden, xs, ys, 128), 7)
        print(json.dumps(out)); return
    out["small_fit_s"], out["small_plain_s"] = timed_pair(lambda: E.run_fit(E.SMALL, x, y, 128),
                                                          lambda: E.run_plain(E.SMALL, x, y, 128), 5)
    out["big_fit_s"], out["big_plain_s"] = timed_pair(lambda: E.run_fit(E.BIG, x, y, 128),
                                                      lambda: E.run_plain(E.BIG, x, y, 128), 3)
    xs, ys = x[:10_000], y[:10_000]
    B = getattr(E, "Batches", None) or getattr(E, "_Batches")
    fb = B((xs, ys), 128, torch.device("cpu"), torch.Generator().manual_seed(0), shuffle=True)
    list(fb)
    t = []
    for _ in range(30):
        s = time.perf_counter(); list(fb); t.append(time.perf_counter() - s)
    out["batches_s"] = t
    print(json.dumps(out))

def drive(rounds: int, path: str) -> None:
    env = dict(os.environ)
    res = []
    for i in range(rounds):
        order = ["before", "after"] if i % 2 == 0 else ["after", "before"]
        for name in order:
            tree = TREES[name]
            env["PYTHONPATH"] = f"{tree}/src"
            r = subprocess.run([sys.executable, __file__, "worker", tree], env=env, capture_output=True, text=True, cwd=tree)
            if r.returncode:
                print(r.stderr, file=sys.stderr); raise SystemExit(1)
            d = json.loads(r.stdout.strip().splitlines()[-1]); d["name"] = name; d["round"] = i
            res.append(d); print(name, i, d["load"], flush=True)
            with open(path, "w") as f: json.dump(res, f)

if __name__ == "__main__":
    if sys.argv[1] == "worker": worker(sys.argv[2])
    else: drive(int(sys.argv[2]), sys.argv[3])
