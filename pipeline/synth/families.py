"""Named randomisation families: every object and every frame's ground is drawn from one.

A family is a recognisable way the thing can look (a striped canopy, a cracked heat shield, dunes). Training
sets exclude some (`synth.families`), transfer test sets are rendered from only those, so transfer is measured
on looks the detector never saw. The first CLASSIC families of each axis are the generator's original look:
`synth.randomize` is the share of draws that pick uniformly among all allowed families instead.
"""

from __future__ import annotations

import numpy as np

FAMILIES: dict[str, tuple[str, ...]] = {
    "parachute": ("dgb_orange_white", "white", "red_white_rings", "striped", "dusty", "faded", "torn", "crumpled",
                  "edge_on", "half_buried"),
    "backshell": ("upright", "on_side", "crushed", "with_lines"),
    "heat_shield": ("outer_face", "inner_face", "cracked", "half_buried", "low_angle"),
    "descent_stage": ("blast_zone", "wreck_only", "scattered"),
    "debris": ("foil", "netting", "metal_strip", "white_blanket", "dark_composite", "metal_chunk"),
    "terrain": ("rendered", "real_patch", "dunes", "bedrock", "gravel"),
}
CLASSIC: dict[str, tuple[str, ...]] = {
    "parachute": ("dgb_orange_white",), "backshell": ("upright", "on_side"), "heat_shield": ("outer_face", "inner_face"),
    "descent_stage": ("blast_zone",), "debris": ("foil", "netting", "metal_strip"), "terrain": ("rendered",),
}


def family_names() -> dict[str, list[str]]:
    """Every axis (each class name and `terrain`) and its family names."""
    return {axis: list(names) for axis, names in FAMILIES.items()}


def unknown_families(families: dict[str, list[str] | None]) -> list[str]:
    """Problems with a `synth.families` mapping, each naming its key; empty when all names exist."""
    problems = []
    for axis, names in families.items():
        if axis not in FAMILIES:
            problems.append(f"synth.families.{axis}: unknown axis; expected one of {list(FAMILIES)}")
        elif names is not None and (bad := [x for x in names if x not in FAMILIES[axis]]):
            problems.append(f"synth.families.{axis}: unknown families {bad}; expected some of {list(FAMILIES[axis])}")
        elif names is not None and not names:
            problems.append(f"synth.families.{axis}: empty list; give at least one family or null for all")
    return problems


def draw_family(rng: np.random.Generator, axis: str, randomize: float, allowed: list[str] | None = None) -> str:
    """One family of `axis`: a classic one with probability 1 - randomize (if any is allowed), else any allowed."""
    names = list(allowed) if allowed else list(FAMILIES[axis])
    classic = [x for x in names if x in CLASSIC[axis]]
    pool = classic if classic and rng.random() >= randomize else names
    return pool[int(rng.integers(len(pool)))]
