"""Sweeps after they ran: read a sweep directory (`read`), rank its jobs (`rank`), write results.csv and
report.md (`write`) and PNG plots (`plots`), and log the results table to the jobs' W&B group
(`wandb_table`); `names` holds the job-directory naming the launcher uses.

`python -m align.report SWEEP_DIR` is the command around them.
"""
