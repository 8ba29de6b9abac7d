"""What a run keeps on disk and reads back: the run directory's records (`run_dir`), orbax
checkpoints with checksums (`checkpoint`), and parts of another run's checkpoint put into a new one
(`transfer`)."""
