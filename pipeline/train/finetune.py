"""Starting a training run from a checkpoint's weights instead of random ones (`debris train --weights`).

Classes are matched by name, as a user's annotations rarely list them in the checkpoint's order:
a class the checkpoint knows keeps its row of the prediction layer, a class it does not know gets
the fresh row the network was built with, and a checkpoint class the data set lacks is dropped.
Every other weight (backbone, neck, head convolutions, box regression) is copied as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

from debris.io.checkpoint import Checkpoint
from debris.models.detector import DetectorNet

BOX_VALUES = 4  # the prediction layer's first rows: box values; then one row per class


@dataclass(frozen=True)
class Transfer:
    """Which classes kept the checkpoint's weights, which start fresh, and which were dropped."""

    kept: list[str]
    new: list[str]
    dropped: list[str]

    def __str__(self) -> str:
        return (f"classes from the checkpoint: {', '.join(self.kept) or 'none'}; new: {', '.join(self.new) or 'none'}; "
                f"dropped: {', '.join(self.dropped) or 'none'}")


def load_weights(net: DetectorNet, parent: Checkpoint, classes: list[str]) -> Transfer:
    """Copy `parent`'s weights into `net` (built for `classes` with the parent's width), class rows matched by name."""
    own = net.state_dict()
    state = {k: v for k, v in parent.state_dict.items() if not k.startswith("pred.")}
    old = {name: i for i, name in enumerate(parent.classes)}
    weight, bias = own["pred.weight"].clone(), own["pred.bias"].clone()
    weight[:BOX_VALUES], bias[:BOX_VALUES] = parent.state_dict["pred.weight"][:BOX_VALUES], parent.state_dict["pred.bias"][:BOX_VALUES]
    for i, name in enumerate(classes):
        if name in old:
            weight[BOX_VALUES + i] = parent.state_dict["pred.weight"][BOX_VALUES + old[name]]
            bias[BOX_VALUES + i] = parent.state_dict["pred.bias"][BOX_VALUES + old[name]]
    net.load_state_dict({**state, "pred.weight": weight, "pred.bias": bias})
    return Transfer(kept=[c for c in classes if c in old], new=[c for c in classes if c not in old],
                    dropped=[c for c in parent.classes if c not in classes])
