"""Hardware: one resolved plan of devices and processes (plan.py, devices.py), the trainer settings for DDP,
DeepSpeed ZeRO and FSDP2 (settings.py), and the relaunch of multi-process runs through accelerate (launch.py,
launch_workers.py)."""
