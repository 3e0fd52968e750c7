#!/usr/bin/env python
"""Speed of optalloc.dp against pymdptoolbox and mdpsolver, and against memory bandwidth.

Sections (all figures are measured on this machine, nothing is assumed):

1. Copy bandwidth: ``np.copyto`` of a large float64 array, bytes read + written
   per second, on one thread and split over all threads.
2. Random sparse MDPs (``random_mdp``: A=6 actions, 20 successors per row,
   gamma=0.99, tol=1e-8): our value iteration, Howard policy iteration and
   modified policy iteration (20 evaluation sweeps) against pymdptoolbox's
   ValueIteration / PolicyIteration / PolicyIterationModified (given rewards
   -C and P as a list of A (S, S) csr_matrix; its set-up time is the
   constructor, whose input checks grow with S^2) and mdpsolver (rewards -C,
   sparse lists; set-up = building its lists and ``model.mdp``).
3. One Bellman sweep against the memory-bandwidth limit (bytes that must be
   read and written once per sweep / measured copy bandwidth).
4. The slowly mixing queue MDP (``queue_mdp``, 10,000 states, gamma 0.99) to
   1e-6: modified PI vs VI vs Howard PI.
5. pymdptoolbox set-up growth with S, and why it is skipped at large S.

Agreement columns compare values and policies with our Howard PI solution of
the same MDP.  pymdptoolbox's VI and modified PI stop on the same span rule as
ours (epsilon = 2 tol) but return the last iterate instead of the MacQueen
midpoint, so their values are off by a near-constant shift: ``span(dV)`` (max
minus min of the difference) shows the agreement up to that constant.

Usage::

    python benchmarks/dp_speed.py            # full run (several minutes)
    python benchmarks/dp_speed.py --quick    # small sizes, about a minute
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import platform
import re
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy
import scipy.sparse as sp

from optalloc.dp import policy_iteration, queue_mdp, random_mdp, value_iteration
from optalloc.dp.bellman import BellmanSweeper, Workers, check_mdp, resolve_threads

N_ACTIONS = 6
N_SUCCESSORS = 20
GAMMA = 0.99
TOL = 1e-8
MPI_SWEEPS = 20
QUEUE_TOL = 1e-6
QUEUE_MPI_SWEEPS = 50


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------
def timed(fn: Callable[[], Any], reps: int = 1) -> tuple[float, Any]:
    """Best wall time of ``reps`` calls and the last result."""
    best = float("inf")
    out = None
    for _ in range(reps):
        gc.collect()
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


@contextlib.contextmanager
def captured_fd_stdout() -> Iterator[list[str]]:
    """Capture what C/C++ code writes to file descriptor 1."""
    sink: list[str] = []
    sys.stdout.flush()
    saved = os.dup(1)
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 1)
        try:
            yield sink
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)
            tmp.seek(0)
            sink.append(tmp.read().decode(errors="replace"))


def fmt(x: float | int | str | None, spec: str = ".3g") -> str:
    if x is None:
        return "-"
    if isinstance(x, str):
        return x
    return format(x, spec)


@dataclass
class Row:
    solver: str
    algorithm: str
    n_states: int
    setup_s: float
    solve_s: float
    bellman: int | None
    evals: int | None
    values: np.ndarray | None = None
    policy: np.ndarray | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def total_s(self) -> float:
        return self.setup_s + self.solve_s


def print_table(
    rows: list[Row], ours: dict[tuple[str, int], float], ref: dict[int, tuple[np.ndarray, np.ndarray]]
) -> None:
    head = (
        f"{'solver':<12} {'algorithm':<10} {'S':>8} {'set-up s':>9} {'solve s':>9} {'bellman':>8} {'eval':>6} "
        f"{'s/sweep':>9} {'ratio':>8} {'max|dV|':>9} {'span(dV)':>9} {'pol eq':>7}  note"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        sweeps = (r.bellman or 0) + (r.evals or 0)
        per = r.solve_s / sweeps if sweeps else None
        base = ours.get((r.algorithm, r.n_states))
        ratio = r.total_s / base if base else None
        dv = span = eq = None
        if r.values is not None and r.n_states in ref:
            v_ref, p_ref = ref[r.n_states]
            diff = r.values - v_ref
            dv, span = float(np.abs(diff).max()), float(np.ptp(diff))
            eq = float(np.mean(r.policy == p_ref)) if r.policy is not None else None
        print(
            f"{r.solver:<12} {r.algorithm:<10} {r.n_states:>8} {fmt(r.setup_s):>9} {fmt(r.solve_s):>9} "
            f"{fmt(r.bellman, 'd'):>8} {fmt(r.evals, 'd'):>6} {fmt(per):>9} {fmt(ratio, '.1f'):>8} "
            f"{fmt(dv, '.1e'):>9} {fmt(span, '.1e'):>9} {fmt(eq, '.4f'):>7}  {r.note}"
        )


# ---------------------------------------------------------------------------
# 1. bandwidth
# ---------------------------------------------------------------------------
def copy_bandwidth(n_bytes: int, n_threads: int, reps: int = 7) -> tuple[float, float]:
    """Copy bandwidth (bytes read + written per second), one thread and ``n_threads``."""
    src = np.ones(n_bytes // 8)
    dst = np.empty_like(src)
    t1, _ = timed(lambda: np.copyto(dst, src), reps)
    bw1 = 2 * src.nbytes / t1
    if n_threads <= 1:
        return bw1, bw1
    bounds = np.linspace(0, src.size, n_threads + 1).astype(int)
    with ThreadPoolExecutor(n_threads) as pool:

        def par() -> None:
            list(
                pool.map(
                    lambda i: np.copyto(dst[bounds[i] : bounds[i + 1]], src[bounds[i] : bounds[i + 1]]),
                    range(n_threads),
                )
            )

        tn, _ = timed(par, reps)
    return bw1, 2 * src.nbytes / tn


# ---------------------------------------------------------------------------
# 2. solvers
# ---------------------------------------------------------------------------
def run_ours(P: sp.csr_array, C: np.ndarray, reps: int, n_threads: int) -> list[Row]:
    S = C.shape[0]
    rows = []
    t, r = timed(lambda: value_iteration(P, C, GAMMA, tol=TOL, n_threads=n_threads), reps)
    rows.append(Row("optalloc", "VI", S, 0.0, t, r.evaluations, 0, r.values, r.policy, f"bound {r.tolerance:.1e}"))
    t, r = timed(lambda: policy_iteration(P, C, GAMMA, tol=TOL, n_threads=n_threads), reps)
    rows.append(
        Row(
            "optalloc",
            "PI",
            S,
            0.0,
            t,
            r.iterations + 2,
            r.evaluations,
            r.values,
            r.policy,
            f"bound {r.tolerance:.1e}; {r.iterations} improvements",
        )
    )
    t, r = timed(lambda: policy_iteration(P, C, GAMMA, tol=TOL, evaluation=MPI_SWEEPS, n_threads=n_threads), reps)
    rows.append(
        Row(
            "optalloc",
            "MPI",
            S,
            0.0,
            t,
            r.iterations + 1,
            r.evaluations,
            r.values,
            r.policy,
            f"bound {r.tolerance:.1e}; k={MPI_SWEEPS}",
        )
    )
    return rows


def pymdptoolbox_inputs(P: sp.csr_array, C: np.ndarray) -> tuple[list[sp.csr_matrix], np.ndarray]:
    S, A = C.shape
    return [sp.csr_matrix(P[a * S : (a + 1) * S]) for a in range(A)], -C


def run_pymdptoolbox(P: sp.csr_array, C: np.ndarray, algorithms: tuple[str, ...]) -> list[Row]:
    import mdptoolbox.mdp as mdpt

    S = C.shape[0]
    plist, reward = pymdptoolbox_inputs(P, C)
    rows = []
    makers = {
        "VI": lambda: mdpt.ValueIteration(plist, reward, GAMMA, epsilon=2 * TOL),
        "PI": lambda: mdpt.PolicyIteration(plist, reward, GAMMA),
        "MPI": lambda: mdpt.PolicyIterationModified(plist, reward, GAMMA, epsilon=2 * TOL, max_iter=MPI_SWEEPS),
    }
    notes = {
        "VI": "set-up = checks + _boundIter",
        "PI": "dense (S,S) solve per step",
        "MPI": "dense P_pi; eval sweeps not reported",
    }
    for alg in algorithms:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t_setup, solver = timed(makers[alg])
            t_solve, _ = timed(solver.run)
        values = -np.asarray(solver.V, dtype=float)
        policy = np.asarray(solver.policy, dtype=np.int64)
        bellman = solver.iter + (1 if alg == "VI" else 0)  # VI: + the sweep in _boundIter
        evals = solver.iter if alg == "PI" else None
        rows.append(Row("pymdptoolbox", alg, S, t_setup, t_solve, bellman, evals, values, policy, notes[alg]))
        del solver
        gc.collect()
    return rows


def run_mdpsolver(P: sp.csr_array, C: np.ndarray) -> list[Row]:
    import mdpsolver

    S, A = C.shape
    counts = np.diff(P.indptr)
    rows = []
    for alg, name in (("vi", "VI"), ("pi", "PI"), ("mpi", "MPI")):
        gc.collect()
        t0 = time.perf_counter()
        if (counts == counts[0]).all():
            k = int(counts[0])
            probs = P.data.reshape(A, S, k).transpose(1, 0, 2).tolist()
            cols = P.indices.reshape(A, S, k).transpose(1, 0, 2).tolist()
        else:  # generic rows
            probs = [
                [P.data[P.indptr[a * S + s] : P.indptr[a * S + s + 1]].tolist() for a in range(A)] for s in range(S)
            ]
            cols = [
                [P.indices[P.indptr[a * S + s] : P.indptr[a * S + s + 1]].tolist() for a in range(A)] for s in range(S)
            ]
        model = mdpsolver.model()
        model.mdp(discount=GAMMA, rewards=(-C).tolist(), tranMatProbs=probs, tranMatColumns=cols)
        del probs, cols
        t_setup = time.perf_counter() - t0
        with captured_fd_stdout() as out:
            t0 = time.perf_counter()
            model.solve(algorithm=alg, tolerance=2 * TOL, verbose=True)
            t_solve = time.perf_counter() - t0
        log = out[0] if out else ""
        m = re.search(r"Solution found in (\d+) iterations", log)
        bellman = int(m.group(1)) if m else None
        evals = sum(int(x) for x in re.findall(r"parIter (\d+)", log)) if alg != "vi" else 0
        values = -np.asarray(model.getValueVector(), dtype=float)
        policy = np.asarray(model.getPolicy(), dtype=np.int64)
        rows.append(
            Row(
                "mdpsolver",
                name,
                S,
                t_setup,
                t_solve,
                bellman,
                evals,
                values,
                policy,
                "C++, span rule + Puterman correction",
            )
        )
        del model
    return rows


# ---------------------------------------------------------------------------
# 3. one sweep vs bandwidth
# ---------------------------------------------------------------------------
def sweep_vs_bandwidth(P: sp.csr_array, C: np.ndarray, bw: float, n_threads: int, reps: int) -> tuple[float, float]:
    """Print sweep times; return (min, median) ratio to the limit of our best-threaded sweep."""
    S, A = C.shape
    mdp = check_mdp(P, C, owner="benchmark")
    rows = mdp.rows
    nbytes = rows.data.nbytes + rows.indices.nbytes + rows.indptr.nbytes + 8 * S + 8 * A * S + 8 * S
    limit = nbytes / bw
    v = np.random.default_rng(0).random(S) * 10
    out = np.empty(S)
    print(
        f"S={S:,}: nnz={rows.nnz:,}, bytes per sweep (P data+indices+indptr, v, C, T v) = {nbytes / 1e6:.1f} MB, "
        f"limit at {bw / 1e9:.1f} GB/s = {limit * 1e3:.2f} ms"
    )
    gT = C.T.copy()

    def plain() -> None:
        q = (P @ (GAMMA * v)).reshape(A, S)
        q += gT
        q.min(axis=0)

    cases: list[tuple[str, Callable[[], Any]]] = [("plain scipy: (P @ (g v)).reshape(A,S) + C.T, min", plain)]
    workers_list = []
    result = (float("nan"), float("nan"))
    for nt in sorted({1, n_threads}):
        w = Workers(nt)
        workers_list.append(w)
        sw = BellmanSweeper(mdp, GAMMA, w)
        cases.append(
            (f"optalloc sweep, {nt} thread{'s' if nt > 1 else ''}", lambda sw=sw: sw.apply(v, out, diff_from=v))
        )
    for label, fn in cases:
        fn()
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        tmin, tmed = min(times), float(np.median(times))
        print(
            f"   {label:<52} min {tmin * 1e3:8.2f} ms ({tmin / limit:4.2f}x limit)   "
            f"median {tmed * 1e3:8.2f} ms ({tmed / limit:4.2f}x limit)"
        )
        if label.startswith(f"optalloc sweep, {n_threads} "):
            result = (tmin / limit, tmed / limit)
    for w in workers_list:
        w.close()
    return result


# ---------------------------------------------------------------------------
# 5. pymdptoolbox set-up growth
# ---------------------------------------------------------------------------
def pymdptoolbox_setup_growth(sizes: list[int]) -> tuple[list[tuple[int, float]], float]:
    import mdptoolbox.mdp as mdpt

    pts = []
    for S in sizes:
        P, C = random_mdp(S, N_ACTIONS, N_SUCCESSORS, seed=S)
        plist, reward = pymdptoolbox_inputs(P, C)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t, _ = timed(lambda p=plist, r=reward: mdpt.ValueIteration(p, r, GAMMA, epsilon=2 * TOL))
        pts.append((S, t))
        print(f"   pymdptoolbox ValueIteration set-up at S={S:>7,}: {t:8.2f} s")
    s_arr = np.log([p[0] for p in pts])
    t_arr = np.log([p[1] for p in pts])
    slope = float(np.polyfit(s_arr, t_arr, 1)[0]) if len(pts) > 1 else 2.0
    return pts, slope


# ---------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="small sizes for a smoke run (about a minute)")
    ap.add_argument(
        "--sizes", type=int, nargs="+", help="state counts of the random MDPs (default 10000 200000; quick: 2000 20000)"
    )
    ap.add_argument(
        "--pymdptoolbox-max",
        type=int,
        default=None,
        help="largest S given to pymdptoolbox (default 10000; quick: 2000)",
    )
    ap.add_argument("--no-pymdptoolbox", action="store_true", help="skip pymdptoolbox")
    ap.add_argument("--no-mdpsolver", action="store_true", help="skip mdpsolver")
    ap.add_argument("--threads", type=int, default=None, help="threads for optalloc (default: all available, max 8)")
    args = ap.parse_args(argv)

    sizes = args.sizes or ([2_000, 20_000] if args.quick else [10_000, 200_000])
    pmax = args.pymdptoolbox_max or (2_000 if args.quick else 10_000)
    growth_sizes = [500, 1_000, 2_000] if args.quick else [2_000, 5_000, 10_000]
    n_threads = resolve_threads(args.threads, "benchmark")
    reps = 3

    print("optalloc.dp speed benchmark")
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, "
        f"{os.cpu_count()} CPUs ({n_threads} used), {platform.processor() or platform.machine()}"
    )
    have_pymdp = have_mdps = False
    if not args.no_pymdptoolbox:
        try:
            import mdptoolbox  # noqa: F401

            have_pymdp = True
        except ImportError:
            print("pymdptoolbox: not installed, skipped")
    if not args.no_mdpsolver:
        try:
            import mdpsolver  # noqa: F401

            have_mdps = True
        except ImportError:
            print("mdpsolver: not installed, skipped")
    print(f"random MDPs: A={N_ACTIONS}, {N_SUCCESSORS} successors per row, gamma={GAMMA}, tol={TOL:g}\n")

    # 1. bandwidth
    copy_mb = 64 if args.quick else 256
    bw1, bwn = copy_bandwidth(copy_mb * 2**20, n_threads)
    bw = max(bw1, bwn)
    print("1. copy bandwidth (np.copyto, bytes read + written per second)")
    print(
        f"   {copy_mb} MB array: 1 thread {bw1 / 1e9:.1f} GB/s, {n_threads} threads {bwn / 1e9:.1f} GB/s"
        f" -> limit uses {bw / 1e9:.1f} GB/s\n"
    )

    # 2. solvers
    all_rows: list[Row] = []
    ours_total: dict[tuple[str, int], float] = {}
    ref: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    problems: dict[int, tuple[sp.csr_array, np.ndarray]] = {}
    for S in sizes:
        t_gen, (P, C) = timed(lambda S=S: random_mdp(S, N_ACTIONS, N_SUCCESSORS, seed=S))
        problems[S] = (P, C)
        print(f"2. S={S:,}: random_mdp generated in {t_gen:.2f} s (nnz {P.nnz:,})", flush=True)
        rows = run_ours(P, C, reps, n_threads)
        for r in rows:
            ours_total[(r.algorithm, S)] = r.total_s
        pi_row = next(r for r in rows if r.algorithm == "PI")
        assert pi_row.values is not None and pi_row.policy is not None
        ref[S] = (pi_row.values, pi_row.policy)
        all_rows += rows
        if have_mdps:
            try:
                all_rows += run_mdpsolver(P, C)
            except Exception as exc:  # report, do not hide
                print(f"   mdpsolver failed at S={S}: {exc!r}")
        if have_pymdp and S <= pmax:
            all_rows += run_pymdptoolbox(P, C, ("VI", "PI", "MPI"))
        print_table([r for r in all_rows if r.n_states == S], ours_total, ref)
        print(flush=True)

    print(
        "2. all results (ratio = (set-up + solve) / optalloc's time for the same algorithm; "
        "optalloc's set-up is 0: P, C are its native input, validation is inside the solve)"
    )
    print_table(all_rows, ours_total, ref)
    print(
        "   bellman = full Bellman sweeps over P (optalloc PI/MPI include the first and the final greedy sweep);\n"
        "   eval = policy-evaluation sweeps over P_pi (1/A of P; optalloc exact PI: sweeps of the iterative\n"
        "   evaluation + 1 residual check per step; pymdptoolbox PI: one dense LU solve per step; mdpsolver: its\n"
        "   parIter counts); s/sweep = solve s / (bellman + eval); optalloc's solve s includes input validation.\n"
    )

    # 3. sweep vs bandwidth
    # re-measure now (other processes may have changed the load) and keep the best figure seen
    bw1b, bwnb = copy_bandwidth(copy_mb * 2**20, n_threads)
    bw = max(bw, bw1b, bwnb)
    print("3. one Bellman sweep against the memory-bandwidth limit")
    print(
        f"   copy bandwidth re-measured: 1 thread {bw1b / 1e9:.1f} GB/s, {n_threads} threads {bwnb / 1e9:.1f} GB/s; "
        f"limit uses the best figure seen, {bw / 1e9:.1f} GB/s"
    )
    sweep_ratios = {}
    for S in sizes:
        P, C = problems[S]
        sweep_ratios[S] = sweep_vs_bandwidth(P, C, bw, n_threads, reps=15 if S >= 100_000 else 50)
    print()

    # 4. queue
    S_q = 10_000
    P, C = queue_mdp(S_q, N_ACTIONS, seed=0)
    print(f"4. queue_mdp: S={S_q:,}, A={N_ACTIONS}, gamma={GAMMA}, tol={QUEUE_TOL:g} (nnz {P.nnz:,})")
    q_rows = []
    for label, fn in (
        (
            f"modified PI (k={QUEUE_MPI_SWEEPS})",
            lambda: policy_iteration(P, C, GAMMA, tol=QUEUE_TOL, evaluation=QUEUE_MPI_SWEEPS),
        ),
        ("modified PI (k=20)", lambda: policy_iteration(P, C, GAMMA, tol=QUEUE_TOL, evaluation=20)),
        ("value iteration", lambda: value_iteration(P, C, GAMMA, tol=QUEUE_TOL)),
        ("Howard PI (sparse LU)", lambda: policy_iteration(P, C, GAMMA, tol=QUEUE_TOL)),
    ):
        t, r = timed(fn, reps)
        q_rows.append((label, t, r))
    v_ref = q_rows[-1][2].values
    for label, t, r in q_rows:
        print(
            f"   {label:<24} {t:7.3f} s  iterations {r.iterations:>5}  evaluations {r.evaluations:>6}  "
            f"bound {r.tolerance:.2e}  max|V - V_PI| {np.abs(r.values - v_ref).max():.1e}"
        )
    t_mpi_queue = q_rows[0][1]
    print()

    # 5. pymdptoolbox growth
    skipped_note = ""
    slope = None
    if have_pymdp:
        print("5. pymdptoolbox set-up (constructor) growth")
        pts, slope = pymdptoolbox_setup_growth(growth_sizes)
        big = [S for S in sizes if S > pmax]
        for S in big:
            est = pts[-1][1] * (S / pts[-1][0]) ** slope
            dense_gb = 16 * S * S / 1e9  # (S,1)-(S,) broadcast and its abs: 16 S^2 bytes
            ram_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
            skipped_note = (
                f"   pymdptoolbox skipped at S={S:,}: its set-up grows as S^{slope:.2f} here, extrapolated "
                f"{est:,.0f} s ({est / 3600:.1f} h) for ValueIteration's constructor alone; its isStochastic check "
                f"builds two dense (S, S) float64 temporaries per action ({dense_gb:,.1f} GB, RAM {ram_gb:.0f} GB"
                f"{': impossible' if dense_gb > ram_gb else ''}) and PolicyIteration solves a dense (S, S) system "
                f"(O(S^3) = {S**3 / 3e9 / 50:,.0f} s per step at 50 GFLOP/s)"
            )
            print(skipped_note)
        print()

    # summary
    print("targets")
    if have_pymdp and 10_000 in sizes and pmax >= 10_000:
        for alg in ("VI", "PI", "MPI"):
            theirs = next(
                r for r in all_rows if r.solver == "pymdptoolbox" and r.algorithm == alg and r.n_states == 10_000
            )
            ratio = theirs.total_s / ours_total[(alg, 10_000)]
            verdict = "met" if ratio >= 100 else "NOT MET"
            print(f"   {alg:<3} at 10,000 states >= 100x faster than pymdptoolbox: {ratio:8.1f}x  {verdict}")
    big_ok = [S for S in sizes if S >= 200_000]
    if big_ok:
        print(f"   runs at {', '.join(f'{S:,}' for S in big_ok)} states: met (see table)")
    verdict = "met" if t_mpi_queue < 0.5 else "NOT MET"
    print(f"   queue 10,000 states to 1e-6 by modified PI under 0.5 s: {t_mpi_queue:.3f} s  {verdict}")
    for S, (rmin, rmed) in sweep_ratios.items():
        verdict = "met" if rmed <= 2 else ("met at best, not at median" if rmin <= 2 else "NOT MET")
        print(
            f"   sweep at {S:,} states within 2x of the bandwidth limit ({n_threads} threads): "
            f"min {rmin:.2f}x, median {rmed:.2f}x  {verdict}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
