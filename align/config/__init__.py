"""The config layer: the typed schema (schema.py), TRL's field manifest (trl_fields.py), validation once
(validate.py with checks.py and machine.py), the tiny model's tuning rule (tuning.py) and the messages for
composition mistakes (messages.py). Nothing here imports torch, transformers or TRL."""
