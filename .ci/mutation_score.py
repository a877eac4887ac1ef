"""Print the mutation score of the last `mutmut run`, per core module and in total.

    score = killed / (killed + survived)

mutmut keeps one result per mutant in mutants/minipg/<module>.py.meta (JSON, exit code by mutant
name).  A mutant in code that no selected test runs ("no tests" to mutmut) counts as survived;
timeouts and mutants not checked yet are shown apart.  Survivors are listed by name, and those
that docs/mutation.md does not mention are flagged: every survivor left must be explained there.
Run from the repository root (`make mutation` does).
"""

import json
import tomllib
from pathlib import Path

# mutmut's exit codes (mutmut/stats.py): 1 = a test failed, 3 = pytest crashed; both kill the mutant.
STATUS_BY_EXIT_CODE = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests",
                       None: "not checked", 24: "timeout", -24: "timeout", 36: "timeout",
                       152: "timeout", 255: "timeout"}


def score(killed, survived):
    return f"{100.0 * killed / (killed + survived):.1f}%" if killed + survived else "-"


def main():
    modules = tomllib.loads(Path("pyproject.toml").read_text())["tool"]["mutmut"]["only_mutate"]
    explained = Path("docs/mutation.md").read_text() if Path("docs/mutation.md").exists() else ""
    total_killed = total_survived = 0
    survivors = []  # (name, status)
    print(f"{'module':<28}{'killed':>8}{'survived':>10}{'score':>9}   other")
    for module in modules:
        meta = Path("mutants") / f"{module}.meta"
        if not meta.exists():
            print(f"{module:<28}  no results (run `make mutation` first)")
            continue
        counts = {}
        for name, exit_code in json.loads(meta.read_text())["exit_code_by_key"].items():
            status = STATUS_BY_EXIT_CODE.get(exit_code, f"exit code {exit_code}")
            counts[status] = counts.get(status, 0) + 1
            if status in ("survived", "no tests"):
                survivors.append((name, status))
        killed = counts.pop("killed", 0)
        survived = counts.pop("survived", 0) + counts.pop("no tests", 0)
        total_killed += killed
        total_survived += survived
        other = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        print(f"{module:<28}{killed:>8}{survived:>10}{score(killed, survived):>9}   {other}")
    print(f"{'total':<28}{total_killed:>8}{total_survived:>10}{score(total_killed, total_survived):>9}")
    if survivors:
        print(f"\n{len(survivors)} survivors (`.venv/bin/mutmut show NAME` prints the change):")
        for name, status in survivors:
            notes = [note for note, applies in (("no selected test runs it", status == "no tests"),
                                                ("not explained in docs/mutation.md", name not in explained))
                     if applies]
            print(f"  {name}" + (f"   <- {'; '.join(notes)}" if notes else ""))


if __name__ == "__main__":
    main()
