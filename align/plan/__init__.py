"""The dry-run plan, with no side effects: what a run will cost before any weight loads. describe.py writes the
plan; memory.py estimates memory per device, disk.py the checkpoints' disk, both from the model's config.json
alone (model_config.py)."""
