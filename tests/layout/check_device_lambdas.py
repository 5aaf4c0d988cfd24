#!/usr/bin/env python3
"""A device lambda (KOKKOS_LAMBDA, KOKKOS_CLASS_LAMBDA) may only be written as
an argument of the Kokkos::parallel_for, parallel_reduce or parallel_scan
call that runs it. nvcc turns it into an extended __host__ __device__ lambda,
and one that is passed through a function of ours, stored in a variable or
captured by another lambda is copied on the host through a helper whose
function pointer is null: the CUDA build compiles and crashes at run time.
Functors (struct with a KOKKOS_INLINE_FUNCTION operator()) are the way to
hand a device function to a kernel. Without a path, the check tests itself
on examples. Usage: check_device_lambdas.py [REPOSITORY_ROOT]"""
import glob
import os
import re
import sys

ALLOWED = {"parallel_for", "parallel_reduce", "parallel_scan"}


def strip(text):
    """Comments and string literals blanked, offsets kept."""
    pattern = re.compile(r'//[^\n]*|/\*.*?\*/|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'', re.S)
    return pattern.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)


def enclosing_call(code, pos):
    """The name before the innermost '(' still open at pos, or None."""
    depth = 0
    for i in range(pos - 1, -1, -1):
        c = code[i]
        if c in ")]}":
            depth += 1
        elif c in "([{":
            if depth == 0:
                if c != "(":
                    return None
                m = re.search(r"([A-Za-z_][A-Za-z_0-9]*)\s*(?:<[^()]*>)?\s*$", code[:i])
                return m.group(1) if m else None
            depth -= 1
        elif c == ";" and depth == 0:
            return None
    return None


def offences(text):
    code = strip(text)
    found = []
    for m in re.finditer(r"\bKOKKOS_(?:CLASS_)?LAMBDA\b", code):
        call = enclosing_call(code, m.start())
        if call not in ALLOWED:
            line = code.count("\n", 0, m.start()) + 1
            found.append((line, call))
    return found


def self_test():
    good = """Kokkos::parallel_for("k", RangePolicy(0, n), KOKKOS_LAMBDA(const int i) { x(i) = f(i); });
Kokkos::parallel_reduce(label,
    policy, KOKKOS_LAMBDA(const int i, double& s) { s += g(x(i), [&](int j) { return j; }); }, total);
// KOKKOS_LAMBDA in a comment
const char* s = "KOKKOS_LAMBDA";"""
    bad = [
        'return blocked_sum<T>("s", x, KOKKOS_LAMBDA(T v) { return v * v; });',
        "auto f = KOKKOS_LAMBDA(const int i) { return i; };",
        "run(KOKKOS_CLASS_LAMBDA(int i) {});",
    ]
    assert offences(good) == [], offences(good)
    for b in bad:
        assert len(offences(b)) == 1, b
    print("ok: the check finds a device lambda outside a parallel_* call and passes those inside one")


def main():
    if len(sys.argv) < 2:
        self_test()
        return
    root = sys.argv[1]
    files = [f for pattern in ("src/*/*.[ch]pp", "io/*.[ch]pp", "kernels/*.hpp", "tests/*.[ch]pp")
             for f in glob.glob(os.path.join(root, pattern))]
    assert len(files) > 50, f"only {len(files)} sources found under {root}"
    bad = []
    for path in files:
        for line, call in offences(open(path).read()):
            where = f"an argument of {call}()" if call else "not a call's argument"
            bad.append(f"{os.path.relpath(path, root)}:{line}: device lambda {where}")
    assert not bad, ("device lambdas outside Kokkos::parallel_for/reduce/scan (use a functor):\n" + "\n".join(bad))
    print(f"ok: every device lambda in {len(files)} sources is an argument of a Kokkos parallel_* call")


main()
