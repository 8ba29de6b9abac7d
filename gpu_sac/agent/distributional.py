"""The categorical (C51) value distribution of a distributional critic (Bellemare et al., 2017), as
FastTD3 and FastSAC use it with thousands of envs: Q(s, a) is a distribution over K fixed atoms
z_0 < ... < z_{K−1} evenly spaced on [v_min, v_max], given by the critic's K logits.

The critic target is the distribution of r + discount·(Z' − α log π(a'|s')), each next atom shifted
(the soft value's entropy term moves the whole distribution), then projected back onto the atoms:
the mass of a shifted atom is split between its two neighbours in proportion to their closeness,
and mass beyond the support goes to its end atoms. Shapes: probs and atoms (..., K).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def support(v_min: float, v_max: float, num_atoms: int) -> np.ndarray:
    """(K,) float32 atoms evenly spaced from v_min to v_max: a NumPy constant, so that traced code
    can read its ends as Python floats."""
    return np.linspace(v_min, v_max, num_atoms, dtype=np.float32)


def expected(probs: jax.Array, atoms: jax.Array) -> jax.Array:
    """E[Z] of probs (..., K) over atoms (K,) → (...)."""
    return jnp.sum(probs * atoms, axis=-1)


def project(probs: jax.Array, target_atoms: jax.Array, v_min: float, v_max: float) -> jax.Array:
    """Project the distribution with masses `probs` at positions `target_atoms` (both (..., K); the
    leading axes broadcast) onto the K evenly spaced atoms of [v_min, v_max] → (..., K).

    A mass at b (in units of atoms, clipped to [0, K − 1]) goes to atoms l = ⌊b⌋ and l + 1 with
    weights 1 − (b − l) and b − l; a mass exactly on an atom stays whole there (the case where
    ⌊b⌋ = ⌈b⌉ that a floor/ceil split would lose). The total mass is kept. O(K) per row: a
    scatter-add, not a K×K matrix, since batches reach tens of thousands of rows.
    """
    num_atoms = probs.shape[-1]
    probs, target_atoms = jnp.broadcast_arrays(probs, target_atoms)
    delta = (v_max - v_min) / (num_atoms - 1)
    b = (jnp.clip(target_atoms, v_min, v_max) - v_min) / delta
    lower = jnp.clip(jnp.floor(b), 0, num_atoms - 1)
    upper_weight = b - lower  # in [0, 1); 0 where b sits on an atom (and at the top end)
    lower = lower.astype(jnp.int32)
    upper = jnp.minimum(lower + 1, num_atoms - 1)

    def one_row(p, lo, up, w):
        out = jnp.zeros(num_atoms, p.dtype)
        return out.at[lo].add(p * (1.0 - w)).at[up].add(p * w)

    flat = [x.reshape(-1, num_atoms) for x in (probs, lower, upper, upper_weight)]
    return jax.vmap(one_row)(*flat).reshape(probs.shape)


def lower_value_distribution(probs: jax.Array, values: jax.Array) -> jax.Array:
    """Clipped double Q for distributions: per row, the distribution of the critic with the lowest
    expected value (FastTD3's choice). probs (n, ..., K), values (n, ...) → (..., K)."""
    pick = jnp.argmin(values, axis=0)
    return jnp.take_along_axis(probs, pick[None, ..., None], axis=0)[0]
