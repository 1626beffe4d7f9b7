"""The method schemas are made when a composition first uses one, and a pickled config (a sweep job's) finds its
schema class again in a process that never composed it."""

from __future__ import annotations

import pickle
import subprocess
import sys

from omegaconf import OmegaConf

from tests.conftest import REPO, cli_env, compose_cfg

COMPOSE_ONE_METHOD = """
import sys
sys.argv = ["align", "method=dpo", "--cfg", "job"]
from align.cli import main
try:
    main()
except SystemExit as exit:
    assert not exit.code, exit.code
import align.config.store as store
print("MADE=" + ",".join(sorted(name for name in vars(store) if name.endswith("MethodConfig"))))
"""

UNPICKLE = """
import pickle, sys
from omegaconf import OmegaConf
cfg = pickle.loads(sys.stdin.buffer.read())
print("TYPE=" + OmegaConf.get_type(cfg.method).__qualname__, "BETA=" + str(cfg.method.beta))
try:
    cfg.method.bta = 1
except Exception as error:
    print("REFUSED=" + type(error).__name__)
"""


def test_composing_one_method_makes_only_its_schema(tmp_path):
    out = subprocess.run([sys.executable, "-c", COMPOSE_ONE_METHOD], cwd=tmp_path, env=cli_env(),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "MADE=DPOMethodConfig\n" in out.stdout


def test_a_pickled_config_keeps_its_schema_in_a_fresh_process():
    cfg = compose_cfg("method=kto", "method.beta=0.3")
    out = subprocess.run([sys.executable, "-c", UNPICKLE], input=pickle.dumps(cfg), cwd=REPO, env=cli_env(),
                         capture_output=True, timeout=60)
    stdout = out.stdout.decode()
    assert out.returncode == 0, out.stderr.decode()
    assert "TYPE=KTOMethodConfig BETA=0.3" in stdout
    assert "REFUSED=ConfigAttributeError" in stdout
    assert OmegaConf.get_type(cfg.method).__module__ == "align.config.store"
