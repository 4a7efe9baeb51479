"""Hardware sprites: the five landing-hardware classes drawn in nadir view at a frame's ground sample distance.

Each class has its renderer module (parachute.py, backshell.py, heat_shield.py, descent_stage.py, debris.py):
it draws the object's albedo, coverage and height (m) on a canvas in metres centred on it (canvas.py), and the
ground decal around it on a coarser one; `sprite.finish` lights it with the terrain's light model (lighting.py),
casts its shadow and resizes it to frame pixels. The family (families.py) says which look is drawn.
"""

from __future__ import annotations

import numpy as np

from debris.synth.backshell import backshell
from debris.synth.debris import debris
from debris.synth.descent_stage import descent_stage
from debris.synth.families import CLASSIC, FAMILIES
from debris.synth.heat_shield import heat_shield
from debris.synth.parachute import parachute
from debris.synth.sprite import Sprite
from debris.synth.sun import Sun

CLASS_NAMES = ("parachute", "backshell", "heat_shield", "descent_stage", "debris")
_RENDERERS = dict(zip(CLASS_NAMES, (parachute, backshell, heat_shield, descent_stage, debris)))
__all__ = ["CLASS_NAMES", "Sprite", "render_sprite"]


def render_sprite(rng: np.random.Generator, class_name: str, gsd_m: float, sun: Sun, family: str | None = None,
                  clip: tuple[int, int, int, int] | None = None) -> Sprite:
    """Draw one object of class_name at gsd_m metres per pixel, lit by sun, in the look of `family` (None: one of
    the class's classic families, from rng). Its state, size (+-15 %) and rotation come from rng, so the same rng
    state and arguments give the same arrays. clip: (x0, y0, x1, y1) pixels around the placement point to draw."""
    if class_name not in _RENDERERS:
        raise ValueError(f"unknown hardware class {class_name!r}; expected one of {', '.join(CLASS_NAMES)}")
    if not gsd_m > 0:
        raise ValueError(f"gsd_m must be > 0, got {gsd_m}")
    if family is None:
        family = CLASSIC[class_name][int(rng.integers(len(CLASSIC[class_name])))]
    if family not in FAMILIES[class_name]:
        raise ValueError(f"unknown {class_name} family {family!r}; expected one of {', '.join(FAMILIES[class_name])}")
    return _RENDERERS[class_name](rng, gsd_m, sun, family, clip)
