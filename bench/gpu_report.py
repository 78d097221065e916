"""The GPU check's verdicts and its markdown report (bench/gpu_check.py writes both)."""

from __future__ import annotations

import json
from typing import Any

from train_throughput import PATHS

GRAD_TOLERANCE = 0.1  # relative L2 error of all of a phase's first-step gradients under bf16 against fp32
GRAPH_TOLERANCE = 1e-3  # relative L2 difference of the weights: CUDA graph replays against the same levers eager
PEER_REFERENCE = 1270  # img/s of pytorch/examples' dcgan/main.py (8 loader workers) on an H100, when not measured


# --- the report ---------------------------------------------------------------------------------------


def checks(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Each correctness check: what was checked, whether it held, and the evidence."""
    out: list[dict[str, Any]] = []

    def add(check: str, ok: bool, detail: str) -> None:
        out.append({"check": check, "ok": bool(ok), "detail": detail})

    for section, error in report["errors"].items():
        add(f"the {section} section ran", False, error)
    if "correctness" in report:
        c = report["correctness"]
        ran = [r for r in c["runs"] if not r["status"].startswith("skipped")]
        bad = [f"{r['model']} / {r['lever']}: {r['status']}" for r in ran if r["status"] != "ok"]
        add(
            "every registered model trains with finite losses under each lever",
            not bad,
            "; ".join(bad) or f"{len(ran)} runs of {report['sizes']['steps']} steps",
        )
        penalised = [r for r in ran if r.get("expects_penalty")]
        missing = [f"{r['model']} / {r['lever']}" for r in penalised if not any(k.endswith("/gp") for k in r["last"])]
        add(
            "the gradient penalty (double backward) is computed under each lever",
            penalised and not missing,
            "missing: " + ", ".join(missing) if missing else f"{len(penalised)} runs with a finite D/gp term",
        )
        staged = {r["model"] for r in ran if r.get("stages")}
        runs = [r for r in ran if r["model"] in staged]
        unfaded = [f"{r['model']} / {r['lever']}" for r in runs if not any("fade" in s for s in r.get("stages", []))]
        add(
            "staged models pass through a fade-in under each lever",
            staged and not unfaded,
            "no fade-in: " + ", ".join(unfaded)
            if unfaded
            else "; ".join(sorted({f"{r['model']}: {' > '.join(r['stages'])}" for r in runs})),
        )
        compared = [r for r in ran if "graph_vs_eager" in r]
        off = [r for r in compared if r["graph_vs_eager"] > max(GRAPH_TOLERANCE, 10 * r.get("eager_vs_eager", 0))]
        add(
            f"CUDA graph steps give eager's weights (relative difference <= {GRAPH_TOLERANCE:g}, "
            "or 10x that of two eager runs)",
            compared and not off,
            "; ".join(
                f"{r['model']}: {r['graph_vs_eager']:.1e}"
                + (f" (eager runs: {r['eager_vs_eager']:.1e})" if "eager_vs_eager" in r else "")
                + f" [{r['graph']}]"
                for r in compared
            ),
        )
        grads = c["gradients"]
        add(
            f"bf16 first-step gradients agree with fp32 (relative L2 error <= {GRAD_TOLERANCE:g})",
            all(g["ok"] for g in grads),
            "; ".join(f"{g['model']}: " + ", ".join(f"{k} {v:.3f}" for k, v in g["errors"].items()) for g in grads),
        )
        se = c["sample_eval"]
        add(
            "deepgen sample and deepgen eval on a run trained here",
            se["ok"],
            f"exit codes {se['exit_codes']}, {se['pngs']} PNGs, metrics: "
            + ", ".join(f"{k} {v:.4g}" for k, v in se["metrics"].items()),
        )
        r = c["resume"]
        exactness = "bit-exact" if r["resume_max_abs"] == 0 else f"max |w difference| {r['resume_max_abs']:.2g}"
        add(
            "resume continues the run (wgan-gp)",
            r["ok"],
            f"{exactness} after {r['steps'] // 2} + {r['steps'] - r['steps'] // 2} steps against {r['steps']} at once; "
            f"two uninterrupted runs differ by {r['rerun_max_abs']:.2g}",
        )
    if report.get("end_to_end", {}).get("peer"):
        p = report["end_to_end"]["peer"]
        add("the official example ran on the same digits", p["exit_code"] == 0, p["error"] or p["command"])
    two = report.get("two_processes")
    if two and "ok" in two:
        detail = (
            f"{two.get('backend', '')}: relative difference {two['relative_difference']:.1e}"
            if "relative_difference" in two
            else two["status"]
        )
        add("torchrun with 2 processes trains the weights of 1 process with the same global batch", two["ok"], detail)
    return out


def targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's speed targets against the measured figures (only on a GPU)."""
    if report["smoke"]:
        return [{"target": "speed targets", "value": "not evaluated on a CPU (--smoke)", "met": None}]
    out = []
    rows = {(r["model"], r["batch"]): r for r in report.get("throughput", {}).get("rows", [])}

    def speedup(r: dict) -> float:
        return max(r[p] for p in PATHS if p in r) / r["baseline"]

    def add(target: str, value: float | None, goal: float, unit: str = "x") -> None:
        shown = "not measured" if value is None else f"{value:,.2f}{unit}" if unit == "x" else f"{value:,.0f}{unit}"
        out.append({"target": target, "value": shown, "met": None if value is None else value >= goal})

    r = rows.get(("dcgan:32", 64))
    add("DCGAN 32 px, batch 64: >= 3x eager fp32", speedup(r) if r and "baseline" in r else None, 3)
    r = rows.get(("dcgan:32", 1024))
    add(
        "DCGAN 32 px, batch 1024: >= 1.5 x 85,000 img/s",
        max(r[p] for p in PATHS if p in r) if r else None,
        127_500,
        " img/s",
    )
    wgan = [speedup(r) for (m, b), r in rows.items() if m == "wgan-gp:32" and b >= 256 and "baseline" in r]
    add("WGAN-GP 32 px, batch >= 256: >= 2x its fp32 figure (the lower of 256 and 1024)", min(wgan, default=None), 2)
    e2e = report.get("end_to_end")
    if e2e:
        p = e2e["peer"]
        reference = p["images_per_s"] if p and p["exit_code"] == 0 else PEER_REFERENCE
        which = "measured" if p and p["exit_code"] == 0 else "reference"
        add(
            f"end to end: >= 10x the official example ({reference:,.0f} img/s, {which})",
            e2e["deepgen"]["images_per_s"] / reference,
            10,
        )
        o = e2e["outside"]
        out.append(
            {
                "target": f"< 10% of wall time outside the step ({o['steps']} steps, batch 128)",
                "value": f"{o['outside']:.1%}",
                "met": o["outside"] < 0.1,
            }
        )
    return out


def markdown(report: dict[str, Any]) -> str:
    s = report["sizes"]
    mark = {True: "yes", False: "**NO**", None: "-"}
    lines = [f"# GPU check: {report['device']}, torch {report['torch']}, {report['started']}", ""]
    if report["smoke"]:
        lines += ["**--smoke**: the kit's code paths on the CPU with tiny sizes; no figure here is a GPU figure.", ""]
    lines += ["| check | holds | evidence |", "| --- | --- | --- |"]
    lines += [f"| {c['check']} | {mark[c['ok']]} | {c['detail']} |" for c in report["checks"]]
    lines += ["", "| target | measured | met |", "| --- | --- | --- |"]
    lines += [f"| {t['target']} | {t['value']} | {mark[t['met']]} |" for t in report["targets"]]
    if "correctness" in report:
        lines += [
            "",
            f"## 1. Correctness ({s['data']}, {s['image_size']} px, batch {s['batch']}, {s['steps']} steps)",
            "",
        ]
        lines += [
            "| model | lever | status | last losses | stages | CUDA graphs | s |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for r in report["correctness"]["runs"]:
            losses = ", ".join(f"{k} {v:.3g}" for k, v in r.get("last", {}).items())
            lines.append(
                f"| {r['model']} | {r['lever']} | {r['status']} | {losses} | {' > '.join(r.get('stages', []))} "
                f"| {r.get('graph', '')} | {r.get('seconds', '')} |"
            )
    if "throughput" in report:
        lines += ["", f"## 2. Throughput (img/s, {s['timed_steps']} timed steps after as many warm-up steps)", ""]
        lines += [report["throughput"]["table"]]
    if "end_to_end" in report:
        e = report["end_to_end"]
        lines += [
            "",
            "## 3. End to end (process start included)",
            "",
            "| job | images | wall s | img/s |",
            "| --- | --- | --- | --- |",
        ]
        user = e["deepgen"]
        lines.append(
            f"| deepgen train dcgan --data mnist10k --image-size {s['e2e_size']} --batch-size {s['e2e_batch']} "
            f"| {user['steps'] * s['e2e_batch']:,} | {user['wall_s']} | {user['images_per_s']:,.0f} |"
        )
        if e["peer"]:
            lines.append(
                f"| pytorch/examples dcgan/main.py ({s['peer_workers']} workers) | {e['peer']['images']:,} "
                f"| {e['peer']['wall_s']} | {e['peer']['images_per_s']:,.0f} |"
            )
        o = e["outside"]
        lines += [
            "",
            f"`deepgen train dcgan --data mnist10k --batch-size 128 --steps {o['steps']}`: {o['wall_s']} s wall, "
            f"{o['in_steps_s']} s in training steps (at the measured step rate): {o['outside']:.1%} outside the step."
            if o
            else "The share of wall time outside the step: not measured (--smoke).",
        ]
    if "two_processes" in report:
        lines += ["", "## 4. Two processes", "", json.dumps(report["two_processes"])]
    lines += ["", "Seconds per section: " + ", ".join(f"{k} {v}" for k, v in report["seconds"].items()), ""]
    return "\n".join(lines)
