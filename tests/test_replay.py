"""Ring buffer: below, at and past capacity with inserts that do not divide the capacity; only
written rows are sampled; fields stay aligned row by row; prioritised sampling."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from gpu_sac import replay

OBS, ACT = 3, 2


def transitions(start: int, n: int) -> replay.Transition:
    """Transition t has every field derived from t, so misaligned fields are visible."""
    t = jnp.arange(start, start + n, dtype=jnp.float32)
    return replay.Transition(
        obs=jnp.stack([t, t + 0.1, t + 0.2], -1),
        action=jnp.stack([-t, -t - 0.5], -1),
        reward=t * 10,
        next_obs=jnp.stack([t + 1, t + 1.1, t + 1.2], -1),
        discount=jnp.where(t % 2 == 0, 0.99, 0.0),
    )


def assert_aligned(batch: replay.Transition):
    t = np.asarray(batch.obs[..., 0])
    np.testing.assert_allclose(np.asarray(batch.obs[..., 2]), t + 0.2, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(batch.action[..., 1]), -t - 0.5, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(batch.reward), t * 10, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(batch.next_obs[..., 0]), t + 1, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(batch.discount), np.where(t % 2 == 0, 0.99, 0.0), rtol=1e-6)


def stored_ids(buffer: replay.ReplayBuffer) -> set[int]:
    rows = replay.unpack(buffer.data[: int(buffer.size)], OBS, ACT)
    return {int(x) for x in np.asarray(rows.obs[:, 0])}


def test_below_at_and_past_capacity_with_inserts_that_do_not_divide_it():
    capacity, n = 10, 4  # 4 does not divide 10: inserts wrap mid-batch
    buffer = replay.init(capacity, OBS, ACT)
    insert = jax.jit(replay.insert)
    written = 0
    for step in range(7):
        buffer = insert(buffer, transitions(written, n))
        written += n
        assert int(buffer.size) == min(written, capacity)
        assert int(buffer.insert_pos) == written % capacity
        # Exactly the newest min(written, capacity) transitions are stored.
        assert stored_ids(buffer) == set(range(max(0, written - capacity), written)), step
    assert_aligned(replay.unpack(buffer.data, OBS, ACT))


def test_only_written_rows_are_sampled_and_fields_stay_aligned():
    buffer = replay.insert(replay.init(1000, OBS, ACT), transitions(1, 5))  # ids 1..5, rows 0..4
    batch, index, weight = replay.sample(buffer, jax.random.PRNGKey(0), (8, 64))
    assert batch.obs.shape == (8, 64, OBS) and index.shape == (8, 64)
    assert set(np.asarray(index).ravel().tolist()) == {0, 1, 2, 3, 4}  # all written rows, nothing else
    assert set(np.asarray(batch.obs[..., 0]).ravel().tolist()) == {1.0, 2.0, 3.0, 4.0, 5.0}
    assert_aligned(batch)
    np.testing.assert_array_equal(np.asarray(weight), 1.0)


def test_uniform_sampling_covers_rows_evenly():
    buffer = replay.insert(replay.init(64, OBS, ACT), transitions(0, 50))
    _, index, _ = replay.sample(buffer, jax.random.PRNGKey(1), (50_000,))
    counts = np.bincount(np.asarray(index), minlength=64)
    assert counts[50:].sum() == 0
    assert np.all(np.abs(counts[:50] - 1000) < 150)


def test_prioritised_sampling_follows_priorities_and_weights_correct_for_them():
    buffer = replay.insert(replay.init(8, OBS, ACT, prioritized=True), transitions(0, 4))
    # New transitions get the max priority (1): uniform at first.
    buffer = replay.update_priority(buffer, jnp.arange(4), jnp.array([1.0, 1.0, 3.0, 0.0]), eps=0.0)
    _, index, weight = replay.sample(buffer, jax.random.PRNGKey(0), (40_000,), per_alpha=1.0, per_beta=1.0)
    freq = np.bincount(np.asarray(index), minlength=8) / 40_000
    np.testing.assert_allclose(freq[:4], [0.2, 0.2, 0.6, 0.0], atol=0.01)
    assert freq[4:].sum() == 0
    # Importance weights (N·P)^−β / max: rows 0, 1 weigh 3× row 2.
    w = {int(i): float(x) for i, x in zip(np.asarray(index)[:200], np.asarray(weight)[:200], strict=True)}
    np.testing.assert_allclose(w[0] / w[2], 3.0, rtol=1e-5)
    assert max(w.values()) == 1.0
    assert float(buffer.max_priority) == 3.0


def test_bytes_per_transition_is_one_row_of_float32():
    # obs twice, action, reward, discount: no larger than Brax's transition (obs twice + extras).
    assert replay.bytes_per_transition(17, 6) == 4 * (2 * 17 + 6 + 2)
