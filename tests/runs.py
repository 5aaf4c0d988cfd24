"""What the run tests compare: the datasets of HDF5 files and the metrics of
training runs (output folders of `sophia-kokkos train`)."""
import json
import os

import h5py
import numpy as np


def datasets(path):
    """Every dataset of an HDF5 file, by its path."""
    with h5py.File(path, "r") as f:
        out = {}
        f.visititems(lambda name, obj: out.__setitem__(name, obj[...]) if isinstance(obj, h5py.Dataset) else None)
        return out


def losses(run):
    """(type, step, loss) of every step and eval line of a run's metrics."""
    return [(r["type"], r["step"], r.get("loss", r.get("val_loss")))
            for r in map(json.loads, open(os.path.join(run, "metrics.jsonl")))]


def assert_same_files(a, b, what):
    """Two HDF5 files hold the same datasets, bit for bit."""
    da, db = datasets(a), datasets(b)
    assert da.keys() == db.keys(), f"{what}: {sorted(da.keys() ^ db.keys())} in only one of {a}, {b}"
    for k in da:
        assert np.array_equal(da[k], db[k]), f"{what}: {k} differs between {a} and {b}"


def final_params_without_key_bias(run):
    """A run's final weights as one flat array, without the key part of each
    c_attn.bias: its exact gradient is zero (attention ignores a constant added
    to every key), so under Sophia-G it follows rounding noise and differs
    between reduction orders by +-lr."""
    with h5py.File(os.path.join(run, "final.h5"), "r") as f:
        C = int(f["config"].attrs["n_embd"])
        tensors = []
        for name in sorted(f["model"]):
            t = f["model"][name][...]
            if name.endswith("attn.c_attn.bias"):
                t = np.concatenate([t[:C], t[2 * C:]])
            tensors.append(t.ravel())
    return np.concatenate(tensors)
