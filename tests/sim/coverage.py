#!/usr/bin/env python3
"""What the emulated CUDA suite executed, against what the project has.

Reads the counts the emulator appended to the coverage file (one "name<TAB>count" line per
kernel, cuDNN, NCCL or runtime call, per process) and lists, from the sources: every __global__
kernel of the .cu files, every cuDNN and NCCL function the engine calls. Prints executed / total
for each and the ones never executed; exits 1 when a kernel or a library call was never run
(unless --report-only).

  coverage.py <source root> <coverage file> [--report-only]
"""
import pathlib
import re
import sys


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    report_only = "--report-only" in sys.argv
    root, counts_path = pathlib.Path(args[0]), pathlib.Path(args[1])
    counts = {}
    if counts_path.exists():
        for line in counts_path.read_text().splitlines():
            name, _, n = line.rpartition("\t")
            counts[name] = counts.get(name, 0) + int(n)

    kernels = set()
    for cu in sorted(list(root.glob("engine/*.cu")) + list(root.glob("kernels/*.cu"))):
        text = cu.read_text()
        for m in re.finditer(r"__global__\s+void\s+(\w+)\s*\(", text):
            kernels.add(m.group(1))
    ran_kernels = set()
    for name in counts:
        if name.startswith("kernel "):
            ran_kernels.add(re.sub(r"<.*", "", name[len("kernel "):]).split("::")[-1])

    calls = {"cuDNN": set(), "NCCL": set()}
    sources = [p for d in ("engine", "kernels", "layers", "graph", "models", "dist", "tools")
               for p in (root / d).glob("*.c*")]
    for src in sources:
        text = re.sub(r"//.*", "", src.read_text())
        for m in re.finditer(r"\b(cudnn[A-Z]\w*|nccl[A-Z]\w*)\s*\(", text):
            fn = m.group(1)
            if fn in ("cudnnGetErrorString", "ncclGetErrorString"):
                continue  # reached only on failures
            calls["cuDNN" if fn.startswith("cudnn") else "NCCL"].add(fn)

    missing = 0
    rows = [("kernels (__global__ in engine/, kernels/)", kernels, ran_kernels)]
    for lib, fns in calls.items():
        rows.append((f"{lib} functions the engine calls", fns, set(counts)))
    for title, total, ran in rows:
        done = sorted(total & ran)
        never = sorted(total - ran)
        missing += len(never)
        print(f"emulated coverage: {len(done)} / {len(total)} {title}")
        for name in never:
            print(f"  never executed: {name}")
    flushes = counts.get("ddnet-sim: idle flush (lazy streams)", 0)
    print(f"emulated coverage: the lazy streams' idle backstop ran queued work nothing asked for "
          f"{flushes} times")
    calls_run = sum(n for k, n in counts.items())
    print(f"emulated coverage: {calls_run} emulated launches and calls counted in {counts_path}")
    return 0 if report_only or missing == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
