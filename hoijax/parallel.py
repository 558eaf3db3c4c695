"""Device mesh and sharding helpers: data parallel over a 1-D `data` mesh axis.

Parameters and optimiser state are replicated; batches are split along their leading axis.
When a leading axis does not divide over the devices, the policy depends on who chose its
length: a batch size is a setting, so an uneven one is refused (`check_batch_size`); a
number of clips is the user's data, so it is padded to a multiple of the device count
with copies (`padding`) whose results are dropped. Nothing is replicated silently.
Works the same on one CPU, several GPUs, a TPU slice, or several hosts (call
`jax.distributed.initialize()` first; `initialize_distributed` does it when the usual
environment variables say the process is part of a multi-host job).
"""
from __future__ import annotations

import os

import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P

DATA_AXIS = "data"


def initialize_distributed() -> None:
    """jax.distributed.initialize() when launched as one process of a multi-host job."""
    if os.environ.get("JAX_COORDINATOR_ADDRESS") or os.environ.get("SLURM_NTASKS", "1") != "1":
        jax.distributed.initialize()


def data_mesh(devices=None) -> jax.sharding.Mesh:
    """A 1-D mesh with axis `data` over `devices` (default: every device of every host).
    Auto axis type: XLA propagates the shardings (the batch's split) through the step."""
    devices = jax.devices() if devices is None else list(devices)
    return jax.make_mesh((len(devices),), (DATA_AXIS,), devices=devices,
                         axis_types=(jax.sharding.AxisType.Auto,))


def replicated(mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def batch_sharded(mesh) -> NamedSharding:
    return NamedSharding(mesh, P(DATA_AXIS))


def check_batch_size(global_batch: int, name: str = "batch_size", mesh=None) -> None:
    """Raises ValueError unless the global batch divides evenly over the devices."""
    n = mesh.size if mesh is not None else jax.device_count()
    if global_batch % n:
        raise ValueError(f"{name}={global_batch} does not divide by the {n} devices; "
                         f"use a multiple of {n}")


def padding(count: int, mesh=None) -> int:
    """How many copies to append to `count` items so they divide over the devices."""
    n = mesh.size if mesh is not None else jax.device_count()
    return -count % n


def shard_batch(batch: dict, mesh) -> dict:
    """Host numpy arrays (the global batch, identical on every host) -> global jax arrays
    split along the leading axis over the `data` axis."""
    sharding = batch_sharded(mesh)
    per_host = jax.process_count()
    index = jax.process_index()

    def put(x):
        x = np.asarray(x)
        local = np.split(x, per_host)[index] if per_host > 1 else x
        return jax.make_array_from_process_local_data(sharding, local, x.shape)

    return jax.tree.map(put, batch)


def replicate(tree, mesh):
    """Places a pytree replicated on every device of the mesh."""
    return jax.device_put(tree, replicated(mesh))
