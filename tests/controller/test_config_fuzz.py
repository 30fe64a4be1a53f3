"""Any farm or campaign file, however broken, loads or gives one ConfigError naming the file."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.campaign import load_campaign
from controller.errors import ConfigError
from controller.farm import load_farm
from tests.controller.campaigns import FAKE_MODEL

FARM = """devices:
  - name: a
    address: 10.0.0.1:50051
    runner: lite
    labels: {soc: x}
  - name: b
    local: true
  - name: c
    ssh: {host: h, port: 22}
"""
CAMPAIGN = """name: c
model: m.mge
inputs:
  data: {shape: [1, 3], dtype: float32, seed: 1}
checks: [naive, shake]
tolerance: 1.0e-7
repeats: 3
"""


def _mutate(text: str, data) -> str:
    ops = data.draw(
        st.lists(
            st.tuples(
                st.integers(0, len(text)),
                st.integers(0, 6),
                st.sampled_from(["", ":", " ", "\n", "-", "[", "{", "'", "0", "x", "\t", "!!"]),
            ),
            max_size=4,
        )
    )
    for pos, cut, ins in ops:
        pos = min(pos, len(text))
        text = text[:pos] + ins + text[pos + cut :]
    return text


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_farm_never_crashes(tmp_path: Path, data) -> None:
    path = tmp_path / "farm.yaml"
    path.write_text(_mutate(FARM, data))
    try:
        load_farm(path)
    except ConfigError as exc:
        assert str(exc).startswith(str(path)) and "\n" not in str(exc)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_campaign_never_crashes(tmp_path: Path, data) -> None:
    (tmp_path / "m.mge").write_bytes(FAKE_MODEL)
    path = tmp_path / "campaign.yaml"
    path.write_text(_mutate(CAMPAIGN, data))
    try:
        load_campaign(path)
    except ConfigError as exc:
        assert str(exc).startswith(str(path)) and "\n" not in str(exc)
