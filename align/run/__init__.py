"""A run, from a validated config to a filled run directory: prepare (validate once, prepare.py), the job's
dispatch (job.py), the TRL run read top to bottom (train.py, with trainer.py), the run directory's contract
(record.py), crash-safe checkpoints and resume (resume.py), the shared reference log-prob cache (ref_cache.py)
and the Hub token (hub.py)."""
