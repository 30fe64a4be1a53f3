"""An `address:` device behind TLS (mutual) and a token, as farm.yaml describes it."""

from __future__ import annotations

from pathlib import Path

import yaml

from controller.campaign import load_campaign
from controller.campaign_run import run_campaign
from controller.farm import load_farm
from tests.controller.campaigns import fake_program, write_fake_campaign
from tests.support.agent import agent_factory, script_runner  # noqa: F401  (fixture)


def test_tls_device_runs_and_a_wrong_ca_is_refused(tmp_path: Path, agent_factory) -> None:  # noqa: F811
    from tests.agent.certs import make_pki  # skips without the cryptography package

    pki = make_pki(tmp_path / "pki")
    other = make_pki(tmp_path / "other-pki", ca_name="someone else")
    prog = fake_program(tmp_path, "fake", vars=10, size=16)
    agent = agent_factory(
        {"lite": script_runner(prog, type="lite")},
        tls={"cert": pki["server_cert"], "key": pki["server_key"], "client_ca": pki["ca"]},
    )
    (tmp_path / "token").write_text(agent.token + "\n")
    tls = {"ca": str(pki["ca"]), "cert": str(pki["client_cert"]), "key": str(pki["client_key"])}
    bad = {"ca": str(other["ca"]), "cert": str(pki["client_cert"]), "key": str(pki["client_key"])}
    (tmp_path / "farm.yaml").write_text(
        yaml.safe_dump(
            {
                "devices": [
                    {"name": "secure", "address": agent.address, "token_file": "token", "tls": tls},
                    {"name": "wrong-ca", "address": agent.address, "token_file": "token", "tls": bad},
                ]
            }
        )
    )
    camp = load_campaign(write_fake_campaign(tmp_path, "[shake]", "retries: 0\n"))
    report = run_campaign(load_farm(tmp_path / "farm.yaml"), camp, tmp_path / "out")
    by = {d.name: d for d in report.devices}
    assert by["secure"].healthy, by["secure"].reason
    assert not by["wrong-ca"].healthy
    assert by["wrong-ca"].address == agent.address and "unreachable" in by["wrong-ca"].reason
