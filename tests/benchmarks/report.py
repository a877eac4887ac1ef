"""The tables printed at the end of a benchmark run (conftest.py's terminal summary).

Each function takes the figures the benchmarks recorded (BenchRun.results in conftest.py, the
same dicts pytest-benchmark saves as each benchmark's extra_info) and returns lines of text.
"""

from .blocks import BUSY_MAX_SLOWDOWN, SPLIT_PARTS
from .flops import LEARN_PARTS, SOLVE_PARTS, TIMED_PARTS

MiB = 2**20


def format_table(headers, rows, title):
    """A plain-text table: first column left-aligned, the others right-aligned."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row):
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))

    return [title, line(cells[0]), "  ".join("-" * w for w in widths), *(line(row) for row in cells[1:])]


def seconds(value):
    return f"{value:.4f}"


def mib(value):
    return f"{value / MiB:.1f}"


def rate(value):
    return f"{value:,.0f}"


def met(value):
    return {True: "yes", False: "NO", None: "n/a (not blog size)"}[value]


def header(meta):
    """Versions, thread settings, the run's reference (the env alone) and the load average before and after."""
    threads = meta["threads"]
    variables = {key: value for key, value in threads["thread_env"].items() if value is not None}
    before, after = meta["before"], meta.get("after") or {}
    return [
        f"python {meta['python']}, numpy {meta['numpy']}, gymnasium {meta['gymnasium']}, "
        f"{meta['cpus']} CPUs (shared machine); {meta['dtype']}, chunk_size {meta['chunk_size']}"
        + ("; TOY SIZES" if meta["toy"] else ""),
        (f"threads: BLAS {threads['blas_threads'] or 'unknown'}, learn-step workers {threads['worker_threads']} "
         f"({variables or 'no thread variables set'})"),
        *reference_lines(meta["reference"]),
        f"load average (1, 5, 15 min): {before['loadavg']} before, {after.get('loadavg')} after",
        "figures: medians over rounds, wall seconds (time.perf_counter)",
    ]


def reference_lines(reference):
    """The env alone this run measured, the reference its times (and the suite's) are read against."""
    blog = [f"{r['env_id']} {r['E']} envs x {r['env_steps'] // r['E']} steps {seconds(r['seconds'])} s "
            f"({rate(r['env_steps'] / r['seconds'])} env steps/s)" for r in reference["blog"].values()]
    floors = reference["floors"]
    lines = [f"reference, the env alone with no policy (this run): {'; '.join(blog) or 'no blog config ran'}"]
    if floors:
        lines.append(f"  and the env-alone floors of {len(floors)} suite tasks, the reference of the suite's "
                     "\"x env floor\" (table below)")
    return lines


def split_table(blog):
    """Where an epoch's time goes, per blog config, and the real epoch beside it."""
    names = list(blog)
    headers = ["part of the epoch"]
    for name in names:
        headers += [f"{name} [s]", "%"]
    rows = []
    for key, label in (*SPLIT_PARTS, ("total", "sum of parts (instrumented epoch)")):
        row = [label]
        for name in names:
            part, total = blog[name]["split_median_s"][key], blog[name]["split_median_s"]["total"]
            row += [seconds(part), f"{100 * part / total:.1f}"]
        rows.append(row)
    extra = (
        ("minipg.reinforce epoch [s]", lambda r: seconds(r["epoch_median_s"])),
        ("  as reinforce records it [s]", lambda r: seconds(r["epoch_recorded_median_s"])),
        ("  CPU time [s]", lambda r: seconds(r["epoch_cpu_median_s"])),
        ("sum of parts / epoch", lambda r: f"{r['sum_over_epoch']:.3f}"),
        ("env steps/s (epoch)", lambda r: rate(r["env_steps_per_s"])),
        ("learn-step peak, tracemalloc [MiB]", lambda r: mib(r["learn_peak_bytes"])),
        ("rollout buffers [MiB]", lambda r: mib(r["buffers_bytes"])),
        ("process maxrss so far [MiB]", lambda r: mib(r["maxrss_bytes"])),
    )
    for label, value in extra:
        row = [label]
        for name in names:
            row += [value(blog[name]), ""]
        rows.append(row)
    sizes = ", ".join(f"{name} E={blog[name]['E']} T={blog[name]['T']}, {blog[name]['rounds']} rounds"
                      for name in names)
    return format_table(headers, rows, f"== Epoch split, medians ({sizes}) ==")


def baseline_table(blog):
    """The real epoch against the env alone, and the targets."""
    headers = ["config", "E", "T", "env alone [s]", "env alone steps/s", "epoch [s]", "epoch / env alone",
               "target", "met"]
    rows = [[name, r["E"], r["T"], seconds(r["env_alone_median_s"]), rate(r["env_alone_steps_per_s"]),
             seconds(r["epoch_median_s"]), f"{r['epoch_over_env_alone']:.2f}x", r["target"], met(r["target_met"])]
            for name, r in blog.items()]
    return format_table(headers, rows, "== The env alone (T steps of fixed actions, same E) against the epoch ==")


def scaling_table(rows):
    """Swing-up epoch and memory over E × T, and how far from linear in E·T."""
    headers = ["E", "T", "samples E*T", "epoch [s]", "us/sample", "learn peak [MiB]", "buffers [MiB]",
               "maxrss [MiB]"]
    rows = sorted(rows, key=lambda r: (r["E"], r["T"]))
    body = [[r["E"], r["T"], f"{r['samples']:,}", seconds(r["epoch_median_s"]), f"{r['us_per_sample']:.3f}",
             mib(r["learn_peak_bytes"]), mib(r["buffers_bytes"]), mib(r["maxrss_bytes"])] for r in rows]
    title = f"== Swing-up scaling: minipg.reinforce epochs, median of {rows[0]['rounds']} per size =="
    return format_table(headers, body, title) + [linearity_line(rows)]


def linearity_line(rows):
    """How far from proportional to E·T: the largest µs/sample over the smallest (target ≤ 1.5),
    also for the rows with E ≥ each E of the table, which shows where a fixed per-step cost
    stops mattering."""
    def spread(subset):
        per_sample = [r["us_per_sample"] for r in subset]
        return max(per_sample) / min(per_sample)

    if len(rows) < 2:
        return "linearity: needs two or more (E, T) rows"
    overall = spread(rows)
    parts = [(f"linearity: max/min us per sample = {overall:.2f}x (target <= 1.5x: "
              f"{'met' if overall <= 1.5 else 'NOT met'})")]
    for smallest in sorted({r["E"] for r in rows})[1:]:
        subset = [r for r in rows if r["E"] >= smallest]
        if len(subset) >= 2:
            parts.append(f"E >= {smallest}: {spread(subset):.2f}x")
    return "; ".join(parts)


def stepping_table(envs):
    """The swing-up twin against the package's classes, and the speed-up when both ran."""
    labels = {"vector": "numpy twin (make_env vector)", "sync": "package, one by one (make_env sync)"}
    headers = ["swing-up implementation", "E", "steps", "time [s]", "env steps/s"]
    rows = [[labels[key], r["E"], r["steps"], seconds(r["median_s"]), rate(r["steps_per_s"])]
            for key, r in envs.items()]
    if {"vector", "sync"} <= set(envs):
        speedup = envs['vector']['steps_per_s'] / envs['sync']['steps_per_s']
        rows.append(["twin / package", "", "", "", f"{speedup:.1f}x"])
    rounds = next(iter(envs.values()))["rounds"]
    return format_table(headers, rows, f"== Swing-up env stepping, median of {rounds} runs ==")


def busy_table(busy):
    """Each blog config's epoch alone and beside a second process training the same thing."""
    headers = ["config", "E", "T", "rounds", "alone epoch [s]", "busy epoch [s]", "slowdown", "target", "met"]
    rows = [[name, r["E"], r["T"], r["rounds"], seconds(r["alone_median_s"]), seconds(r["busy_median_s"]),
             f"{r['slowdown']:.2f}x", f"<= {BUSY_MAX_SLOWDOWN}x", met(r["target_met"])]
            for name, r in busy.items()]
    return format_table(headers, rows, "== Busy machine: alone (competitor stopped) vs beside a second "
                                       "process training the same configuration ==")


def threads_text(count, noun="thread"):
    return f"{count} {noun}{'' if count == 1 else 's'}"


def solve_table(r):
    """The solve epoch part by part: seconds, GFLOP, GFLOP/s, and the learn parts against the ceiling."""
    threads = r["worker_threads"]
    headers = ["part of the solve epoch", "s", "%", "CPU/wall", "threads", "GFLOP", "GFLOP/s",
               "/ ceiling 1 thread", f"/ ceiling {threads_text(threads)}"]
    total = r["seconds"]["total"]
    rows = []
    for part, label in (*SOLVE_PARTS, ("total", "epoch (train's clock)")):
        wall = r["seconds"][part]
        cpu = f"{r['cpu_seconds'][part] / wall:.2f}" if part in TIMED_PARTS and wall > 0 else ""
        used = r["part_threads"].get(part, 1 if part in TIMED_PARTS else "")
        over = r["over_ceiling"].get(part)
        ratios = [f"{over['one_thread']:.2f}", f"{over['threads']:.2f}"] if over else ["", ""]
        rows.append([label, seconds(wall), f"{100 * wall / total:.1f}", cpu, used, f"{r['gflop'][part]:.3f}",
                     f"{r['gflop_per_s'][part]:.1f}", *ratios])
    rows.append(["epoch (the train call, pytest-benchmark)", seconds(r["epoch_call_median_s"]), "", "", "", "", "",
                 "", ""])
    title = (f"== Solve epoch (run_swingup.SOLVE: E={r['E']} T={r['T']}, {r['dtype']}, {r['update_epochs']} passes "
             f"in minibatches of {r['minibatch_size']}, value_steps {r['value_steps']}, mirror {r['mirror']}, "
             f"chunk_size {r['chunk_size']}), "
             f"{threads_text(threads, 'worker thread')}, medians of {r['rounds']} rounds ==")
    terms = ", ".join(f"{term} {value:.3f}" for term, value in r["gflop_terms"].items())
    return format_table(headers, rows, title) + [f"GFLOP by term: {terms}"]


def ceiling_table(r):
    """The machine's matrix-product rate for the learn step's shapes, and what it means for the epoch."""
    threads, width = r["worker_threads"], r["ceiling_width"]
    labels = {"value_fit": "value fit's chunk", "passes": "passes' chunk (a minibatch, mirrored)"}
    headers = ["products of", "rows", "1 thread GFLOP/s", f"{threads_text(threads)} GFLOP/s", "speed-up"]
    rows = []
    for part, rows_count in r["ceiling_rows"].items():
        one, many = r["ceiling_gflop_per_s"][part]["one_thread"], r["ceiling_gflop_per_s"][part]["threads"]
        rows.append([labels[part], rows_count, f"{one:.1f}", f"{many:.1f}", f"{many / one:.2f}x"])
    title = (f"== Matrix-product ceiling: {r['dtype']} (rows x {width}) @ ({width} x {width}), its dW and dx, "
             f"products only (no bias, no ReLU), each thread its own, medians of {r['rounds']} rounds ==")
    at, learn = r["learn_at_ceiling_s"], r["learn_s"]
    epoch_at = r["epoch_at_ceiling_s"]
    learn_gflop = sum(r["gflop"][part] for part in LEARN_PARTS)
    return format_table(headers, rows, title) + [
        f"learn step (value fit beside the passes): {learn_gflop:.2f} GFLOP in {seconds(learn)} s; at the ceiling "
        f"{seconds(at['one_thread'])} s on 1 thread, {seconds(at['threads'])} s on {threads_text(threads)}",
        f"epoch with the learn step at the ceiling (rollout and rest as measured): "
        f"{seconds(epoch_at['one_thread'])} s on 1 thread, {seconds(epoch_at['threads'])} s on {threads_text(threads)} "
        f"(measured {seconds(r['seconds']['total'])} s)",
    ]


def floors_table(floors):
    """Each suite task's env-alone floor: measured, per second, and for its preset's budget."""
    headers = ["task", "E", "T", "vectorization", "env steps", "rounds", "floor [s]", "env steps/s",
               "preset's budget", "floor of the budget [s]"]
    rows = [[env_id, r["E"], r["T"], r["vectorization"], f"{r['env_steps']:,}", r["rounds"], seconds(r["median_s"]),
             rate(r["steps_per_s"]), f"{r['budget_env_steps']:,}", f"{r['budget_s']:.1f}"]
            for env_id, r in floors.items()]
    return format_table(headers, rows, "== Env-alone floors of the suite's tasks (minipg/tools/floor.py: the "
                                       "preset's env, random actions, no policy), medians ==")


def envpool_table(results):
    """Each suite task's env-alone floor with the preset's gymnasium vectorization and with EnvPool."""
    headers = ["task", "E", "vectorization", "env steps", "rounds", "gymnasium steps/s", "EnvPool steps/s",
               "EnvPool ÷ gymnasium"]
    rows = [[env_id, r["E"], r["vectorization"], f"{r['env_steps']:,}", r["rounds"], rate(r["gymnasium_steps_per_s"]),
             rate(r["envpool_steps_per_s"]), f"{r['speedup']:.2f}×"] for env_id, r in results.items()]
    return format_table(headers, rows, "== EnvPool against gymnasium: the env-alone floor of each, back to back in "
                                       "each round, medians ==")


def minibatch_table(results):
    """The minibatch Adam step of a preset's network, and its products and Adam alone (CPU µs)."""
    headers = ["preset", "network", "minibatch", "rounds", "minibatch step [µs]", "policy.step [µs]",
               "its 6 products [µs]", "Adam [µs]"]
    rows = [[env_id, "-".join(str(size) for size in r["hidden"]), r["minibatch_size"], r["rounds"],
             f"{r['minibatch_step_us_median']:.1f}", f"{r['policy_step_us_median']:.1f}",
             f"{r['products_us_median']:.1f}", f"{r['adam_us_median']:.1f}"] for env_id, r in results.items()]
    return format_table(headers, rows, "== The minibatch Adam step (CPU time per call, medians) ==")


def render(meta, results):
    """Every table that has figures, after the header; blank lines between them."""
    lines = header(meta)
    sections = []
    if results["blog"]:
        sections += [split_table(results["blog"]), baseline_table(results["blog"])]
    if results["scaling"]:
        sections.append(scaling_table(results["scaling"]))
    if results["envs"]:
        sections.append(stepping_table(results["envs"]))
    if results["busy"]:
        sections.append(busy_table(results["busy"]))
    if results["solve"]:
        solve = results["solve"]["solve"]
        sections += [solve_table(solve), ceiling_table(solve)]
    if results["floors"]:
        sections.append(floors_table(results["floors"]))
    if results["envpool"]:
        sections.append(envpool_table(results["envpool"]))
    if results["minibatch"]:
        sections.append(minibatch_table(results["minibatch"]))
    if not sections:
        lines.append("no figures: no benchmark finished with pytest-benchmark enabled")
    for section in sections:
        lines += ["", *section]
    return lines
