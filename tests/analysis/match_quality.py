"""Precision and recall of the var matching on two real dump folders, judged by values only.

A proposed pair is right when its values agree after the layout undo (within
1e-5 on MegEngine's metric) or, where kernels legitimately differ more, when
the B var is far closer to its partner than to any other A var it could be
read as. A B var "has a counterpart" when some A var agrees with it within
1e-3 after an undo; recall is over those. Used by the tests and by
``python tests/analysis/match_quality.py ROOT`` to print the figures.
"""

from __future__ import annotations

import itertools
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Tuple

from analysis.match import RunVars, folder_loader, pair_runs
from analysis.match.pairing import Pairing

CLOSE = 1e-5
COUNTERPART = 1e-3
FAR = 10.0  # "far closer": the partner's error is at least this many times smaller than any other's
#: Runs whose numbers are wrong, so values cannot judge their pairs (the pairs are listed, not judged).
ENGINE_WRONG = {
    ("res_dw", "nhwcd4"): "MegEngine 1.13's NHWCD4 pass gives other numbers on this residual net: its logits are "
    "0.49 off the default run's; the first differing var is the FUSE_ADD_RELU after the residual ConvBias",
}
CONFIGS = ("default", "naive", "nchw44", "nchw88", "nhwcd4", "layout_transform", "const_shape")


@dataclass
class Quality:
    pairs: int = 0
    wrong: List[Tuple[int, int, float]] = field(default_factory=list)
    with_counterpart: int = 0
    found: int = 0
    missed: List[int] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return 1.0 if not self.pairs else (self.pairs - len(self.wrong)) / self.pairs

    @property
    def recall(self) -> float:
        return 1.0 if not self.with_counterpart else self.found / self.with_counterpart


def judge(folder_a: Path, folder_b: Path) -> Quality:
    ra, rb = RunVars.from_dump_folder(folder_a), RunVars.from_dump_folder(folder_b)
    loader = folder_loader(folder_a, folder_b)
    matching = pair_runs(ra, rb, loader)
    ref = Pairing(ra, rb, loader)  # only for its distance(), with a cache of the values
    q = Quality()
    paired_b = {b for _, b in matching.pairs}
    for a, b in matching.pairs:
        q.pairs += 1
        d = ref.distance(a, b)
        if d <= CLOSE:
            continue
        others = [ref.distance(x, b) for x in ra.order if x != a and ref.aligns(x, b)]
        if not math.isfinite(d) or any(o <= d * FAR for o in others):
            q.wrong.append((a, b, d))
    for b in rb.order:
        has = any(ref.aligns(x, b) and ref.distance(x, b) <= COUNTERPART for x in ra.order)
        if has:
            q.with_counterpart += 1
            if b in paired_b:
                q.found += 1
            else:
                q.missed.append(b)
    return q


def all_pairs(root: Path, model: str) -> Dict[Tuple[str, str], Quality]:
    """Quality for every ordered pair of the configurations present under ``root/model``."""
    present = [c for c in CONFIGS if _usable(root / model / c) and (model, c) not in ENGINE_WRONG]
    return {
        (x, y): judge(root / model / x / "bin", root / model / y / "bin") for x, y in itertools.permutations(present, 2)
    }


def _usable(run: Path) -> bool:
    """A run that finished (run.json says exit 0, when there is one) and wrote binary dumps."""
    info = run / "run.json"
    if info.is_file() and json.loads(info.read_text()).get("exit_code") != 0:
        return False
    return (run / "bin").is_dir() and any((run / "bin").iterdir())


def main(argv: List[str]) -> int:
    root = Path(argv[0])
    for model in sorted(p.name for p in root.iterdir() if p.is_dir()):
        res = all_pairs(root, model)
        pairs = sum(q.pairs for q in res.values())
        wrong = sum(len(q.wrong) for q in res.values())
        cp = sum(q.with_counterpart for q in res.values())
        found = sum(q.found for q in res.values())
        print(f"{model}: {len(res)} run pairs, {pairs} pairs proposed, {wrong} wrong; recall {found}/{cp}")
        for (m, c), why in ENGINE_WRONG.items():
            if m == model:
                print(f"  {c} left out: {why}")
        for (x, y), q in res.items():
            if q.wrong or q.missed:
                print(f"  {x} vs {y}: wrong {q.wrong} missed {q.missed}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
