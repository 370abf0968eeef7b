#!/usr/bin/env python3
"""The op pattern, checked on the source tree (docs/adding-an-op.md describes it).

An op is named by its tensor-level entry point kernels/<op>_ops.h and has, with the same name
throughout:
  kernels/<op>.h            the math: the CPU twin's and the CUDA path's declarations
  kernels/<op>_cpu.cpp      the CPU twin
  kernels/<op>.cu           the CUDA kernels (or kernels/<op>_cudnn.cpp where a vendor library
                            is the CUDA path)
  kernels/<op>_ops.cpp      the entry point: checks, element type, device dispatch, streams
  layers/<op>_autograd.h/.cpp  its autograd closure (not for ops without a gradient: below)
  tests/kernels/test_<op>.cpp  CPU tests, the gradient check ([gradcheck]), PyTorch fixtures
  tests/gpu/test_gpu_<op>.cpp  the CUDA path against the CPU (emulated in CI, real on a GPU)
  bench/bench_<op>.cpp      its benchmark
Optional: kernels/<op>_impl.h (arithmetic shared by the CPU twin and the CUDA kernel).

And the layering inside an op: only kernels/*_ops.cpp include kernels/dispatch.h (device
dispatch lives in the entry point and nowhere else), and code above kernels/ (layers, graph,
models, data, dist, tools) includes from kernels/ only entry points (kernels/<op>_ops.h) and the
CPU convolutions' configuration (kernels/cpu_conv/config.h). No layers/ header shares its name
with a kernels/ header.

Usage: op_pattern.py ROOT          check; exit 1 naming every break
       op_pattern.py ROOT --list   print each op with its files (markdown)
       op_pattern.py ROOT --self-test   break the pattern in copies of the tree, expect failures
"""
import os
import re
import shutil
import sys
import tempfile

# Ops without an autograd closure, and why.
NO_AUTOGRAD = {"adam": "the optimiser's update, not a differentiable op"}
# Files of kernels/ that belong to no single op, and why.
KERNELS_SHARED = {
    "CMakeLists.txt": "the build",
    "cpu_features.h": "the CPU feature checks behind the AVX2 versions of CPU loops, and the "
                      "non-temporal store switch (DDNET_CPU_STREAM_STORES)",
    "cpu_features.cpp": "the non-temporal store switch and the last-level cache size",
    "cpu_stream.h": "the non-temporal copy of the CPU kernels that write more than the cache",
    "dispatch.h": "the entry points' dispatch helpers",
    "launch.cuh": "grid sizing and launch checks of every .cu",
}
# Files of layers/ that are not one op's closure, and why.
LAYERS_SHARED = {
    "CMakeLists.txt": "the build",
    "functional.h": "includes every op's autograd header (F::)",
    "loss.h": "the training loss, a composition of ops",
    "loss.cpp": "the training loss, a composition of ops",
    "batchnorm_conv.h": "BatchNorm -> convolution, and a dense layer's bottleneck, recorded as "
                        "one entry each (lean memory), compositions of the batchnorm, conv and "
                        "elementwise ops",
    "batchnorm_conv.cpp": "BatchNorm -> convolution, and a dense layer's bottleneck, recorded as "
                          "one entry each (lean memory), compositions of the batchnorm, conv and "
                          "elementwise ops",
}
ABOVE_KERNELS = ["layers", "graph", "models", "data", "dist", "tools"]
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def read(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def ops_of(root):
    kd = os.path.join(root, "kernels")
    return sorted(f[: -len("_ops.h")] for f in os.listdir(kd) if f.endswith("_ops.h"))


def files_of(root, op):
    """The pattern's files of one op: (role, path or None when missing, required)."""
    def exists(rel):
        return rel if os.path.isfile(os.path.join(root, rel)) else None

    cuda = exists(f"kernels/{op}.cu") or exists(f"kernels/{op}_cudnn.cpp")
    rows = [
        ("math", exists(f"kernels/{op}.h") or f"kernels/{op}.h", exists(f"kernels/{op}.h")),
        ("CPU twin", exists(f"kernels/{op}_cpu.cpp") or f"kernels/{op}_cpu.cpp",
         exists(f"kernels/{op}_cpu.cpp")),
        ("CUDA path", cuda or f"kernels/{op}.cu", cuda),
        ("entry point", f"kernels/{op}_ops.h", exists(f"kernels/{op}_ops.h")),
        ("entry point", f"kernels/{op}_ops.cpp", exists(f"kernels/{op}_ops.cpp")),
    ]
    if op not in NO_AUTOGRAD:
        for ext in ("h", "cpp"):
            rel = f"layers/{op}_autograd.{ext}"
            rows.append(("autograd", rel, exists(rel)))
    for role, rel in (("CPU tests", f"tests/kernels/test_{op}.cpp"),
                      ("GPU tests", f"tests/gpu/test_gpu_{op}.cpp"),
                      ("benchmark", f"bench/bench_{op}.cpp")):
        rows.append((role, rel, exists(rel)))
    return rows


def check(root):
    errors = []
    ops = ops_of(root)
    if not ops:
        return ["no kernels/<op>_ops.h found: is ROOT the project root?"]
    for op in ops:
        for role, rel, found in files_of(root, op):
            if not found:
                errors.append(f"op {op}: its {role} {rel} is missing")
        test = os.path.join(root, f"tests/kernels/test_{op}.cpp")
        if os.path.isfile(test):
            text = read(test)
            if op not in NO_AUTOGRAD and "[gradcheck]" not in text:
                errors.append(f"op {op}: tests/kernels/test_{op}.cpp has no [gradcheck] test case")
            if os.path.isfile(os.path.join(root, f"tests/fixtures/{op}.h5")) and \
                    f'"{op}.h5"' not in text:
                errors.append(f"op {op}: tests/kernels/test_{op}.cpp does not use its PyTorch "
                              f"fixtures tests/fixtures/{op}.h5")
        gpu = os.path.join(root, f"tests/gpu/test_gpu_{op}.cpp")
        if os.path.isfile(gpu) and "TEST_CASE" not in read(gpu):
            errors.append(f"op {op}: tests/gpu/test_gpu_{op}.cpp has no test case")
        closure = "".join(read(os.path.join(root, f"layers/{op}_autograd.{ext}"))
                          for ext in ("h", "cpp")
                          if os.path.isfile(os.path.join(root, f"layers/{op}_autograd.{ext}")))
        if closure and f'"kernels/{op}_ops.h"' not in closure:
            errors.append(f"op {op}: layers/{op}_autograd does not include its entry point "
                          f"kernels/{op}_ops.h")

    # Every file of kernels/ (outside the cpu_conv/ fence) belongs to an op or is shared.
    suffixes = ("_ops.h", "_ops.cpp", "_cpu.cpp", "_cudnn.cpp", "_impl.h", ".cu", ".h")
    for name in sorted(os.listdir(os.path.join(root, "kernels"))):
        path = os.path.join(root, "kernels", name)
        if os.path.isdir(path) or name in KERNELS_SHARED:
            continue
        owner = None
        for suf in suffixes:
            if name.endswith(suf) and name[: -len(suf)] in ops:
                owner = name[: -len(suf)]
                break
        if owner is None:
            errors.append(f"kernels/{name} belongs to no op: an op is named by its "
                          "kernels/<op>_ops.h (docs/adding-an-op.md)")
    # layers/: one op's closure, or a declared composition.
    for name in sorted(os.listdir(os.path.join(root, "layers"))):
        m = re.fullmatch(r"(\w+)_autograd\.(h|cpp)", name)
        if name in LAYERS_SHARED or (m and m.group(1) in ops):
            continue
        errors.append(f"layers/{name} is neither an op's <op>_autograd.h/.cpp nor a declared "
                      "composition (tests/op_pattern.py LAYERS_SHARED)")
    kernel_headers = {n for n in os.listdir(os.path.join(root, "kernels")) if n.endswith(".h")}
    for name in sorted(os.listdir(os.path.join(root, "layers"))):
        if name in kernel_headers:
            errors.append(f"layers/{name} has the name of kernels/{name}")

    # Includes: dispatch only in the entry points; above kernels/, entry points only.
    for top in ["kernels"] + ABOVE_KERNELS:
        base = os.path.join(root, top)
        if not os.path.isdir(base):
            continue
        for dirpath, _, names in os.walk(base):
            for name in sorted(names):
                if not name.endswith((".h", ".cpp", ".cu", ".cuh")):
                    continue
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, root)
                for inc in INCLUDE.findall(read(path)):
                    if inc == "kernels/dispatch.h" and not (
                            top == "kernels" and name.endswith("_ops.cpp")) and \
                            rel != "kernels/dispatch.h":
                        errors.append(f"{rel} includes kernels/dispatch.h: device dispatch "
                                      "belongs in an op's kernels/<op>_ops.cpp")
                    if top in ABOVE_KERNELS and inc.startswith("kernels/") and not (
                            re.fullmatch(r"kernels/\w+_ops\.h", inc) or
                            inc in ("kernels/cpu_conv/config.h", "kernels/cpu_features.h")):
                        errors.append(f"{rel} includes {inc}: above kernels/, include an op's "
                                      "entry point kernels/<op>_ops.h")
    return errors


def listing(root):
    out = ["| op | files |", "|---|---|"]
    for op in ops_of(root):
        files = [rel for _, rel, found in files_of(root, op) if found]
        impl = f"kernels/{op}_impl.h"
        if os.path.isfile(os.path.join(root, impl)):
            files.insert(2, impl)
        note = f" (no autograd: {NO_AUTOGRAD[op]})" if op in NO_AUTOGRAD else ""
        out.append(f"| {op}{note} | " + ", ".join(f"`{f}`" for f in files) + " |")
    return "\n".join(out)


def self_test(root):
    """Each way of breaking the pattern, in a copy of the tree, must be reported."""
    def copy_tree(dst):
        tops = ["kernels", "bench", "tests/kernels", "tests/gpu", "tests/fixtures"] + ABOVE_KERNELS
        for top in tops:
            src = os.path.join(root, top)
            if os.path.isdir(src):
                shutil.copytree(src, os.path.join(dst, top),
                                ignore=shutil.ignore_patterns("*.h5", "__pycache__"))
        for f in os.listdir(os.path.join(root, "tests/fixtures")):
            if f.endswith(".h5"):  # names only: the check reads no fixture
                open(os.path.join(dst, "tests/fixtures", f), "w").close()

    def append(path, text):
        with open(path, "a", encoding="utf-8") as f:
            f.write(text)

    breaks = {
        "an op without its GPU test": (
            lambda d: os.remove(os.path.join(d, "tests/gpu/test_gpu_pool.cpp")),
            "tests/gpu/test_gpu_pool.cpp is missing"),
        "an op without its benchmark": (
            lambda d: os.remove(os.path.join(d, "bench/bench_upsample.cpp")),
            "bench/bench_upsample.cpp is missing"),
        "an op without its autograd closure": (
            lambda d: os.remove(os.path.join(d, "layers/concat_autograd.cpp")),
            "layers/concat_autograd.cpp is missing"),
        "a kernel that belongs to no op": (
            lambda d: open(os.path.join(d, "kernels/fused.cu"), "w").close(),
            "kernels/fused.cu belongs to no op"),
        "device dispatch outside an entry point": (
            lambda d: append(os.path.join(d, "layers/loss.cpp"), '#include "kernels/dispatch.h"\n'),
            "layers/loss.cpp includes kernels/dispatch.h"),
        "a raw kernel header included above kernels/": (
            lambda d: append(os.path.join(d, "models/ddnet.h"), '#include "kernels/pool.h"\n'),
            "models/ddnet.h includes kernels/pool.h"),
        "a layers/ header named like a kernels/ one": (
            lambda d: open(os.path.join(d, "layers/conv.h"), "w").close(),
            "layers/conv.h has the name of kernels/conv.h"),
        "a CPU test without its gradient check": (
            lambda d: open(os.path.join(d, "tests/kernels/test_reduce.cpp"), "w").write(
                'TEST_CASE("reduce", "[reduce]") {}\n'),
            "test_reduce.cpp has no [gradcheck]"),
        "a CPU test that ignores its fixtures": (
            lambda d: open(os.path.join(d, "tests/kernels/test_batchnorm.cpp"), "w").write(
                'TEST_CASE("bn", "[gradcheck]") {}\n'),
            "does not use its PyTorch fixtures tests/fixtures/batchnorm.h5"),
    }
    with tempfile.TemporaryDirectory() as tmp:
        clean = os.path.join(tmp, "clean")
        copy_tree(clean)
        base = check(clean)
        if base:
            print("self-test: the unbroken copy already fails:\n  " + "\n  ".join(base))
            return 1
        failed = 0
        for what, (mutate, expect) in breaks.items():
            d = os.path.join(tmp, re.sub(r"\W+", "_", what))
            copy_tree(d)
            mutate(d)
            errs = check(d)
            hit = any(expect in e for e in errs)
            print(f"self-test: {what}: {'reported' if hit else 'NOT reported'}")
            if not hit:
                print("  got: " + ("\n  ".join(errs) or "no error"))
                failed += 1
        return 1 if failed else 0


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    root = argv[1]
    if "--list" in argv:
        print(listing(root))
        return 0
    if "--self-test" in argv:
        return self_test(root)
    errors = check(root)
    for e in errors:
        print("op pattern: " + e)
    if errors:
        print(f"op pattern: {len(errors)} breaks (see docs/adding-an-op.md)")
        return 1
    print(f"op pattern: {len(ops_of(root))} ops, each with all its files:")
    print(listing(root))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
