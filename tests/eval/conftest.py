"""Fixtures of the evaluation tests: the sample of MT-Bench's 80 questions in FastChat's format (from the shared
data folder beside the checkout), the tiny model's directory, a real OpenAI-compatible server on it
(`transformers serve`), a scripted stub endpoint, and judge settings as the `judge` config group gives them."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.conftest import REPO, SHARED_DATA

QUESTIONS = SHARED_DATA / "mt_bench_questions.jsonl"


def judge_settings(base_url: str, model: str = "judge-model", **overrides) -> SimpleNamespace:
    """judge=openai's settings (the defaults of the issue) for an endpoint at `base_url`."""
    settings = dict(base_url=base_url, model=model, api_key_env="OPENAI_API_KEY", concurrency=8, max_retries=5,
                    timeout_s=60, max_tokens=1024, temperature=0.0)
    return SimpleNamespace(**{**settings, **overrides})


@pytest.fixture(scope="session")
def tiny_model(align_cache: Path) -> Path:
    """The directory of the embedded tiny model (model=tiny), untrained: built once into the session's cache."""
    from omegaconf import OmegaConf

    from align.model.tiny import tiny_model_dir

    build = OmegaConf.to_container(OmegaConf.load(REPO / "conf" / "model" / "tiny.yaml").build)
    return tiny_model_dir(build)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Served:
    base_url: str
    model: str
    log: Path

    def chat_requests(self) -> int:
        """How many chat completions the server has answered (uvicorn's access log)."""
        return self.log.read_text(errors="replace").count('"POST /v1/chat/completions HTTP/1.1" 200')


@pytest.fixture(scope="session")
def served_tiny_model(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """`transformers serve` on the tiny model at 127.0.0.1 (OpenAI-compatible /v1), for the whole session."""
    pytest.importorskip("fastapi", reason="transformers serve needs the serve extra: pip install 'align[serve]'")
    port = free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    command = [sys.executable, "-m", "transformers.cli.transformers", "serve", str(tiny_model), "--host",
               "127.0.0.1", "--port", str(port), "--device", "cpu", "--log-level", "info"]
    with log.open("w") as sink:
        server = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    served = Served(f"http://127.0.0.1:{port}/v1", str(tiny_model), log)
    try:
        _wait_for(served, server)
        yield served
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


def _wait_for(served: Served, server: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"transformers serve exited with {server.returncode}:\n{served.log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{served.base_url}/models", timeout=2):
                return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"transformers serve did not answer in {timeout:g} s:\n{served.log.read_text()[-3000:]}")


@dataclass
class Stub:
    """A scripted endpoint: each request takes the next (status, body, headers) of `script` (the last one
    repeats); `requests` records (method, path, headers, JSON body) of each."""

    base_url: str
    script: list[tuple[int, dict | str, dict[str, str]]] = field(default_factory=list)
    requests: list[tuple[str, str, dict[str, str], dict | None]] = field(default_factory=list)

    def answer(self, *texts: str) -> None:
        """Script chat completions whose message contents are `texts`."""
        self.script[:] = [(200, completion(text), {}) for text in texts]

    @property
    def chat_requests(self) -> list[dict]:
        return [body for _, path, _, body in self.requests if path.endswith("/chat/completions")]


def completion(text: str) -> dict:
    return {"id": "x", "object": "chat.completion", "model": "judge-model",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]}


@pytest.fixture
def stub() -> Iterator[Stub]:
    """A stdlib HTTP server in a thread on 127.0.0.1 that answers from a script (see Stub)."""
    state = Stub(base_url="")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def _reply(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            with lock:
                state.requests.append((method, self.path, dict(self.headers), body))
                status, payload, headers = state.script[min(len(state.requests), len(state.script)) - 1]
            data = payload if isinstance(payload, str) else json.dumps(payload)
            self.send_response(status)
            for name, value in {"Content-Type": "application/json", **headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data.encode())))
            self.end_headers()
            self.wfile.write(data.encode())

        def do_GET(self) -> None:  # noqa: N802 (http.server's names)
            self._reply("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._reply("POST")

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    state.script.append((200, {"object": "list", "data": [{"id": "judge-model", "object": "model"}]}, {}))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
