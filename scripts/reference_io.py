"""The exchange format of the learner's PyTorch references (learner's
matchReference): DIR/shapes.json maps each input's name to its shape, and
DIR/NAME.bin holds it as raw little-endian float32; each result goes back
as DIR/ref_NAME.bin in the same encoding."""
import json
import os

import numpy as np
import torch


def load(d):
    """The inputs in d as {name: float32 tensor}."""
    with open(os.path.join(d, "shapes.json")) as f:
        shapes = json.load(f)
    t = {}
    for name, shape in shapes.items():
        a = np.fromfile(os.path.join(d, name + ".bin"), dtype="<f4").reshape(shape)
        t[name] = torch.from_numpy(a.copy())
    return t


def save(d, out):
    """Writes each tensor of {name: tensor} to d/ref_name.bin."""
    for name, v in out.items():
        v.detach().numpy().astype("<f4").tofile(os.path.join(d, "ref_" + name + ".bin"))
