"""CNN vs STN-CNN on distorted digits, over several seeds: the figures of notebooks 02 and 02b.

With the notebooks' code and recipes it trains the CNN and the STN-CNN (same parameter
budget) on RTS digits, and the rotation experiment on R digits, and prints accuracies, the
error ratio, training times and the correlation r between the STN's rotation and the one
applied, with where r loses (circular r, turned back to within 20°, half turns, r forgiving
digits that read the same upside down). ``--ablation`` retrains the rotation model without
each ingredient in ``course_tools.stn_experiment.ABLATIONS``; ``--save-checkpoints`` writes
the first seed's full-mode models to ``data/checkpoints/`` (notebooks 02 and 02b load them).

    .venv/bin/python benchmarks/stn_accuracy.py                      # full and fast, seeds 0 1 2
    .venv/bin/python benchmarks/stn_accuracy.py --modes fast --seeds 0
    .venv/bin/python benchmarks/stn_accuracy.py --modes full --seeds 0 --save-checkpoints
    .venv/bin/python benchmarks/stn_accuracy.py --modes full --seeds 0 --no-rts --ablation
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time

import torch
from _common import load_average

from course_tools import stn_experiment as ex
from course_utils import config, digits, stn

RECIPES = {"full": stn.RECIPE_FULL, "fast": stn.RECIPE_FAST}
ROTATION_RECIPES = {"full": ex.ROTATION_FULL, "fast": ex.ROTATION_FAST}


def run_rts(recipe: stn.Recipe, seed: int, save: bool) -> dict:
    """CNN vs STN-CNN on RTS digits: accuracies, parameter counts and training times."""
    train = digits.make_digits(recipe.n_train, "RTS", seed=seed)
    test = digits.make_digits(recipe.n_test, "RTS", seed=seed, split="test")
    models = stn.build_models(recipe, seed=seed)
    row: dict = {}
    for name, model in models.items():
        start, cpu = time.perf_counter(), time.process_time()
        stn.train_classifier(model, train.images, train.labels, recipe, seed=seed, progress=False)
        row[f"time {name}"] = time.perf_counter() - start
        row[f"cpu {name}"] = time.process_time() - cpu
        row[f"acc {name}"] = stn.accuracy(model, test.images, test.labels)
        row[f"params {name}"] = stn.count_parameters(model)
    if save:
        stn.save_checkpoint(models["CNN"], "stn02_rts_cnn")
        stn.save_checkpoint(models["STN-CNN"], "stn02_rts_stn")
    return row


def run_rotation(recipe: ex.RotationRecipe, seed: int, save: bool) -> dict:
    """The rotation experiment on R digits: accuracy, correlation r and training time."""
    train_r = digits.make_digits(recipe.n_train, "R", seed=seed)
    test_r = digits.make_digits(recipe.n_test, "R", seed=seed, split="test")
    model = ex.build_rotation_model(recipe, seed=seed)
    upright = digits.render_glyphs(train_r.labels, train_r.params)
    start = time.perf_counter()
    losses = ex.train_upright_then_stn(model, upright, train_r.images, train_r.labels, recipe,
                                       seed=seed, progress=False)
    row = {"time R": time.perf_counter() - start, "loss R": losses[-1],
           "acc R": stn.accuracy(model, test_r.images, test_r.labels)}
    _, thetas = stn.transform_batch(model.stn, test_r.images)
    predicted, applied = stn.rotation_degrees(thetas), test_r.params["angle"]
    row["r"] = ex.pearson(predicted, applied)
    # Diagnostics (evaluation only; nothing here feeds back into training).
    error = (predicted + applied + 180) % 360 - 180  # 0 when the STN undoes the rotation
    row["circ r"] = ex.circular_correlation(predicted, applied)
    row["within 20"] = (error.abs() <= 20).float().mean().item()
    half_turn = error.abs() > 135
    row["half turns"] = half_turn.float().mean().item()
    glyphs = digits.render_glyphs(test_r.labels, test_r.params)
    same_upside_down = stn.predict(model.cnn, glyphs.flip(-1, -2)) == test_r.labels
    forgiven = half_turn & same_upside_down
    row["forgiven"] = forgiven.float().mean().item()
    row["r sym"] = ex.pearson(torch.where(forgiven, predicted - 180 * predicted.sign(), predicted),
                              applied)
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
        print(f"| CPU time (s, all threads) | {mean('cpu CNN'):.1f} | {mean('cpu STN-CNN'):.1f} |")
        print(f"STN error / CNN error (mean errors): {err_stn / err_cnn:.2f} (target <= 0.67)")
        print(f"RTS training time, both models: {mean('time CNN') + mean('time STN-CNN'):.1f} s "
              f"(CPU time {mean('cpu CNN') + mean('cpu STN-CNN'):.1f} s; on a shared machine the "
              f"wall time grows with the load average, the CPU time much less)")
    if "r" in rows[0]:
        per_seed = ", ".join(f"{row['r']:+.3f}" for row in rows)
        print(f"R variant: rotation correlation r = {mean('r'):+.3f} (per seed {per_seed}; "
              f"target |r| >= 0.9), accuracy {mean('acc R'):.2%}, time {mean('time R'):.1f} s")
        print(f"  circular r = {mean('circ r'):+.3f}; turned back to within 20 deg: "
              f"{mean('within 20'):.1%}; half turns (error > 135 deg): {mean('half turns'):.1%}, "
              f"of which on digits that read the same upside down: {mean('forgiven'):.1%}; "
              f"r with those forgiven = {mean('r sym'):+.3f}")


def print_r_row(name: str, values: list[float]) -> None:
    print(f"| {name} | {', '.join(f'{v:+.3f}' for v in values)} | {statistics.mean(values):+.3f} |", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", nargs="+", choices=list(RECIPES), default=["full", "fast"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--no-rotation", action="store_true", help="skip the R-variant model")
    parser.add_argument("--no-rts", action="store_true", help="skip CNN vs STN-CNN on RTS")
    parser.add_argument("--ablation", action="store_true",
                        help="also train the rotation model without each of its ingredients")
    parser.add_argument("--save-checkpoints", action="store_true",
                        help="save the first seed's full-mode models to data/checkpoints/")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(config.describe())
    print(f"threads: {torch.get_num_threads()}; load average at start: {load_average()}")
    for mode in args.modes:
        recipe, rotation = RECIPES[mode], ROTATION_RECIPES[mode]
        print(f"\n## {mode} mode: {recipe}\n## rotation experiment: {rotation}")
        rows = []
        for i, seed in enumerate(args.seeds):
            save = args.save_checkpoints and mode == "full" and i == 0
            row = {"seed": seed}
            if not args.no_rts:
                row.update(run_rts(recipe, seed, save))
            if not args.no_rotation:
                row.update(run_rotation(rotation, seed, save))
            rows.append(row)
            line = f"seed {seed}:"
            if "acc CNN" in row:
                ratio = (1 - row["acc STN-CNN"]) / max(1 - row["acc CNN"], 1e-9)
                line += (f" CNN {row['acc CNN']:.2%} ({row['params CNN']:,} params, "
                         f"{row['time CNN']:.1f} s) | STN-CNN {row['acc STN-CNN']:.2%} "
                         f"({row['params STN-CNN']:,} params, {row['time STN-CNN']:.1f} s) | "
                         f"error ratio {ratio:.2f}")
            if "r" in row:
                line += (f" | R: acc {row['acc R']:.2%}, r = {row['r']:+.3f} (circular "
                         f"{row['circ r']:+.3f}, half turns {row['half turns']:.1%}, "
                         f"r forgiving symmetric ones {row['r sym']:+.3f}; {row['time R']:.1f} s)")
            print(line, flush=True)
        report(mode, rows)
        if args.ablation:
            print(f"\n| {mode} mode, rotation experiment | r per seed | mean r |\n|---|---|---|")
            print_r_row("all ingredients", [row["r"] for row in rows])
            for name, change in ex.ABLATIONS.items():
                print_r_row(name, [run_rotation(dataclasses.replace(rotation, **change), seed, False)["r"]
                                   for seed in args.seeds])
        print(f"load average after {mode} mode: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
