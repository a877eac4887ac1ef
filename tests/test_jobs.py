"""Runs in forked processes (minipg/tools/jobs.py): results in order, a child's exit and death."""

import os

import pytest

from minipg.tools.jobs import ChildFailed, PrefixedLines, run_in_processes


def square_and_say(x):
    print(f"working on {x}")
    return x * x


def test_results_come_back_in_item_order(capfd):
    assert run_in_processes(square_and_say, [3, 1, 4, 1, 5], jobs=2) == [9, 1, 16, 1, 25]
    lines = capfd.readouterr().out.splitlines()
    assert sorted(lines) == sorted(f"[{x}] working on {x}" for x in [3, 1, 4, 1, 5])


def exit_on_two(x):
    if x == 2:
        raise SystemExit(7)
    return x


def test_a_childs_exit_status_is_raised_after_all_have_ended():
    with pytest.raises(SystemExit) as exit_:
        run_in_processes(exit_on_two, [1, 2, 3], jobs=3)
    assert exit_.value.code == 7


def die_on_two(x):
    if x == 2:
        os._exit(5)  # as if killed: no result is sent
    return x


def test_a_child_that_dies_is_named():
    with pytest.raises(ChildFailed, match="the process running 2 ended without a result \\(exit code 5\\)"):
        run_in_processes(die_on_two, [1, 2, 3], jobs=2)


def test_prefixed_lines_write_whole_lines_only():
    class Sink:
        def __init__(self):
            self.text = ""

        def write(self, text):
            self.text += text

        def flush(self):
            pass

    sink = Sink()
    stream = PrefixedLines(sink, "[s] ")
    stream.write("a")
    assert sink.text == ""
    stream.write("b\nc\n")
    assert sink.text == "[s] ab\n[s] c\n"
