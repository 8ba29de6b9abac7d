"""One experiment end to end: `experiment` (run_experiment / resume_experiment: a run directory,
checkpoints, logs, signals, the exported policy), `signals` (stop cleanly on SIGINT/SIGTERM),
`distributed` (several processes, `jax.distributed`) and `compile_cache` (JAX's persistent cache)."""
