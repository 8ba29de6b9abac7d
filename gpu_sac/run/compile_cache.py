"""JAX's persistent compilation cache, for runs started from the command line.

Compiling a run's programs (init, the training chunk, the evaluation) is most of the wait before the
first return on a small budget: ~50 s of halfcheetah's first two minutes on a 2-core CPU, and
minutes for Playground's G1 on a GPU. A rerun of the same sizes and env (the same command again,
another --seed or --total-steps, a resumed run) compiles the same programs; with the cache on, it
loads them from disk instead (measured: halfcheetah's compiles 52 s -> 10 s on the CPU, the rest
being tracing and lowering; tests/run/test_compile_cache.py counts the cache hits).

The cache is process-wide JAX state, so `train()` leaves it alone (the time-to-score runs, which
call it, compile cold); `run_experiment` and so the CLI turn it on
(RunOptions.compile_cache), and a notebook can call `enable()`. Entries are keyed by JAX on the
program, the compile options, the device and the jax/jaxlib versions, so a stale entry is never used.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import jax
from jax.experimental.compilation_cache import compilation_cache

DEFAULT_DIR = "~/.cache/gpu_sac/xla"
MAX_BYTES = 2 * 1024**3  # oldest entries are evicted beyond this (jax_compilation_cache_max_size)


def enable(path: str | Path | None = DEFAULT_DIR) -> Path | None:
    """Keep compiled programs under `path` (created); None or "" leaves the cache as it is.

    A cache folder already set (JAX_COMPILATION_CACHE_DIR, or an earlier call) is kept: the first
    one set in a process is the one JAX uses. Returns the folder in use, or None.
    """
    current = jax.config.jax_compilation_cache_dir
    if current:
        return Path(current)
    if not path:
        return None
    folder = Path(path).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(folder))
    if importlib.util.find_spec("filelock") is not None:  # JAX needs it to bound the size (a dependency)
        jax.config.update("jax_compilation_cache_max_size", MAX_BYTES)
    # JAX decides whether to use the cache at its first compile; anything compiled before this call
    # (an env's model, a memory check) found no folder set. Reset that decision so it is made again.
    compilation_cache.reset_cache()
    return folder
