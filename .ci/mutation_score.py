"""Print the mutation score of the last `mutmut run`, per core module and in total.

    score = killed / (killed + survived)

mutmut keeps one result per mutant in mutants/minipg/<module>.py.meta (JSON, exit code by mutant
name).  Timeouts and mutants no test reaches are counted apart, outside the score.  Survivors are
listed by name, and those that docs/mutation.md does not mention are flagged: every survivor left
must be explained there.  Run from the repository root (`make mutation` does).
"""

import json
import tomllib
from pathlib import Path

# mutmut's exit codes (mutmut/stats.py): 1 = a test failed, 3 = pytest crashed; both kill the mutant.
KILLED, SURVIVED = {1, 3}, {0}
TIMEOUT = {24, -24, 36, 152, 255}
NOT_CHECKED = {None}
NO_TESTS = {5, 33}


def classify(exit_code):
    for name, codes in (("killed", KILLED), ("survived", SURVIVED), ("timeout", TIMEOUT),
                        ("not checked", NOT_CHECKED), ("no tests", NO_TESTS)):
        if exit_code in codes:
            return name
    return "other"


def main():
    modules = tomllib.loads(Path("pyproject.toml").read_text())["tool"]["mutmut"]["only_mutate"]
    documented = Path("docs/mutation.md").read_text() if Path("docs/mutation.md").exists() else ""
    totals = {"killed": 0, "survived": 0}
    survivors = []
    print(f"{'module':<28}{'killed':>8}{'survived':>10}{'score':>9}   other")
    for module in modules:
        meta = Path("mutants") / f"{module}.meta"
        if not meta.exists():
            print(f"{module:<28}  no results (run `make mutation` first)")
            continue
        counts = {}
        for name, exit_code in json.loads(meta.read_text())["exit_code_by_key"].items():
            status = classify(exit_code)
            counts[status] = counts.get(status, 0) + 1
            if status == "survived":
                survivors.append(name)
        killed, survived = counts.pop("killed", 0), counts.pop("survived", 0)
        totals["killed"] += killed
        totals["survived"] += survived
        other = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        print(f"{module:<28}{killed:>8}{survived:>10}{score(killed, survived):>9}   {other}")
    print(f"{'total':<28}{totals['killed']:>8}{totals['survived']:>10}"
          f"{score(totals['killed'], totals['survived']):>9}")
    undocumented = [name for name in survivors if name not in documented]
    if survivors:
        print(f"\n{len(survivors)} survivors (`.venv/bin/mutmut show NAME` prints the change):")
        for name in survivors:
            print(f"  {name}{'   <- not explained in docs/mutation.md' if name in undocumented else ''}")


def score(killed, survived):
    return f"{100.0 * killed / (killed + survived):.1f}%" if killed + survived else "-"


if __name__ == "__main__":
    main()
