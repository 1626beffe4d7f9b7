"""Models and tokenizers: loading from a Hub id or a local directory (load.py), and the embedded tiny model that
align builds itself (tiny.py)."""
