"""The paper's published values for Tables 1-4 (Dhariwal & Nichol 2021, arXiv 2105.05233v4), as data.

Table 1 and Table 2 print the first row as an absolute FID and every other row as a difference from it;
both are kept as printed (`delta=True` rows) together with the derived absolute values. Row keys are the
identifiers shared with the reproduction plan (runners.presets).
"""

from __future__ import annotations

from dataclasses import dataclass

CHECK = "\u2713"  # the paper's check mark
CROSS = "\u2717"  # the paper's cross mark
DASH = "\u2013"  # the paper's "no scale" en dash


@dataclass(frozen=True)
class Table1Row:
    """One architecture ablation row (paper Table 1): settings as printed (blank = as the baseline) and FIDs."""

    key: str
    channels: str
    depth: str
    heads: str
    attention: str
    updown: str
    rescale: str
    fid_700k: float  # absolute for the baseline, a difference from it otherwise
    fid_1200k: float


TABLE1: tuple[Table1Row, ...] = (
    Table1Row("baseline", "160", "2", "1", "16", CROSS, CROSS, 15.33, 13.21),
    Table1Row("channels128-depth4", "128", "4", "", "", "", "", -0.21, -0.48),
    Table1Row("heads4", "", "", "4", "", "", "", -0.54, -0.82),
    Table1Row("multires-attention", "", "", "", "32,16,8", "", "", -0.72, -0.66),
    Table1Row("biggan-updown", "", "", "", "", CHECK, "", -1.20, -1.21),
    Table1Row("rescale-resblock", "", "", "", "", "", CHECK, 0.16, 0.25),
    Table1Row("combined", "160", "2", "4", "32,16,8", CHECK, CROSS, -3.14, -3.00),
)
TABLE1_MILESTONES = (700_000, 1_200_000)


@dataclass(frozen=True)
class Table2Row:
    """One attention-heads row (paper Table 2): number of heads or channels per head, FID (delta after row 1)."""

    key: str
    heads: str
    head_channels: str
    fid: float


TABLE2: tuple[Table2Row, ...] = (
    Table2Row("heads1", "1", "", 14.08),
    Table2Row("heads2", "2", "", -0.50),
    Table2Row("heads4", "4", "", -0.97),
    Table2Row("heads8", "8", "", -1.17),
    Table2Row("head-channels32", "", "32", -1.36),
    Table2Row("head-channels64", "", "64", -1.03),
    Table2Row("head-channels128", "", "128", -1.08),
)
TABLE2_MILESTONE = 700_000


@dataclass(frozen=True)
class Table3Row:
    """AdaGN vs Addition + GroupNorm (paper Table 3); both FIDs absolute."""

    key: str
    operation: str
    fid: float


TABLE3: tuple[Table3Row, ...] = (
    Table3Row("adagn", "AdaGN", 13.06),
    Table3Row("addition-groupnorm", "Addition + GroupNorm", 15.08),
)
TABLE3_MILESTONE = 700_000


@dataclass(frozen=True)
class GuidanceRow:
    """Classifier guidance on ImageNet 256x256 (paper Table 4); scale None = no guidance."""

    conditional: bool
    scale: float | None
    fid: float
    sfid: float
    inception_score: float
    precision: float
    recall: float


GUIDANCE: tuple[GuidanceRow, ...] = (
    GuidanceRow(False, None, 26.21, 6.35, 39.70, 0.61, 0.63),
    GuidanceRow(False, 1.0, 33.03, 6.99, 32.92, 0.56, 0.65),
    GuidanceRow(False, 10.0, 12.00, 10.40, 95.41, 0.76, 0.44),
    GuidanceRow(True, None, 10.94, 6.02, 100.98, 0.69, 0.63),
    GuidanceRow(True, 1.0, 4.59, 5.25, 186.70, 0.82, 0.52),
    GuidanceRow(True, 10.0, 9.11, 10.93, 283.92, 0.88, 0.32),
)
GUIDANCE_SCALES = (1.0, 10.0)


def guidance_key(conditional: bool, scale: float | None) -> str:
    """Row key of a guidance setting, e.g. 'cond-g10' or 'uncond-noguidance'."""
    side = "cond" if conditional else "uncond"
    return f"{side}-noguidance" if scale is None else f"{side}-g{scale:g}"


def published_guidance(conditional: bool, scale: float | None) -> GuidanceRow | None:
    """The paper's row for this setting, or None when the paper did not report it."""
    for row in GUIDANCE:
        if row.conditional == conditional and row.scale == scale:
            return row
    return None


def table1_absolute(row: Table1Row) -> tuple[float, float]:
    """A Table 1 row's absolute FIDs at 700K and 1200K (baseline + printed difference)."""
    base = TABLE1[0]
    if row.key == base.key:
        return base.fid_700k, base.fid_1200k
    return round(base.fid_700k + row.fid_700k, 2), round(base.fid_1200k + row.fid_1200k, 2)


def table2_absolute(row: Table2Row) -> float:
    base = TABLE2[0]
    return base.fid if row.key == base.key else round(base.fid + row.fid, 2)
