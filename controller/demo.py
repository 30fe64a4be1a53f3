"""`make demo`: two local agents running lar-lite on the bundled tiny_cnn, naive, shake, cross, options; host-b runs
with `enable_nchw44` (an ARM board's deployment), so cross pairs the two graphs' vars by graph.

Prints the findings and where report.html is. Exits 0 once the campaign ran,
even though naive finds differences (that is the point of the demo);
`controller run` itself exits 1 when differences are found.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
from pathlib import Path
from typing import List, Optional

from controller.checks.result import CampaignReport
from controller.errors import EXIT_INTERRUPTED, describe

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m controller.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("demo-out"), help="result store (default: demo-out)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    from controller.campaign import load_campaign
    from controller.campaign_run import run_campaign
    from controller.farm import load_farm
    from controller.output import Output
    from controller.report.html import write_report_html
    from controller.report.json import write_report_json
    from controller.report.terminal import render

    output = Output()
    try:
        farm = load_farm(EXAMPLES / "farm.yaml")
        campaign = load_campaign(EXAMPLES / "campaign.yaml")
        # the demo owns its output folder: start clean every time
        shutil.rmtree(args.out / campaign.name, ignore_errors=True)
        output.err.print(
            f"demo: {len(farm.devices)} local agents running lar-lite on {campaign.model}, "
            f"checks {', '.join(campaign.checks)}",
            highlight=False,
        )
        with output.progress() as progress:
            report = run_campaign(farm, campaign, args.out, listener=progress)
        root = Path(report.store)
        write_report_json(report, root / "report.json")
        html = write_report_html(report, root / "report.html")
    except Exception as exc:  # noqa: BLE001 - worded by the controller's one table, as `controller` does
        failure = describe(exc)
        output.error(failure.line, failure.hint)
        return failure.exit_code
    except KeyboardInterrupt as exc:
        output.error(describe(exc).line)
        return EXIT_INTERRUPTED
    render(report, output.out)
    for line in matching_lines(report):
        output.out.print(line, highlight=False)
    verdict = "differences found (controller run would exit 1)" if not report.clean else "all checks within tolerance"
    output.out.print(f"demo: {verdict}", highlight=False)
    output.out.print(f"report.json: {(root / 'report.json').resolve()}", highlight=False)
    output.out.print(f"report.html: {html.resolve()}", highlight=False)
    return 0


def matching_lines(report: CampaignReport) -> List[str]:
    """One line per comparison whose two graphs differ: how analysis paired their vars."""
    lines = []
    seen = set()
    for check in report.checks:
        for cmp in check.comparisons:
            diff = cmp.diff
            if diff.matching != "graph" or cmp.runs in seen:
                continue  # the thresholds check shows cross's comparisons again
            seen.add(cmp.runs)
            a, b = cmp.runs
            reasons = sorted({reason.split(" var ")[0] for _, reason in diff.unmatched_a})
            lines.append(
                f"{check.kind} {a} vs {b}: graphs differ (options), vars paired by graph: {len(diff.pairs)} pairs; "
                f"{len(diff.unmatched_a)} of {a}'s and {len(diff.unmatched_b)} of {b}'s vars have no counterpart"
                + (f" ({'; '.join(reasons)})" if reasons else "")
            )
    return lines


if __name__ == "__main__":
    sys.exit(main())
