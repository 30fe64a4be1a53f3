"""What lar-lite prints: load_and_run's model-info table and the output summary."""

from __future__ import annotations

import re

import numpy as np
import pytest

from agent.lar_lite.report import model_info, output_lines, text_table, value_summary

# The body of load_and_run's --model-info table as MegEngine's docs show it
# (resnet50; the title line above it is set into the top border).
DOC_TABLE_BODY = """\
|  type  |  name  |     shape     |  dtype  |
+--------+--------+---------------+---------+
| INPUT  |  data  | {1,3,224,224} | float32 |
+--------+--------+---------------+---------+
| OUTPUT | fc.ADD |   {1,1000}    | float32 |
+--------+--------+---------------+---------+"""


def test_model_info_matches_load_and_runs_table():
    table = model_info([("data", [1, 3, 224, 224], "float32")], [("fc.ADD", [1, 1000], "float32")])
    lines = table.splitlines()
    assert "\n".join(lines[1:]) == DOC_TABLE_BODY
    # The title replaces the start of the top border; the border keeps its width.
    assert lines[0].startswith("+Runtime Model Info-")
    assert len(lines[0]) == len(lines[2]) and lines[0].endswith("+")


def test_title_longer_than_the_table():
    lines = text_table("A very long title indeed", [["a", "b"]]).splitlines()
    assert lines[0] == "+A very long title indeed"
    assert lines[1] == "| a | b |"


def test_value_summary_prints_like_the_text_dump():
    assert value_summary(np.array([0.5], np.float32)) == "[0.5]min=0.5 max=0.5 mean=0.5 l2=0.5 sd=N/A"
    text = value_summary(np.arange(7, dtype=np.int32))
    assert text == "[0, 1, 2, 3, 4, ...]min=0 max=6 mean=3 l2=3.61 sd=2.16"


def test_value_summary_survives_inf_and_nan():
    text = value_summary(np.array([np.inf, -np.inf, 1.0], np.float32))
    assert text.startswith("[inf, -inf, 1]min=-inf max=inf mean=")
    assert "nan" in text


def test_output_lines_name_shape_dtype():
    lines = output_lines([("prob", np.zeros((1, 10), np.float32)), ("pred", np.array([3], np.int32))])
    assert lines[0].startswith("output[0] prob: shape={1,10} dtype=float32 [0, 0, 0, 0, 0, ...]")
    assert lines[1].startswith("output[1] pred: shape={1} dtype=int32 [3]min=3")


@pytest.mark.parametrize("model", ["tiny_cnn", "mlp", "big_conv"])
def test_value_summary_is_megengines_text_dump_val(megengine_fixtures, model):
    """Our summary of each binary-dumped var equals MegEngine's own `val:` text for it."""
    from tests.lar_lite.test_dumps import read_bin

    run = megengine_fixtures / "runs" / model / "naive"
    checked, var_id = 0, None
    for line in (run / "io_dump.txt").read_text().splitlines():
        head = re.match(r"var(\d+) produced:", line)
        if head:
            var_id = int(head.group(1))
        elif line.startswith(" val: ") and (run / "bin" / f"{var_id:06x}").is_file():
            _, _, values = read_bin(run / "bin" / f"{var_id:06x}")
            assert value_summary(values) + " s" == line[len(" val: ") :], var_id
            checked += 1
    assert checked == len(list((run / "bin").iterdir()))


def test_finished_line_like_load_and_run():
    from agent.lar_lite.run import _finished_line

    assert _finished_line([1.0, 3.0]).strip() == (
        "=== finished test #0: time=4.000 ms avg_time=2.000 ms standard_deviation=1.414 ms min=1.000 ms max=3.000 ms"
    )
    # One iteration: load_and_run divides 0 by 0 for the deviation.
    assert "standard_deviation=-nan ms min=1.000 ms" in _finished_line([1.0])
