#!/usr/bin/env python3
"""Does 3D-DDnet beat 2D-DDnet on a real CT scan? The seeded, resumable comparison behind
docs/results.md (issue 19). Run it through scripts/experiment.sh (which builds `ddnet` first).

    scripts/experiment.py --ddnet build/release/tools/ddnet [--plan default|smoke] [--seeds 0,1,2]
                          [--out runs/experiment] [--device cpu|cuda] [--report-only]

Every step leaves its result in --out and is skipped when it is there (a run that stopped
resumes: `ddnet train --resume` continues an interrupted arm). The report (docs/results.md
between its GENERATED markers, and docs/results/*.png) is rebuilt from what --out holds.

Data: the bundled head CT (Debian's invesalius-examples, Cranium.inv3: 108 x 256 x 256) cut
into train (52 slices) / test (32) / val (24) slabs; the training set has a quarter dose
simulated on a parallel-beam geometry. The test slab is scored at that dose and at doses and a
geometry the networks never saw (0.10, 0.50, fan beam at 0.25): same slices, new noise.

Arms (each in the published form and in the residual form, same rules for all):
  2D          2D-DDnet on whole slices
  3D-SDL      3D-DDnet from scratch, strided loader (16 slices spread over the slab)
  3D-GDL      3D-DDnet from scratch, grouped random loader (16 consecutive slices)
  3D-TL-GDL   3D-DDnet from the 2D arm's weights of the same seed and form (centre fill), GDL
All: Adam with ExponentialLR 0.8 per epoch (the published schedule), batch 1, MSE + 0.1
(1 - MS-SSIM), HU window [-1024, 2048] -> [0, 1]; 3D samples are 16 x 64 x 64 crops, 60 per
epoch (about the voxels of one 2D epoch of 52 whole slices). Budgets per plan below.
BatchNorm: every 3D arm recalibrates its running statistics over 4 whole (16 x 256 x 256)
training slabs before each validation and checkpoint (`ddnet train --bn-recalibrate 4`), and
validates on a whole slab of the validation split: trained at batch 1 on crops, its running
statistics are an average over crops (air, bone, brain) that suits no whole slab; the first run,
without it, scored every 3D arm far below its own input on the whole test slab. 2D trains and
validates on whole slices and needs none.
The learning rate follows one rule for every arm, on the validation slab only: a pilot epoch
(seed 1000; 3D: 20 crops) at each of 1e-3 (published), 1e-4 and 1e-5, and the rate with the
lowest validation loss is used for all seeds of that arm. (A first look showed why a rule is
needed: Adam's first steps move every weight by about the learning rate, which at the
published 1e-3 wrecks a transferred network that starts close to its donor.)
"""
import argparse
import json
import math
import os
import pathlib
import shutil
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCAN = "/usr/share/doc/invesalius-examples/examples/Cranium.inv3"

PLANS = {
    # About 2 hours on 2 CPU cores with 3 seeds (seed 0 with the 24 pilots: 0.8 h; each further
    # seed about half an hour, then the evaluations).
    "default": {"epochs_2d": 8, "epochs_3d": 4, "samples_per_scan": 60, "size_3d": 64,
                "pilot_samples": 20, "bn_recalibrate_3d": 4},
    # A few minutes: checks that every stage runs (tests, and a first look).
    "smoke": {"epochs_2d": 1, "epochs_3d": 1, "samples_per_scan": 4, "size_3d": 32,
              "pilot_samples": 2, "bn_recalibrate_3d": 1},
}
DATASETS = {  # name: (dose, geometry); "d025" is the training set
    "d025": (0.25, "parallel"),
    "d010": (0.10, "parallel"),
    "d050": (0.50, "parallel"),
    "d025fan": (0.25, "fan"),
}
DATASET_LABEL = {"d025": "dose 0.25 (trained)", "d010": "dose 0.10", "d050": "dose 0.50",
                 "d025fan": "dose 0.25, fan beam"}
ARMS = ["2D", "3D-SDL", "3D-GDL", "3D-TL-GDL"]
LR_CANDIDATES = [1e-3, 1e-4, 1e-5]
PILOT_SEED = 1000
FORMS = ["published", "residual"]
METRICS = [("mse", "MSE", "{:.5f}"), ("psnr_db", "PSNR dB", "{:.2f}"), ("ssim", "SSIM", "{:.4f}"),
           ("msssim", "MS-SSIM", "{:.4f}"), ("rmse_hu", "RMSE HU", "{:.1f}")]


def log(msg):
    print(f"[experiment {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def run(cmd, logfile=None):
    log(" ".join(str(c) for c in cmd))
    if logfile:
        pathlib.Path(logfile).parent.mkdir(parents=True, exist_ok=True)
        with open(logfile, "a") as f:
            subprocess.run([str(c) for c in cmd], check=True, stdout=f, stderr=subprocess.STDOUT)
    else:
        subprocess.run([str(c) for c in cmd], check=True)


def run_name(arm, form, seed):
    return f"{arm}-{form}-s{seed}"


def prepare(args, out):
    for name, (dose, geometry) in DATASETS.items():
        path = out / "data" / f"{name}.h5"
        if path.exists():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        run([args.ddnet, "prepare", "--out", path, "--dose", dose, "--geometry", geometry,
             "--seed", 0, "--slabs", "train:52,test:32,val:rest", SCAN],
            out / "data" / "prepare.log")


def train_command(args, out, plan, arm, form, seed, folder, lr, epochs, samples, donor_seed):
    cmd = [args.ddnet, "train", "--dataset", out / "data" / "d025.h5", "--device", args.device,
           "--out", folder, "--seed", seed, "--residual", "true" if form == "residual" else "false",
           "--lr", lr, "--decay", 0.8, "--batch", 1, "--loss-gamma", 0.1,
           "--normalise", "window", "--checkpoint-every", 1, "--progress", "false",
           "--epochs", epochs]
    if arm == "2D":
        cmd += ["--model", "2d", "--loader", "2d", "--size", 0]
    else:
        cmd += ["--model", "3d", "--slices", 16, "--size", plan["size_3d"],
                "--samples-per-scan", samples,
                "--loader", "strided" if arm == "3D-SDL" else "random"]
        if arm == "3D-TL-GDL":
            donor = out / "train" / run_name("2D", form, donor_seed) / "final.h5"
            cmd += ["--donor", donor, "--fill", "centre"]
        if plan["bn_recalibrate_3d"]:
            cmd += ["--bn-recalibrate", plan["bn_recalibrate_3d"]]
    return cmd


def choose_lr(args, out, plan, arm, form, donor_seed):
    """The arm's learning rate by the rule (module docstring): pilots on the validation slab."""
    choice_file = out / "pilot" / "choice.json"
    choices = json.loads(choice_file.read_text()) if choice_file.exists() else {}
    key = f"{arm}-{form}"
    if key in choices:
        return choices[key]["lr"]
    losses = {}
    for lr in LR_CANDIDATES:
        folder = out / "pilot" / f"{key}-lr{lr:g}"
        if not (folder / "done").exists():
            if folder.exists():
                shutil.rmtree(folder)
            run(train_command(args, out, plan, arm, form, PILOT_SEED, folder, lr, 1,
                              plan["pilot_samples"], donor_seed),
                out / "pilot" / f"{key}-lr{lr:g}.log")
            (folder / "done").write_text("")
        losses[f"{lr:g}"] = epoch_records(folder)[-1]["val_loss"]
    best = min(LR_CANDIDATES, key=lambda lr: losses[f"{lr:g}"])
    choices[key] = {"lr": best, "val_loss": losses}
    choice_file.write_text(json.dumps(choices, indent=2))
    log(f"learning rate for {key}: {best:g} (pilot validation losses {losses})")
    return best


def train(args, out, plan, arm, form, seed, donor_seed):
    """Trains one arm and seed unless its final weights are there; returns its folder."""
    folder = out / "train" / run_name(arm, form, seed)
    if (folder / "final.h5").exists() and (folder / "done").exists():
        return folder
    lr = choose_lr(args, out, plan, arm, form, donor_seed)
    epochs = plan["epochs_2d"] if arm == "2D" else plan["epochs_3d"]
    cmd = train_command(args, out, plan, arm, form, seed, folder, lr, epochs,
                        plan["samples_per_scan"], seed)
    if (folder / "latest.h5").exists():
        cmd += ["--resume"]
    elif folder.exists():
        shutil.rmtree(folder)
    run(cmd, out / "train" / f"{run_name(arm, form, seed)}.log")
    (folder / "done").write_text(time.strftime("%Y-%m-%d %H:%M:%S\n"))
    return folder


def evaluate(args, out, name, checkpoints, labels, figures=0):
    """`ddnet eval` of the checkpoints on a dataset's test slab; returns report.json."""
    folder = out / "eval" / name
    report = folder / "report.json"
    if report.exists():
        return json.loads(report.read_text())
    dataset = name.split(".")[0]
    cmd = [args.ddnet, "eval", "--dataset", out / "data" / f"{dataset}.h5", "--split", "test",
           "--device", args.device, "--out", folder, "--figures", figures]
    for c, lab in zip(checkpoints, labels):
        cmd += ["--checkpoint", c, "--label", lab]
    if folder.exists():
        shutil.rmtree(folder)
    t0 = time.time()
    run(cmd, out / "eval" / f"{name}.log")
    (folder / "seconds.txt").write_text(f"{time.time() - t0:.1f}\n")
    return json.loads(report.read_text())


def epoch_records(folder):
    recs = []
    for line in (folder / "train.jsonl").read_text().splitlines():
        r = json.loads(line)
        if r.get("type") == "epoch":
            recs.append(r)
    return recs


def train_seconds(folder):
    """Wall seconds of the steps and validations, and the process CPU seconds, of a run."""
    wall, cpu = 0.0, 0.0
    for line in (folder / "train.jsonl").read_text().splitlines():
        r = json.loads(line)
        if r.get("type") == "step":
            wall += r["seconds"]
        elif r.get("type") == "epoch":
            wall += r.get("val_seconds", 0.0)
            cpu = max(cpu, r.get("process_cpu_seconds", 0.0))
    return wall, cpu


# ---------------------------------------------------------------- statistics (NumPy/SciPy)

def mean_std(values):
    import numpy as np
    v = np.asarray(values, dtype=float)
    return float(v.mean()), (float(v.std(ddof=1)) if len(v) > 1 else 0.0)


def paired(a, b):
    """Paired comparison of per-slice values a - b: mean difference, t-test and Wilcoxon p."""
    import numpy as np
    from scipy import stats
    a, b = np.asarray(a, float), np.asarray(b, float)
    d = a - b
    t = stats.ttest_rel(a, b)
    w = stats.wilcoxon(a, b) if np.any(d != 0) else None
    return {"mean_diff": float(d.mean()), "n": int(len(d)), "t_p": float(t.pvalue),
            "wilcoxon_p": float(w.pvalue) if w is not None else 1.0,
            "better_slices": int((d < 0).sum())}


# ---------------------------------------------------------------- report

def slice_metric(report, label, metric):
    """Per-slice values of a model (by label) over every scan of the report, in order."""
    for m in report["models"]:
        if m["label"] == label:
            vals = []
            for scan in report["scans"]:
                vals += [s[metric] for s in m["scans"][scan]["slices"]]
            return vals
    raise KeyError(label)


def overall(report, label):
    for m in report["models"]:
        if m["label"] == label:
            return {k: m["overall"][k]["mean"] for k, _, _ in METRICS}
    raise KeyError(label)


def build_report(args, out, plan, seeds, results):
    import numpy as np
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figdir = ROOT / "docs" / "results"
    figdir.mkdir(parents=True, exist_ok=True)
    lines = []
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    cpu = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    lines += [f"Run: commit {commit}, finished {time.strftime('%Y-%m-%d %H:%M')}, plan "
              f"`{args.plan}` ({plan['epochs_2d']} 2D epochs, {plan['epochs_3d']} 3D epochs of "
              f"{plan['samples_per_scan']} crops of 16 x {plan['size_3d']} x {plan['size_3d']}, "
              f"BatchNorm recalibrated over {plan['bn_recalibrate_3d']} whole training slabs "
              "before each validation), "
              f"seeds {', '.join(map(str, seeds))}, device {args.device}, {os.cpu_count()} cores"
              + (f" ({cpu})" if cpu else "") + ".",
              f"Reproduce: `scripts/experiment.sh --plan {args.plan} --seeds "
              f"{','.join(map(str, seeds))}` (about {results['hours']:.1f} h here).", ""]

    # The Table 4.1 layout, with the seeds' mean +- sample std, at the training dose.
    rep = results["reports"]["d025"]
    base = {k: rep["baseline"]["overall"][k]["mean"] for k, _, _ in METRICS}
    lines += ["### Test slab at the training dose (0.25, parallel beam): Table 4.1's layout", "",
              "| architecture | form | epochs | slices | batch | lr (pilot) | training time (CPU s) | "
              "MSE | PSNR dB | SSIM | MS-SSIM | RMSE HU |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|",
              f"| low dose (input) | | | | | | | {base['mse']:.5f} | {base['psnr_db']:.2f} | "
              f"{base['ssim']:.4f} | {base['msssim']:.4f} | {base['rmse_hu']:.1f} |"]
    summary = {}
    for form in FORMS:
        for arm in ARMS:
            vals = {k: [] for k, _, _ in METRICS}
            cpus = []
            for s in seeds:
                o = overall(rep, run_name(arm, form, s))
                for k in vals:
                    vals[k].append(o[k])
                cpus.append(results["cpu_seconds"][run_name(arm, form, s)])
            summary[(arm, form)] = {k: mean_std(v) for k, v in vals.items()}
            epochs = plan["epochs_2d"] if arm == "2D" else plan["epochs_3d"]
            if arm == "3D-TL-GDL":
                epochs_txt = f"{plan['epochs_2d']} (2D) + {epochs}"
            else:
                epochs_txt = str(epochs)
            cells = []
            for k, _, fmt in METRICS:
                m, sd = summary[(arm, form)][k]
                cells.append(f"{fmt.format(m)} ± {fmt.format(sd)}")
            cpu_m = np.mean(cpus)
            if arm == "3D-TL-GDL":
                cpu_m += np.mean([results["cpu_seconds"][run_name("2D", form, s)] for s in seeds])
            lr = results["lr"][f"{arm}-{form}"]["lr"]
            lines.append(f"| {arm} | {form} | {epochs_txt} | {1 if arm == '2D' else 16} | 1 | "
                         f"{lr:g} | {cpu_m:.0f} | " + " | ".join(cells) + " |")
    lines += ["", "Thesis Table 4.1 (4x A100, 50 epochs, Mayo data, 512 x 512): 2D-DDnet MSE "
              "0.0039, MS-SSIM 0.7888; 3D-DDnet-TL-GDL (16 slices) MSE 0.0010, MS-SSIM 0.9303. "
              "Mean ± sample standard deviation over seeds; each seed's figure is the mean over "
              "the 32 test slices. Training time is process CPU time (user + system, both "
              "cores), which a busy machine does not inflate; the TL arm's includes its 2D "
              "donor's.", ""]

    lines += ["The learning-rate pilots (one epoch, seed 1000; validation loss at each rate; "
              "the lowest is used for every seed):", "",
              "| arm | form | " + " | ".join(f"lr {lr:g}" for lr in LR_CANDIDATES) + " | chosen |",
              "|---|---|" + "---|" * (len(LR_CANDIDATES) + 1)]
    for form in FORMS:
        for arm in ARMS:
            c = results["lr"][f"{arm}-{form}"]
            lines.append(f"| {arm} | {form} | " + " | ".join(
                f"{c['val_loss'][f'{lr:g}']:.5f}" for lr in LR_CANDIDATES) + f" | {c['lr']:g} |")
    lines.append("")

    # Generalisation: every dataset variant, MSE and MS-SSIM.
    lines += ["### Doses and a geometry the networks did not train on (test slab, MSE / MS-SSIM)",
              "", "| arm | form | " + " | ".join(DATASET_LABEL[d] for d in DATASETS) + " |",
              "|---|---|" + "---|" * len(DATASETS)]
    row = "| low dose (input) | | "
    for d in DATASETS:
        b = results["reports"][d]["baseline"]["overall"]
        row += f"{b['mse']['mean']:.5f} / {b['msssim']['mean']:.4f} | "
    lines.append(row)
    for form in FORMS:
        for arm in ARMS:
            row = f"| {arm} | {form} | "
            for d in DATASETS:
                ms = mean_std([overall(results["reports"][d], run_name(arm, form, s))["mse"]
                               for s in seeds])
                mss = mean_std([overall(results["reports"][d], run_name(arm, form, s))["msssim"]
                                for s in seeds])
                row += f"{ms[0]:.5f} / {mss[0]:.4f} | "
            lines.append(row)
    lines.append("")

    # Paired tests across slices (per-slice MSE averaged over seeds) at every dataset.
    lines += ["### Which differences are real: paired tests across the 32 test slices", "",
              "Per-slice MSE of each 3D arm against 2D-DDnet of the same form (both averaged "
              "over seeds): the mean difference (negative: 3D better), how many slices 3D wins, "
              "and the paired t-test's and Wilcoxon signed-rank test's p values. The seed spread "
              "is the sample std of the seeds' mean MSE.", "",
              "| dataset | form | 3D arm | mean ΔMSE | 3D better on | t-test p | Wilcoxon p | "
              "ΔMSE / 2D MSE | larger than seed spread? |",
              "|---|---|---|---|---|---|---|---|---|"]
    verdicts = {}
    for d in DATASETS:
        r = results["reports"][d]
        for form in FORMS:
            two = np.mean([slice_metric(r, run_name("2D", form, s), "mse") for s in seeds], axis=0)
            two_seed = [overall(r, run_name("2D", form, s))["mse"] for s in seeds]
            for arm in ARMS[1:]:
                three = np.mean([slice_metric(r, run_name(arm, form, s), "mse") for s in seeds],
                                axis=0)
                three_seed = [overall(r, run_name(arm, form, s))["mse"] for s in seeds]
                p = paired(three, two)
                rel = p["mean_diff"] / float(np.mean(two))
                spread = max(mean_std(two_seed)[1], mean_std(three_seed)[1])
                beyond = abs(p["mean_diff"]) > spread
                verdicts[(d, form, arm)] = (rel, p, beyond)
                lines.append(f"| {DATASET_LABEL[d]} | {form} | {arm} | {p['mean_diff']:+.6f} | "
                             f"{p['better_slices']}/{p['n']} | {p['t_p']:.2g} | "
                             f"{p['wilcoxon_p']:.2g} | {100 * rel:+.1f} % | "
                             f"{'yes' if beyond else 'no'} |")
    lines.append("")

    # Goals, computed.
    best = min(((arm, form) for arm in ARMS[1:] for form in FORMS),
               key=lambda af: summary[af]["mse"][0])
    best_2d = min(FORMS, key=lambda f: summary[("2D", f)]["mse"][0])
    rel_best = summary[best]["mse"][0] / summary[("2D", best_2d)]["mse"][0] - 1
    spread_best = max(summary[best]["mse"][1], summary[("2D", best_2d)]["mse"][1])
    gap = summary[("2D", best_2d)]["mse"][0] - summary[best]["mse"][0]
    goal1 = rel_best <= -0.10 and gap > spread_best
    lines += ["### The issue's goals, computed from the table", "",
              f"- Best 3D arm: **{best[0]} ({best[1]})**, test MSE "
              f"{summary[best]['mse'][0]:.5f} ± {summary[best]['mse'][1]:.5f}; best 2D: "
              f"{best_2d}, {summary[('2D', best_2d)]['mse'][0]:.5f} ± "
              f"{summary[('2D', best_2d)]['mse'][1]:.5f}: {100 * rel_best:+.1f} % "
              f"(goal: at most -10 %, and the gap larger than the seed spread "
              f"{spread_best:.5f}): **{'met' if goal1 else 'not met'}**."]

    # TL reaches 2D's test quality in at most half of 2D's epochs?
    curves = results["test_curves"]
    tl_lines = []
    for form in FORMS:
        target = summary[("2D", form)]["mse"][0]
        reached = None
        for e in range(1, plan["epochs_3d"] + 1):
            m = np.mean([curves[run_name("3D-TL-GDL", form, s)][e - 1] for s in seeds])
            if m <= target:
                reached = e
                break
        half = plan["epochs_2d"] / 2
        ok = reached is not None and reached <= half
        tl_lines.append(
            f"- 3D-TL-GDL ({form}) reaches 2D-DDnet's final test MSE ({target:.5f}, after "
            f"{plan['epochs_2d']} epochs) "
            + (f"after {reached} epoch{'s' if reached > 1 else ''}" if reached else
               f"in none of its {plan['epochs_3d']} epochs")
            + f" (goal: at most {half:g}): **{'met' if ok else 'not met'}**.")
    lines += tl_lines + [""]

    # Curves: validation MSE and MS-SSIM against epoch and CPU seconds; test MSE per epoch.
    colours = {"2D": "tab:blue", "3D-SDL": "tab:orange", "3D-GDL": "tab:green",
               "3D-TL-GDL": "tab:red"}
    for form in FORMS:
        fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
        for arm in ARMS:
            for i, s in enumerate(seeds):
                recs = results["epochs"][run_name(arm, form, s)]
                ep = [r["epoch"] for r in recs]
                cpu_s = [r.get("process_cpu_seconds", 0.0) for r in recs]
                if arm == "3D-TL-GDL":  # after its donor's training
                    cpu_s = [c + results["cpu_seconds"][run_name("2D", form, s)] for c in cpu_s]
                kw = dict(color=colours[arm], alpha=0.8, marker="o", ms=3,
                          label=arm if i == 0 else None)
                axes[0].plot(ep, [r["val_mse"] for r in recs], **kw)
                axes[1].plot(cpu_s, [r["val_mse"] for r in recs], **kw)
                axes[2].plot(ep, [r["val_msssim"] for r in recs], **kw)
        axes[0].set(xlabel="epoch", ylabel="validation MSE", yscale="log",
                    title=f"validation MSE by epoch ({form})")
        axes[1].set(xlabel="CPU seconds (TL: after its 2D donor)", ylabel="validation MSE",
                    yscale="log", title="by training cost")
        axes[2].set(xlabel="epoch", ylabel="validation MS-SSIM", title="validation MS-SSIM")
        for a in axes:
            a.grid(alpha=0.3)
            a.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(figdir / f"curves-{form}.png", dpi=90)
        plt.close(fig)
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for form, ls in zip(FORMS, ["-", "--"]):
        for arm in ["2D", "3D-TL-GDL"]:
            n = plan["epochs_2d"] if arm == "2D" else plan["epochs_3d"]
            m = [np.mean([curves[run_name(arm, form, s)][e] for s in seeds]) for e in range(n)]
            ax.plot(range(1, n + 1), m, ls, color=colours[arm], marker="o", ms=3,
                    label=f"{arm} ({form})")
    ax.axhline(base["mse"], color="gray", lw=0.8, label="low dose (input)")
    ax.set(xlabel="epoch (TL: after its 2D donor's epochs)", ylabel="test MSE (mean of seeds)",
           yscale="log", title="test MSE per epoch: does TL reach 2D sooner?")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(figdir / "test-mse-per-epoch.png", dpi=90)
    plt.close(fig)
    lines += ["### Curves", "",
              "![validation curves, published form](results/curves-published.png)", "",
              "![validation curves, residual form](results/curves-residual.png)", "",
              "![test MSE per epoch, 2D and TL](results/test-mse-per-epoch.png)", ""]

    # Figures of one slice from ddnet eval (low dose, standard dose, 2D, 3D, differences).
    figs = sorted((out / "eval" / "figures").glob("*.png"))
    if figs:
        lines += ["### One test slice", "",
                  f"Seed {seeds[0]}: 2D-DDnet and the best 3D arm ({best[0]}, {best[1]}) beside "
                  "the low and standard dose, with difference maps (`ddnet eval`'s figures).", ""]
        for f in figs:
            dst = figdir / f"slice-{f.name}"
            shutil.copyfile(f, dst)
            lines += [f"![{f.stem}](results/{dst.name})", ""]
    return lines, {"best": best, "goal_3d": goal1, "rel_best": rel_best}


def write_results(lines):
    path = ROOT / "docs" / "results.md"
    begin, end = "<!-- BEGIN GENERATED by scripts/experiment.py -->", "<!-- END GENERATED -->"
    body = begin + "\n" + "\n".join(lines) + "\n" + end
    if path.exists() and begin in path.read_text():
        text = path.read_text()
        text = text[:text.index(begin)] + body + text[text.index(end) + len(end):]
    else:
        text = ("# Results: 3D-DDnet against 2D-DDnet on a real CT scan\n\n"
                "Produced by `scripts/experiment.sh` (issue 19); the text outside the generated "
                "part is written by hand after reading it.\n\n" + body + "\n")
    path.write_text(text)
    log(f"wrote {path}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ddnet", required=True)
    ap.add_argument("--plan", choices=sorted(PLANS), default="default")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--out", default=str(ROOT / "runs" / "experiment"))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--no-report", action="store_true", help="train and evaluate only")
    args = ap.parse_args()
    plan = PLANS[args.plan]
    seeds = [int(s) for s in args.seeds.split(",") if s != ""]
    out = pathlib.Path(args.out) / args.plan
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    if not pathlib.Path(SCAN).exists():
        sys.exit(f"experiment: {SCAN} is missing (Debian package invesalius-examples; "
                 "scripts/setup.sh --main installs it)")

    prepare(args, out)
    # Seed-major order: every arm of seed 0 first, so a stopped run still has whole seeds.
    for s in seeds:
        for form in FORMS:
            for arm in ARMS:
                train(args, out, plan, arm, form, s, seeds[0])

    results = {"reports": {}, "cpu_seconds": {}, "epochs": {}, "test_curves": {},
               "lr": json.loads((out / "pilot" / "choice.json").read_text())}
    labels, ckpts = [], []
    for form in FORMS:
        for arm in ARMS:
            for s in seeds:
                name = run_name(arm, form, s)
                folder = out / "train" / name
                labels.append(name)
                ckpts.append(folder / "final.h5")
                results["cpu_seconds"][name] = train_seconds(folder)[1]
                results["epochs"][name] = epoch_records(folder)
    tag = "s" + "-".join(map(str, seeds))
    for d in DATASETS:
        results["reports"][d] = evaluate(args, out, f"{d}.{tag}", ckpts, labels)
    # Test MSE after every epoch, for 2D and TL (does TL reach 2D's quality sooner?).
    for form in FORMS:
        for arm in ["2D", "3D-TL-GDL"]:
            for s in seeds:
                name = run_name(arm, form, s)
                folder = out / "train" / name
                n = plan["epochs_2d"] if arm == "2D" else plan["epochs_3d"]
                eps = [folder / f"checkpoint_epoch{e}.h5" for e in range(1, n + 1)]
                r = evaluate(args, out, f"d025.epochs-{name}", eps,
                             [f"epoch{e}" for e in range(1, n + 1)])
                results["test_curves"][name] = [overall(r, f"epoch{e}")["mse"]
                                                for e in range(1, n + 1)]
    # The experiment's cost on this machine: every training run's and pilot's wall time (steps
    # and validation, from their logs) and every evaluation's.
    spent = sum(train_seconds(out / "train" / run_name(a, f, s))[0]
                for a in ARMS for f in FORMS for s in seeds)
    spent += sum(train_seconds(f)[0] for f in (out / "pilot").glob("*-lr*") if f.is_dir())
    spent += sum(float(f.read_text()) for f in (out / "eval").glob("*/seconds.txt"))
    results["hours"] = spent / 3600
    if args.no_report:
        return
    # Figures of the first seed: 2D (published) and the best 3D arm by mean test MSE.
    rep = results["reports"]["d025"]
    best = min(((a, f) for a in ARMS[1:] for f in FORMS),
               key=lambda af: sum(overall(rep, run_name(af[0], af[1], s))["mse"] for s in seeds))
    best2d = min(FORMS, key=lambda f: sum(overall(rep, run_name("2D", f, s))["mse"]
                                          for s in seeds))
    fig_ckpts = [out / "train" / run_name("2D", best2d, seeds[0]) / "final.h5",
                 out / "train" / run_name(best[0], best[1], seeds[0]) / "final.h5"]
    fig_labels = [f"2D-DDnet ({best2d})", f"{best[0]} ({best[1]})"]
    figfolder = out / "eval" / "figures"
    if not any(figfolder.glob("*.png")):
        r = evaluate(args, out, f"d025.figures-{tag}", fig_ckpts, fig_labels, figures=1)
        figfolder.mkdir(parents=True, exist_ok=True)
        for f in (out / "eval" / f"d025.figures-{tag}").glob("*.png"):
            shutil.copyfile(f, figfolder / f.name)
    lines, verdict = build_report(args, out, plan, seeds, results)
    (out / "summary.json").write_text(json.dumps(
        {"plan": args.plan, "seeds": seeds, "best": verdict["best"],
         "goal_3d_mse_10pct": verdict["goal_3d"], "rel_best": verdict["rel_best"],
         "hours": results["hours"]}, indent=2))
    write_results(lines)
    log(f"done in {(time.time() - t0) / 3600:.2f} h (the whole experiment: {results['hours']:.2f} h)")


if __name__ == "__main__":
    main()
