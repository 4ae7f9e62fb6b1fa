"""Convergence study of the divide-and-conquer generator (issue 15): learning curves on the validation fold.

The fixed validation fold of the training images (``reconbench.datasets.splits``: 10 %
of them) is held out entirely. The method is fitted on the remaining training images
(with an inner validation fold chosen by the same rule), its generator trained for
``--steps`` steps; every ``--every`` steps the generator at that point reconstructs
the held-out validation images from their averaged responses (decoded shape maps and
semantic vectors) and the reconstructions are scored with the pinned metrics
(pairwise identification, PixCorr, LPIPS) at the evaluation resolution. No test image
or test response is read.

One training run per (generator inputs, seed): the curve is a single schedule of
``--steps`` steps, whose learning rate decays linearly over its second half, so the
point at step k is not a run trained for k steps (that run would have decayed to 0 at
k). ``--also-full-schedule K`` adds, for each curve, a run trained with a full schedule
of K steps, scored at its end: compare it to the curve at K.

Writes ``<out>/convergence.json`` (every point) and ``<out>/convergence.html`` (one
SVG plot per metric, one line per generator-input setting, and the table). Usage::

    python scripts/dac_convergence.py --data ~/reconbench_data/simulated-default \\
        --out results/default/convergence --inputs true,mixed --steps 3200 --every 200

Runs in parallel processes, one per (inputs, seed), each on the generator's preset
thread count (1 at ``default``): ``--parallel 2`` on 2 cores.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import html
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

METRICS = ("pairwise_identification", "pixcorr", "lpips")


def _validation_problem(data: str, subject: str):
    from reconbench.core.types import TestInput
    from reconbench.datasets.splits import load_split, validation_ids
    from reconbench.decoders.linear import subset_train

    split = load_split(data, subject, test_sets=["natural"], extra_images=False)
    train = split.train
    held = np.asarray(train.validation_mask, dtype=bool)
    fit = subset_train(train, ~held)
    inner = set(validation_ids([str(s) for s in fit.stimulus_ids]))
    fit = dataclasses.replace(fit, validation_mask=np.array([str(s) in inner for s in fit.stimulus_ids], dtype=bool))
    rois = list(train.fmri)
    val_input = TestInput("validation", {roi: train.averaged_fmri(roi)[held] for roi in rois}, train.stimulus_ids[held])
    return fit, val_input, np.asarray(train.images[held], dtype=np.float32)


def _one_run(data: str, subject: str, inputs: str, seed: int, steps: int, every: int, dataset: str) -> dict:
    os.environ["RECONBENCH_STAGE_CACHE"] = "off"  # every stage recomputed; nothing stored
    from reconbench.bench.evaluator import default_metrics, evaluation_size, score
    from reconbench.core.images import resize
    from reconbench.methods import _generator
    from reconbench.methods.divide_and_conquer import DivideAndConquer

    fit, val_input, val_images = _validation_problem(data, subject)
    size = evaluation_size(dataset, int(val_images.shape[-1]))
    truth = resize(val_images, size)
    metrics = default_metrics(list(METRICS))
    points: list[dict] = []
    started = time.perf_counter()

    class Study(DivideAndConquer):
        def _training_hooks(self):
            return {"checkpoint": self._checkpoint, "checkpoint_every": every}

        def _checkpoint(self, step, net):
            # The decoders are fixed while the generator trains: decode the validation responses once.
            if not hasattr(self, "validation_inputs_"):
                config = _generator.generator_config(self.size_, self.generator_style, iterations=steps)
                shape_pred, semantic_pred = self._decode(val_input)
                self.validation_inputs_ = (_generator.prepare_shape_inputs(shape_pred, config.resolution), semantic_pred, config.threads)
            shape_in, semantic_pred, threads = self.validation_inputs_
            generated = _generator.generate(net, shape_in, semantic_pred, threads=threads)
            recon = resize(resize(generated, self.output_size_), size)
            values = score(recon, truth, metrics)
            point = {"step": step, "seconds": time.perf_counter() - started, **{k: float(np.mean(v)) for k, v in values.items()}}
            points.append(point)
            print(f"[{inputs} seed {seed}] step {step}: " + ", ".join(f"{k} {point[k]:.3f}" for k in METRICS), flush=True)

    method = Study(generator_inputs=inputs, iterations=steps, random_state=seed)
    method.fit(fit)
    return {
        "inputs": inputs,
        "seed": seed,
        "steps": steps,
        "every": every,
        "n_fit_images": int(fit.images.shape[0]),
        "n_validation": int(val_images.shape[0]),
        "points": points,
    }


COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf", "#7f7f7f")


def _svg(runs: list[dict], metric: str, width: int = 560, height: int = 280) -> str:
    """One metric against log2(steps): a line per run, stars for full-schedule runs."""
    import math

    left, right, top, bottom = 46, 140, 22, 40
    pw, ph = width - left - right, height - top - bottom
    points = [(p["step"], p[metric]) for r in runs for p in r["points"] + r.get("full_schedule", [])]
    x0, x1 = math.log2(min(s for s, _ in points)), math.log2(max(s for s, _ in points))
    y0, y1 = min(v for _, v in points), max(v for _, v in points)
    pad = 0.06 * (y1 - y0 or 1.0)
    y0, y1 = y0 - pad, y1 + pad

    def sx(step):
        return left + (math.log2(step) - x0) / ((x1 - x0) or 1.0) * pw

    def sy(v):
        return top + (y1 - v) / (y1 - y0) * ph

    title = metric + (" (lower is better)" if metric == "lpips" else " (higher is better)")
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="11">']
    parts.append(f'<text x="{left}" y="14" font-weight="bold">{html.escape(title)}</text>')
    parts.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="#fafbfc" stroke="#ddd"/>')
    for frac in (0.0, 0.5, 1.0):
        v = y0 + pad + frac * (y1 - y0 - 2 * pad)
        parts.append(f'<text x="{left - 4}" y="{sy(v) + 4:.1f}" text-anchor="end" fill="#555">{v:.3f}</text>')
    first = min(s for s, _ in points)
    for step in sorted({s for s, _ in points}):
        if math.log2(step / first) % 1 == 0:  # the first step and its doublings
            parts.append(f'<text x="{sx(step):.1f}" y="{top + ph + 14}" text-anchor="middle" fill="#555">{step}</text>')
    parts.append(f'<text x="{left + pw / 2:.1f}" y="{top + ph + 30}" text-anchor="middle" fill="#333">generator steps (log scale)</text>')
    for i, run in enumerate(runs):
        colour = COLOURS[i % len(COLOURS)]
        line = " ".join(f"{sx(p['step']):.1f},{sy(p[metric]):.1f}" for p in run["points"])
        parts.append(f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="1.8"/>')
        for p in run["points"]:
            parts.append(
                f'<circle cx="{sx(p["step"]):.1f}" cy="{sy(p[metric]):.1f}" r="2.5" fill="{colour}"><title>{p["step"]}: {p[metric]:.3f}</title></circle>'
            )
        for p in run.get("full_schedule", []):
            parts.append(
                f'<text x="{sx(p["step"]):.1f}" y="{sy(p[metric]) + 5:.1f}" text-anchor="middle" font-size="16" fill="{colour}">★<title>full schedule of {p["step"]}: {p[metric]:.3f}</title></text>'
            )
        parts.append(f'<text x="{left + pw + 8}" y="{top + 14 + 13 * i}" fill="{colour}">inputs={html.escape(run["inputs"])}, seed {run["seed"]}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _write_html(runs: list[dict], meta: dict, path: Path) -> None:
    rows = []
    for run in runs:
        for p in run["points"]:
            rows.append((run["inputs"], run["seed"], "curve", p))
        for p in run.get("full_schedule", []):
            rows.append((run["inputs"], run["seed"], "full schedule", p))
    body = "".join(
        f"<tr><td>{html.escape(i)}</td><td>{s}</td><td>{k}</td><td>{p['step']}</td>" + "".join(f"<td>{p[m]:.3f}</td>" for m in METRICS) + "</tr>"
        for i, s, k, p in rows
    )
    text = (
        "<!doctype html><meta charset='utf-8'><title>divide_and_conquer convergence</title>"
        "<style>body{font-family:sans-serif;max-width:70em;margin:2em auto}td,th{padding:2px 8px;text-align:right}</style>"
        "<h1>divide_and_conquer: generator convergence</h1>"
        f"<p>{html.escape(meta['description'])}</p><p>Command: <code>{html.escape(meta['command'])}</code></p>"
        + "".join(_svg(runs, m) for m in METRICS)
        + "<table><tr><th>inputs</th><th>seed</th><th>kind</th><th>step</th>"
        + "".join(f"<th>{m}</th>" for m in METRICS)
        + f"</tr>{body}</table>"
    )
    path.write_text(text)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="simulated (or ds001506) data folder")
    parser.add_argument("--dataset", default="simulated:default", help="dataset name for the evaluation resolution")
    parser.add_argument("--subject", default="sub-01")
    parser.add_argument("--inputs", default="true,mixed")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--steps", type=int, default=3200)
    parser.add_argument("--every", type=int, default=200)
    parser.add_argument("--also-full-schedule", default="", help="comma-separated step counts trained with a full schedule of their own")
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--out", required=True)
    parser.add_argument("--replot", action="store_true", help="only rewrite convergence.html from <out>/convergence.json")
    args = parser.parse_args(argv)
    out = Path(args.out)
    if args.replot:
        stored = json.loads((out / "convergence.json").read_text())
        _write_html(stored["runs"], stored, out / "convergence.html")
        print(f"wrote {out}/convergence.html")
        return 0
    if args.data is None:
        parser.error("--data is required (unless --replot)")
    out.mkdir(parents=True, exist_ok=True)
    jobs = []
    for inputs in args.inputs.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            jobs.append((inputs, seed, args.steps, args.every))
            for k in (int(v) for v in args.also_full_schedule.split(",") if v):
                jobs.append((inputs, seed, k, k))
    with concurrent.futures.ProcessPoolExecutor(max_workers=args.parallel) as pool:
        futures = [pool.submit(_one_run, args.data, args.subject, i, s, n, e, args.dataset) for i, s, n, e in jobs]
        results = [f.result() for f in futures]
    runs = [r for r in results if r["steps"] == args.steps and r["every"] == args.every]
    for run in runs:
        run["full_schedule"] = [r["points"][-1] for r in results if r not in runs and r["inputs"] == run["inputs"] and r["seed"] == run["seed"]]
    meta = {
        "description": (
            f"{args.dataset} {args.subject}: fitted on the training images outside the fixed validation fold "
            f"({runs[0]['n_fit_images']} images), scored on the {runs[0]['n_validation']} validation-fold images "
            f"(training categories; the test categories are never read). One schedule of {args.steps} steps per curve "
            "(linear learning-rate decay over its second half), scored every "
            f"{args.every} steps." + (" Stars: a run with a full schedule of that many steps." if args.also_full_schedule else "")
        ),
        "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
    }
    tmp = out / "convergence.json.tmp"
    tmp.write_text(json.dumps({**meta, "runs": runs}, indent=1))
    tmp.replace(out / "convergence.json")
    _write_html(runs, meta, out / "convergence.html")
    print(f"wrote {out}/convergence.json and convergence.html")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
