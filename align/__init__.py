"""align: the Alignment Handbook's methods (SFT, DPO, ...) behind one Hydra-composed command line."""

__version__ = "0.1.0"
