"""Sweeps after they ran: read a sweep directory (`read`), rank its jobs (`rank`), and write results.csv,
report.md (`write`) and PNG plots (`plots`); `names` holds the job-directory naming the launcher uses.

`python -m align.report SWEEP_DIR` is the command around them.
"""
