"""The paper's Tables 1-4 as data (Dhariwal & Nichol 2021, arXiv 2105.05233v4): every row's settings and its
published values, defined once. The reproduction plan (runners.presets, runners.plan) builds its runs from the
settings; the report (reports.tables) prints the settings and the published values beside ours.

Tables 1 and 2 print the first row as an absolute FID and every other row as a difference from it; those
differences are kept as printed, with the absolute values derived. Table 1's blank cells ("same as the
baseline") are derived from the settings, so the settings are never typed twice.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

CHECK = "\u2713"  # the paper's check mark
CROSS = "\u2717"  # the paper's cross mark
DASH = "\u2013"  # the paper's "no scale" en dash

#: The ablation network (ImageNet 128x128, channel_mult 1,1,2,3,4) has levels 128, 64, 32, 16, 8 px.
LOWEST_RES = 8
BASELINE_ATTENTION = (16,)
MULTIRES_ATTENTION = (32, 16, 8)
TABLE1_MILESTONES = (700_000, 1_200_000)
TABLE23_MILESTONE = 700_000


@dataclass(frozen=True)
class ArchSetting:
    """One row's architecture in the paper's terms (Tables 1-3); the defaults are Table 1's baseline."""

    channels: int = 160
    depth: int = 2
    heads: int = 1
    head_channels: int | None = None  # overrides `heads` when set (heads = width / head_channels)
    attention: tuple[int, ...] = BASELINE_ATTENTION  # resolutions of the 128 px network, in pixels
    updown: bool = False  # BigGAN residual up/downsampling
    rescale: bool = False  # residual connections rescaled by 1/sqrt(2)
    adagn: bool = True  # AdaGN (False: Addition + GroupNorm, Ho et al.)


# ----------------------------------------------------------------------------------------------------------------
# Table 1: architecture ablation, FID at 700K and 1200K iterations.


@dataclass(frozen=True)
class Table1Row:
    key: str
    arch: ArchSetting
    fid_700k: float  # absolute for the baseline, a difference from it otherwise (as printed)
    fid_1200k: float
    print_all: bool = False  # the combined row prints every setting, the others only what differs


_T1_BASE = ArchSetting()

TABLE1: tuple[Table1Row, ...] = (
    Table1Row("baseline", _T1_BASE, 15.33, 13.21, print_all=True),
    Table1Row("channels128-depth4", dataclasses.replace(_T1_BASE, channels=128, depth=4), -0.21, -0.48),
    Table1Row("heads4", dataclasses.replace(_T1_BASE, heads=4), -0.54, -0.82),
    Table1Row("multires-attention", dataclasses.replace(_T1_BASE, attention=MULTIRES_ATTENTION), -0.72, -0.66),
    Table1Row("biggan-updown", dataclasses.replace(_T1_BASE, updown=True), -1.20, -1.21),
    Table1Row("rescale-resblock", dataclasses.replace(_T1_BASE, rescale=True), 0.16, 0.25),
    Table1Row("combined", dataclasses.replace(_T1_BASE, heads=4, attention=MULTIRES_ATTENTION, updown=True),
              -3.14, -3.00, print_all=True),
)  # fmt: skip


def _mark(flag: bool) -> str:
    return CHECK if flag else CROSS


def table1_cells(row: Table1Row) -> tuple[str, str, str, str, str, str]:
    """The row's setting cells as the paper prints them (blank = as the baseline)."""
    a, base = row.arch, _T1_BASE
    values = (str(a.channels), str(a.depth), str(a.heads), ",".join(map(str, a.attention)), _mark(a.updown),
              _mark(a.rescale))  # fmt: skip
    if row.print_all:
        return values
    defaults = (str(base.channels), str(base.depth), str(base.heads), ",".join(map(str, base.attention)),
                _mark(base.updown), _mark(base.rescale))  # fmt: skip
    differs = [v != d for v, d in zip(values, defaults)]
    if a.channels != base.channels or a.depth != base.depth:  # the paper prints width and depth together
        differs[0] = differs[1] = True
    return tuple(v if d else "" for v, d in zip(values, differs))  # type: ignore[return-value]


def table1_absolute(row: Table1Row) -> tuple[float, float]:
    """A Table 1 row's absolute FIDs at 700K and 1200K (baseline + printed difference)."""
    base = TABLE1[0]
    if row.key == base.key:
        return base.fid_700k, base.fid_1200k
    return round(base.fid_700k + row.fid_700k, 2), round(base.fid_1200k + row.fid_1200k, 2)


# ----------------------------------------------------------------------------------------------------------------
# Table 2: attention heads / channels per head; base: 128 channels, depth 2, multi-resolution attention,
# BigGAN up/down, 700K iterations.


@dataclass(frozen=True)
class Table2Row:
    key: str
    arch: ArchSetting
    fid: float  # absolute for the first row, a difference otherwise

    def cells(self) -> tuple[str, str]:
        """(number of heads, channels per head) as printed: one of the two."""
        if self.arch.head_channels is None:
            return str(self.arch.heads), ""
        return "", str(self.arch.head_channels)


_T2_BASE = ArchSetting(channels=128, depth=2, attention=MULTIRES_ATTENTION, updown=True)

TABLE2: tuple[Table2Row, ...] = (
    Table2Row("heads1", dataclasses.replace(_T2_BASE, heads=1), 14.08),
    Table2Row("heads2", dataclasses.replace(_T2_BASE, heads=2), -0.50),
    Table2Row("heads4", dataclasses.replace(_T2_BASE, heads=4), -0.97),
    Table2Row("heads8", dataclasses.replace(_T2_BASE, heads=8), -1.17),
    Table2Row("head-channels32", dataclasses.replace(_T2_BASE, head_channels=32), -1.36),
    Table2Row("head-channels64", dataclasses.replace(_T2_BASE, head_channels=64), -1.03),
    Table2Row("head-channels128", dataclasses.replace(_T2_BASE, head_channels=128), -1.08),
)


def table2_absolute(row: Table2Row) -> float:
    base = TABLE2[0]
    return base.fid if row.key == base.key else round(base.fid + row.fid, 2)


# ----------------------------------------------------------------------------------------------------------------
# Table 3: AdaGN vs Addition + GroupNorm (Table 2's base with 64 channels per head, 700K iterations).


@dataclass(frozen=True)
class Table3Row:
    key: str
    operation: str
    arch: ArchSetting
    fid: float


_T3_BASE = dataclasses.replace(_T2_BASE, head_channels=64)

TABLE3: tuple[Table3Row, ...] = (
    Table3Row("adagn", "AdaGN", dataclasses.replace(_T3_BASE, adagn=True), 13.06),
    Table3Row("addition-groupnorm", "Addition + GroupNorm", dataclasses.replace(_T3_BASE, adagn=False), 15.08),
)

#: The guidance table's diffusion models when trained here: the paper's final architecture (Table 3 AdaGN row).
GUIDANCE_ARCH = TABLE3[0].arch


# ----------------------------------------------------------------------------------------------------------------
# Table 4: classifier guidance, ImageNet 256x256 (models trained 2M iterations, 250 steps, 50k samples).


@dataclass(frozen=True)
class GuidanceRow:
    conditional: bool
    scale: float | None  # None = no guidance
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


# ----------------------------------------------------------------------------------------------------------------
# The paper's claims, as comparisons of table cells a report can check.


@dataclass(frozen=True)
class Comparison:
    """Cell (table, row, column) against cell (table, base_row, base_column) on one metric: the claim expects
    a - b to have the sign `expected` (-1: a is lower, +1: a is higher)."""

    table: str
    row: str
    column: str
    base_row: str
    base_column: str
    metric: str
    expected: int


@dataclass(frozen=True)
class Claim:
    """A statement of the paper that holds when every comparison goes the expected way."""

    key: str
    text: str
    comparisons: tuple[Comparison, ...]


_T1_EFFECTS = {
    "channels128-depth4": "more depth at fewer channels (128 channels, 4 blocks) improves FID",
    "heads4": "4 attention heads instead of 1 improve FID",
    "multires-attention": "attention at 32, 16 and 8 px instead of 16 px only improves FID",
    "biggan-updown": "BigGAN residual up/downsampling improves FID",
    "combined": "the improvements compound: heads, multi-resolution attention and BigGAN up/down together beat "
    "the baseline",
}


def paper_claims(scales: tuple[float, ...]) -> tuple[Claim, ...]:
    """The claims of Tables 1-4 that a reproduction with guidance scales `scales` can check."""
    claims = [Claim("t1-longer-training", "Table 1: training longer improves FID (the baseline's second milestone "
                    "beats its first; 13.21 vs 15.33)",
                    (Comparison("1", "baseline", "m2", "baseline", "m1", "fid", -1),))]  # fmt: skip
    for row in TABLE1[1:]:
        if row.key == "rescale-resblock":
            text = "Table 1: rescaling residual connections by 1/sqrt(2) worsens FID (+0.25)"
            expected = 1
        else:
            text = f"Table 1: {_T1_EFFECTS[row.key]} ({row.fid_1200k:+.2f})"
            expected = -1
        claims.append(Claim(f"t1-{row.key}", text, (Comparison("1", row.key, "m2", "baseline", "m2", "fid", expected),)))
    for row in TABLE2[1:]:
        what = f"{row.arch.heads} heads" if row.arch.head_channels is None else f"{row.arch.head_channels} channels per head"
        claims.append(Claim(f"t2-{row.key}", f"Table 2: {what} beat a single head ({row.fid:+.2f})",
                            (Comparison("2", row.key, "fid", "heads1", "fid", "fid", -1),)))  # fmt: skip
    claims.append(Claim("t3-adagn", "Table 3: AdaGN beats Addition + GroupNorm (13.06 vs 15.08)",
                        (Comparison("3", "addition-groupnorm", "fid", "adagn", "fid", "fid", 1),)))  # fmt: skip
    if not scales:
        return tuple(claims)
    cond, uncond = guidance_key(True, None), guidance_key(False, None)
    claims.append(Claim("g-conditional", "Table 4: the conditional model beats the unconditional one without "
                        "guidance (FID 10.94 vs 26.21)",
                        (Comparison("guidance", cond, "all", uncond, "all", "fid", -1),)))  # fmt: skip
    if 1.0 in scales:
        claims.append(Claim("g-cond-scale1", "Table 4: guidance at scale 1 improves the conditional model's FID "
                            "(4.59 vs 10.94)",
                            (Comparison("guidance", guidance_key(True, 1.0), "all", cond, "all", "fid", -1),)))  # fmt: skip
    if 10.0 in scales:
        claims.append(Claim("g-uncond-scale10", "Table 4: guidance at scale 10 improves the unconditional model's "
                            "FID (12.00 vs 26.21)",
                            (Comparison("guidance", guidance_key(False, 10.0), "all", uncond, "all", "fid", -1),)))  # fmt: skip
    steps = [guidance_key(True, s) for s in (None, *sorted(scales))]
    for key, metric, expected, text in (
        ("g-precision", "precision", 1, "raises precision (0.69, 0.82, 0.88)"),
        ("g-is", "inception_score", 1, "raises the Inception Score (100.98, 186.70, 283.92)"),
        ("g-recall", "recall", -1, "lowers recall (0.63, 0.52, 0.32)"),
        ("g-label-accuracy", "label_accuracy", 1, "makes more samples classifiable as their label (the fidelity "
         "it trades diversity for, section 4; no published number)"),
    ):
        pairs = tuple(Comparison("guidance", b, "all", a, "all", metric, expected) for a, b in zip(steps, steps[1:]))
        claims.append(Claim(key, f"Table 4: on the conditional model, each larger guidance scale {text}", pairs))
    return tuple(claims)
