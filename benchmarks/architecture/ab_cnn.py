"""Interleaved old/new check of images.py part 4 (CNN throughput, fit vs plain loop) under the same load.

Worker:  PYTHONPATH=TREE/src python ab_cnn.py worker TREE REPS  -> one JSON line (the tree's own images.throughput)
Driver:  python ab_cnn.py drive ROUNDS REPS OUT.json            -> before, after, after, before, ... ROUNDS pairs
"""
import json, os, subprocess, sys

TREES = {"before": os.environ.get("AB_BEFORE", "/tmp/before"), "after": os.environ.get("AB_AFTER", "/tmp/after")}

def worker(tree: str, reps: int) -> None:
    sys.path.insert(0, f"{tree}/benchmarks")
    import torch, neuralab
    import images as I
    assert neuralab.__file__.startswith(tree), neuralab.__file__
    recipe = I.load_recipe("mnist-cnn", [])
    data = I.prepare_data(recipe)
    x, y = data.splits["train"]
    rows = 100 * I.THROUGHPUT_BATCH
    resolve = getattr(I, "resolve_recipe", None) or getattr(I, "resolve")
    out = I.throughput(resolve(recipe, data), x[:rows], y[:rows], reps)
    out.update(tree=tree, neuralab=neuralab.__file__, threads=torch.get_num_threads(), load=os.getloadavg())
    print(json.dumps(out))

def drive(rounds: int, reps: int, path: str) -> None:
    env, res = dict(os.environ), []
    for i in range(rounds):
        for name in (["before", "after"] if i % 2 == 0 else ["after", "before"]):
            tree = TREES[name]
            env["PYTHONPATH"] = f"{tree}/src"
            r = subprocess.run([sys.executable, __file__, "worker", tree, str(reps)], env=env, capture_output=True,
                               text=True, cwd=tree)
            if r.returncode:
                print(r.stderr, file=sys.stderr); raise SystemExit(1)
            d = json.loads(r.stdout.strip().splitlines()[-1]); d["name"] = name; d["round"] = i
            res.append(d); print(name, i, d["load"], d["ratio"], flush=True)
            with open(path, "w") as f: json.dump(res, f)

if __name__ == "__main__":
    if sys.argv[1] == "worker": worker(sys.argv[2], int(sys.argv[3]))
    else: drive(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
