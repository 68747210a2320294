"""Training: configs and presets, the recipe, batch augmentation, the loop, the trainer and
launching a run as a job. A leaf of the library: only the CLI and the job entry points import it."""
