"""CNN vs STN-CNN on distorted digits, over several seeds: the figures of notebook 02.

For each seed and mode it trains, with exactly the code and recipe the notebook uses,

* the plain CNN and the STN-CNN (same parameter budget) on RTS digits, and reports their
  test accuracy, the ratio of their test errors and the training time;
* the rotation experiment on R digits (a reader trained on upright digits, frozen, with an
  STN of rotation + scale + translation in front of it trained with the class labels only),
  and reports the correlation between the rotation in the STN's θ and the rotation that was
  applied to each test digit.

Usage (from the project root)::

    .venv/bin/python benchmarks/stn_accuracy.py                      # full and fast, seeds 0 1 2
    .venv/bin/python benchmarks/stn_accuracy.py --modes fast --seeds 0
    .venv/bin/python benchmarks/stn_accuracy.py --modes full --seeds 0 --save-checkpoints

``--save-checkpoints`` writes the full-mode models of the first seed to
``data/checkpoints/`` (float16 state_dicts, loaded by the notebook's checkpoint-or-train).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

from course_utils import config, digits, stn

RECIPES = {"full": stn.RECIPE_FULL, "fast": stn.RECIPE_FAST}
ROTATION_TRANSFORM = "rst"


def run_rts(recipe: stn.Recipe, seed: int, save: bool) -> dict:
    """CNN vs STN-CNN on RTS digits: accuracies, parameter counts and training times."""
    train = digits.make_digits(recipe.n_train, "RTS", seed=seed)
    test = digits.make_digits(recipe.n_test, "RTS", seed=seed, split="test")
    models = stn.build_models(recipe, seed=seed)
    row: dict = {}
    for name, model in models.items():
        start = time.perf_counter()
        stn.train_classifier(model, train.images, train.labels, recipe, seed=seed, progress=False)
        row[f"time {name}"] = time.perf_counter() - start
        row[f"acc {name}"] = stn.accuracy(model, test.images, test.labels)
        row[f"params {name}"] = stn.count_parameters(model)
    if save:
        stn.save_checkpoint(models["CNN"], "stn02_rts_cnn")
        stn.save_checkpoint(models["STN-CNN"], "stn02_rts_stn")
    return row


def run_rotation(recipe: stn.Recipe, seed: int, save: bool) -> dict:
    """The rotation experiment on R digits: accuracy, correlation r and training time."""
    train_r = digits.make_digits(recipe.n_train, "R", seed=seed)
    test_r = digits.make_digits(recipe.n_test, "R", seed=seed, split="test")
    model = stn.build_models(recipe, transform=ROTATION_TRANSFORM, seed=seed)["STN-CNN"]
    upright = digits.render_glyphs(train_r.labels, train_r.params)
    start = time.perf_counter()
    stn.train_upright_then_stn(model, upright, train_r.images, train_r.labels, recipe,
                               seed=seed, progress=False)
    row = {"time R": time.perf_counter() - start,
           "acc R": stn.accuracy(model, test_r.images, test_r.labels)}
    _, thetas = stn.transform_batch(model.stn, test_r.images)
    predicted = stn.rotation_degrees(thetas)
    row["r"] = torch.corrcoef(torch.stack([predicted, test_r.params["angle"]]))[0, 1].item()
    if save:
        stn.save_checkpoint(model, "stn02_r_stn")
    return row


def report(mode: str, rows: list[dict]) -> None:
    """Print the means over seeds as a Markdown table and one line per figure."""

    def mean(key: str) -> float:
        return statistics.mean(row[key] for row in rows)

    if "acc CNN" in rows[0]:
        err_cnn, err_stn = 1 - mean("acc CNN"), 1 - mean("acc STN-CNN")
        print(f"\n| {mode} mode, mean of {len(rows)} seeds | CNN | STN-CNN |")
        print("|---|---|---|")
        print(f"| parameters | {rows[0]['params CNN']:,} | {rows[0]['params STN-CNN']:,} |")
        print(f"| test accuracy | {mean('acc CNN'):.2%} | {mean('acc STN-CNN'):.2%} |")
        print(f"| test error | {err_cnn:.2%} | {err_stn:.2%} |")
        print(f"| training time (s) | {mean('time CNN'):.1f} | {mean('time STN-CNN'):.1f} |")
        print(f"STN error / CNN error (mean errors): {err_stn / err_cnn:.2f} (target <= 0.67)")
        print(f"RTS training time, both models: {mean('time CNN') + mean('time STN-CNN'):.1f} s")
    if "r" in rows[0]:
        per_seed = ", ".join(f"{row['r']:+.3f}" for row in rows)
        print(f"R variant: rotation correlation r = {mean('r'):+.3f} (per seed {per_seed}; "
              f"target |r| >= 0.9), accuracy {mean('acc R'):.2%}, time {mean('time R'):.1f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", nargs="+", choices=list(RECIPES), default=["full", "fast"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--no-rotation", action="store_true", help="skip the R-variant model")
    parser.add_argument("--no-rts", action="store_true", help="skip CNN vs STN-CNN on RTS")
    parser.add_argument("--save-checkpoints", action="store_true",
                        help="save the first seed's full-mode models to data/checkpoints/")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(config.describe())
    for mode in args.modes:
        recipe = RECIPES[mode]
        print(f"\n## {mode} mode: {recipe}")
        rows = []
        for i, seed in enumerate(args.seeds):
            save = args.save_checkpoints and mode == "full" and i == 0
            row = {"seed": seed}
            if not args.no_rts:
                row.update(run_rts(recipe, seed, save))
            if not args.no_rotation:
                row.update(run_rotation(recipe, seed, save))
            rows.append(row)
            line = f"seed {seed}:"
            if "acc CNN" in row:
                ratio = (1 - row["acc STN-CNN"]) / max(1 - row["acc CNN"], 1e-9)
                line += (f" CNN {row['acc CNN']:.2%} ({row['params CNN']:,} params, "
                         f"{row['time CNN']:.1f} s) | STN-CNN {row['acc STN-CNN']:.2%} "
                         f"({row['params STN-CNN']:,} params, {row['time STN-CNN']:.1f} s) | "
                         f"error ratio {ratio:.2f}")
            if "r" in row:
                line += f" | R: acc {row['acc R']:.2%}, r = {row['r']:+.3f} ({row['time R']:.1f} s)"
            print(line, flush=True)
        report(mode, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
