"""Does fine-tuning on a user's own frames pay off? The retraining loop measured on a look the shipped model never saw.

    python benchmarks/finetune.py [--model CHECKPOINT] [--minutes 15] [--work DIR] [--report PATH]

The user's "own camera" is the data engine's held-out randomisation families
(configs/synth_heldout.yaml): the shipped model never trained on them.
- pool: 500 frames of that look (seed 1300), the user's unlabelled flight; test: 200 more (seed 1200).
- random100: 100 pool frames drawn at random (numpy seed 0), with their true boxes, as a user would
  annotate them.
- review100: the 100 pool frames `debris review` ranks highest after `debris label` of the pool with
  the shipped model at conf 0.25 (the review queue wants doubtful boxes, which conf 0.6 hides).
Runs, each `debris train` on 2 cores with train.time_limit_min = minutes - 1 (the minute left is
start-up and caching), wall clock measured:
- finetune: --weights CHECKPOINT --config configs/finetune.yaml (the recipe as shipped) on random100;
- finetune + synth_mix: the same with train.synth_mix=0.25, engine frames from configs/synth_train.yaml's
  families (the engine as the shipped model knew it, not the user's look);
- scratch: random weights, the default from-scratch settings, on random100 for the whole budget
  (epochs and patience high, so the time limit ends it);
- finetune on review100: the recipe, on the review queue's frames instead of random ones.
Each run's last.pt (the weights at the end of its budget, as the recipe says to use) is scored on the
200 test frames and on the in-domain test split of benchmarks/transfer.py (forgetting). Nothing is
tuned on the test frames: the recipe was chosen on a dev set of the same look (seed 1400).
"""

from __future__ import annotations

import argparse
import csv
import datetime
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import report, sets, transfer  # noqa: E402
from benchmarks.command import DEBRIS  # noqa: E402
from debris.formats.dataset import load_dataset, save_dataset  # noqa: E402
from debris.infer.detector import Detector  # noqa: E402
from debris.labels import Dataset  # noqa: E402
from debris.models import DEFAULT_WEIGHTS  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
POOL, TEST, CHOSEN = 500, 200, 100
REVIEW_CONF = 0.25


def debris(*args: str) -> float:
    """Run `debris ARGS` (its output shown), raise if it fails; return its wall-clock seconds."""
    print("$ debris " + " ".join(args), flush=True)
    start = time.perf_counter()
    subprocess.run(DEBRIS + list(args), check=True, env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"})
    return time.perf_counter() - start


def subset(pool: Path, names: list[str], out: Path) -> Path:
    """A COCO data set in `out` of the pool frames named `names` (one train split), written once."""
    if not (out / "train.json").exists():
        dataset = load_dataset(pool)
        by_name = {im.file_name: im for images in dataset.splits.values() for im in images}
        save_dataset(Dataset(dataset.root, dataset.classes, {"train": [by_name[n] for n in names]}), out, "coco")
    return out


def review_choice(pool: Path, model: Path, work: Path) -> list[str]:
    """The pool frames `debris review` puts first after labelling the pool with `model`."""
    run = work / "pool_labels"
    if not (run / "review.csv").exists():
        debris("label", str(pool / "images" / "train"), "--model", str(model), "--out", str(run), "--resume",
               f"conf={REVIEW_CONF}", "formats=[coco]")
        debris("review", str(run), "--top", str(CHOSEN), "--out", str(run / "review.labelstudio.json"))
    with open(run / "review.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    print(f"review: {sum(float(r['score']) > 0 for r in rows)} of {len(rows)} pool frames hold uncertain boxes", flush=True)
    return ["images/train/" + r["file_name"] for r in rows[:CHOSEN]]


def train_run(name: str, data: Path, work: Path, args: list[str]) -> tuple[Path, float]:
    """`debris train DATA ARGS --out work/runs/name` unless that run finished; (last.pt, minutes)."""
    out = work / "runs" / name
    seconds_file = out / "wall_seconds.txt"
    if not seconds_file.exists():
        seconds = debris("train", str(data), "--out", str(out), *args)
        seconds_file.write_text(f"{seconds:.1f}\n")
    return out / "last.pt", float(seconds_file.read_text()) / 60


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_WEIGHTS)
    parser.add_argument("--minutes", type=float, default=15, help="wall-clock budget of each training run")
    parser.add_argument("--work", type=Path, default=REPO / "datasets" / "bench" / "finetune", help="frames, runs; reused")
    parser.add_argument("--report", type=Path, default=report.BENCHMARKS_MD)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    work = args.work
    split = "synth.splits={%s: 1.0}"
    pool = sets.rendered(work / "pool", POOL, 1300, [split % "train"], config=transfer.HELDOUT_CONFIG)
    test = sets.rendered(work / "test", TEST, 1200, [split % "test"], config=transfer.HELDOUT_CONFIG)
    indomain = transfer.test_sets(sets.ROOT, 300)["in-domain"]

    names = sorted(im.file_name for images in load_dataset(pool).splits.values() for im in images)
    random100 = subset(pool, list(np.random.default_rng(0).choice(names, CHOSEN, replace=False)), work / "random100")
    review100 = subset(pool, review_choice(pool, args.model, work), work / "review100")

    # the synth section of synth_train.yaml over the fine-tuning recipe: synth_mix draws the engine's known looks
    recipe = yaml.safe_load((REPO / "configs" / "finetune.yaml").read_text())
    recipe["synth"] = yaml.safe_load(transfer.TRAIN_CONFIG.read_text())["synth"]
    config = work / "finetune_bench.yaml"
    config.write_text(yaml.safe_dump(recipe, sort_keys=False))
    limit = f"train.time_limit_min={args.minutes - 1:g}"
    tune = ["--weights", str(args.model), "--config", str(config), limit]
    runs = {
        "finetune": train_run("finetune", random100, work, tune),
        "finetune + synth_mix 0.25": train_run("finetune_mix", random100, work, tune + ["train.synth_mix=0.25"]),
        "scratch": train_run("scratch", random100, work, [limit, "train.epochs=1000", "train.patience=1000"]),
        "finetune on review100": train_run("finetune_review", review100, work, tune),
    }

    rows = []
    for name, (checkpoint, minutes) in [("shipped (before)", (args.model, 0.0)), *runs.items()]:
        detector = Detector.load(checkpoint, conf=0.001)
        style, known = transfer.score(detector, test)["eval"].stats, transfer.score(detector, indomain)["eval"].stats
        rows.append((name, minutes, style, known))
        print(f"{name}: test mAP50 {style['mAP50']:.3f}, in-domain mAP50 {known['mAP50']:.3f}", flush=True)

    model_arg = "" if args.model == DEFAULT_WEIGHTS else f" --model {args.model}"
    lines = [
        f"`python benchmarks/finetune.py --minutes {args.minutes:g}{model_arg}` on {datetime.date.today()}, "
        f"{(time.perf_counter() - start) / 60:.0f} min; {report.machine()}.",
        "",
        f"Unseen look: configs/synth_heldout.yaml. Training frames: {CHOSEN} of a {POOL}-frame pool (seed 1300), "
        f"at random (random100) or the top of `debris review` (review100, pool labelled at conf {REVIEW_CONF}); "
        f"test: {TEST} frames of the same look (seed 1200); in-domain: benchmarks/transfer.py's 300-frame test split.",
        "",
        "| model | trained on | train wall min | test mAP50-95 | test mAP50 | in-domain mAP50-95 | in-domain mAP50 |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, minutes, style, known in rows:
        data = "—" if name.startswith("shipped") else ("review100" if "review" in name else "random100")
        lines.append(f"| {name} | {data} | {minutes:.1f} | {style['mAP50-95']:.3f} | {style['mAP50']:.3f} "
                     f"| {known['mAP50-95']:.3f} | {known['mAP50']:.3f} |")
    body = "\n".join(lines)
    report.update_section("Fine-tuning on a new look (benchmarks/finetune.py)", body, args.report)
    print(body)


if __name__ == "__main__":
    main()
