"""`python -m align [overrides]`: compose the config with Hydra and run one method."""

from align.cli import main

if __name__ == "__main__":
    main()
