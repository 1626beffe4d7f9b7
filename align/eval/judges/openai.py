"""`judge=openai`: an LLM judge behind any OpenAI-compatible chat completions endpoint (OpenAI, vLLM, TGI,
`transformers serve`), grading with MT-Bench's prompts (judges/prompts.py).

Requests go out from a thread pool (judge.concurrency) through the standard library's HTTP client (no SDK to
install), with exponential back-off on connection errors, 429 and 5xx (judge.max_retries); every verdict is cached
(judges/cache.py) as it arrives. The API key is read from the environment variable named by judge.api_key_env and
only ever sent in the Authorization header.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from align.errors import ConfigError, invalid
from align.eval.judges import Judgment, PairRequest, RateRequest, prompts
from align.eval.judges.cache import JudgmentCache, cache_key

log = logging.getLogger(__name__)

CHECK_TIMEOUT_S = 3.0  # check_endpoint: validation must fail in seconds, not after judge.timeout_s
BACKOFF_BASE_S = 1.0  # the first retry waits about this long, each next one twice as long
BACKOFF_MAX_S = 60.0

Request = TypeVar("Request", RateRequest, PairRequest)
# What a request that got no HTTP answer raises: refused, reset, timed out, cut short.
TRANSPORT_ERRORS = (OSError, http.client.HTTPException)


class _Failed(Exception):
    """No answer from the endpoint (after the retries): the judgment is left unrated and not cached."""


def check_endpoint(judge_cfg: Any) -> None:
    """Raise a ConfigError naming judge.base_url when GET {base_url}/models does not answer within a few seconds,
    or judge.api_key_env when the endpoint refuses the key."""
    base_url = judge_cfg.base_url
    example = "the URL of an OpenAI-compatible API, e.g. http://127.0.0.1:8000/v1 or https://api.openai.com/v1"
    if not base_url or not str(base_url).startswith(("http://", "https://")):
        raise invalid("judge.base_url", base_url, example)
    url = f"{base_url.rstrip('/')}/models"
    try:
        response = _request(url, judge_cfg.api_key_env, CHECK_TIMEOUT_S)
    except TRANSPORT_ERRORS as error:
        raise invalid(
            "judge.base_url", base_url, f"an OpenAI-compatible endpoint that answers GET {url}",
            f"It gave no answer ({_why(error)}; the check waits {CHECK_TIMEOUT_S:g} s). Start the server "
            "(a local model: `transformers serve <model dir> --port 8000`, or vLLM's `vllm serve <model>`) or "
            "correct judge.base_url.",
        ) from None
    if response.status in (401, 403):
        env = judge_cfg.api_key_env
        state = "set" if env and os.environ.get(env) else "not set"
        raise ConfigError(
            f"The judge endpoint judge.base_url={base_url!r} refused the request with HTTP {response.status}: "
            f"its API key is missing or wrong. The key is read from the environment variable named by "
            f"judge.api_key_env={env!r}, which is {state} here; export it (`export {env or 'OPENAI_API_KEY'}=...`) "
            "or set judge.api_key_env to the variable that holds the key."
        )
    if response.status >= 400:
        raise invalid(
            "judge.base_url", base_url, f"the root of an OpenAI-compatible API (it often ends in /v1) that answers "
            f"GET {url}", f"It answered HTTP {response.status}.",
        )
    listed = _listed_models(response.text)
    if listed and judge_cfg.model not in listed:  # a warning: some servers load models they do not list
        log.warning("judge.model=%r is not among the models %s lists: %s", judge_cfg.model, url,
                    ", ".join(listed[:20]) + (" ..." if len(listed) > 20 else ""))


class OpenAIJudge:
    """MT-Bench's single-answer and pairwise grading by the chat model judge.model at judge.base_url."""

    def __init__(self, judge_cfg: Any, cache_dir: Path):
        self.cfg = judge_cfg
        # What changes verdicts; not the URL, so one model's verdicts are reused wherever it is served.
        self.id = (f"openai/{judge_cfg.model}/{prompts.VERSION}/temperature={float(judge_cfg.temperature):g}"
                   f"/max_tokens={int(judge_cfg.max_tokens)}")
        self.cache = JudgmentCache(cache_dir)

    def rate(self, requests: list[RateRequest]) -> list[Judgment]:
        return self._judge("rate", requests, prompts.rating_messages, prompts.parse_rating)

    def compare(self, requests: list[PairRequest]) -> list[Judgment]:
        return self._judge("compare", requests, prompts.pair_messages, prompts.parse_winner)

    def _judge(self, kind: str, requests: list[Request], render: Callable[[Request], list[dict[str, str]]],
               parse: Callable[[str], Judgment]) -> list[Judgment]:
        from tqdm.auto import tqdm

        keys = [cache_key(self.id, kind, request) for request in requests]
        judgments: list[Judgment | None] = [self.cache.get(key) for key in keys]
        waiting: dict[str, list[int]] = {}  # one request per key, even when the same request comes twice
        for index, (key, judgment) in enumerate(zip(keys, judgments, strict=True)):
            if judgment is None:
                waiting.setdefault(key, []).append(index)
        cached = len(requests) - sum(len(indices) for indices in waiting.values())
        log.info("judge %s: %d %s judgments cached, %d to ask", self.id, cached, kind, len(waiting))
        if waiting:
            with ThreadPoolExecutor(max_workers=int(self.cfg.concurrency)) as pool:
                asked = {pool.submit(self._ask, render(requests[indices[0]])): key for key, indices in waiting.items()}
                for done in tqdm(as_completed(asked), total=len(asked), desc=f"judge: {kind}"):
                    key = asked[done]
                    try:
                        judgment = parse(done.result())
                        self.cache.put(key, judgment)
                    except _Failed as failure:  # a server may echo the request: the key stays out of files
                        judgment = Judgment(raw=_redacted(f"no answer from the judge: {failure}", self.cfg.api_key_env))
                    for index in waiting[key]:
                        judgments[index] = judgment
        return judgments  # type: ignore[return-value]  # every slot is filled above

    def _ask(self, messages: list[dict[str, str]]) -> str:
        """The judge's answer text; _Failed when the endpoint gives none, after judge.max_retries retries."""
        url = f"{self.cfg.base_url.rstrip('/')}/chat/completions"
        payload = {"model": self.cfg.model, "messages": messages, "max_tokens": int(self.cfg.max_tokens),
                   "temperature": float(self.cfg.temperature)}
        retries = int(self.cfg.max_retries)
        for attempt in range(retries + 1):
            retry_after = None
            try:
                response = _request(url, self.cfg.api_key_env, float(self.cfg.timeout_s), payload)
            except TRANSPORT_ERRORS as error:
                reason = _why(error)
            else:
                reason = f"HTTP {response.status}: {response.text[:500]}"
                if response.status == 429 or response.status >= 500:
                    retry_after = response.retry_after
                elif response.status >= 400:
                    raise _Failed(reason)
                else:
                    return _answer_text(response.text)
            if attempt < retries:
                delay = backoff_seconds(attempt, retry_after)
                log.debug("judge request failed (%s); retry %d/%d in %.1f s", reason, attempt + 1, retries, delay)
                time.sleep(delay)
        raise _Failed(f"{retries + 1} attempts, the last: {reason}")


def backoff_seconds(attempt: int, retry_after: str | None = None) -> float:
    """How long to wait before retry `attempt + 1`: the server's Retry-After (seconds) when it gives one, else
    exponential back-off with jitter, so that the pool's threads do not all come back at once."""
    try:
        return min(BACKOFF_MAX_S, max(0.0, float(retry_after)))  # type: ignore[arg-type]
    except (TypeError, ValueError):  # absent, or an HTTP date
        return min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2**attempt) * random.uniform(0.5, 1.0)


@dataclass(frozen=True)
class _Response:
    status: int
    text: str
    retry_after: str | None


def _request(url: str, api_key_env: str | None, timeout: float, payload: dict | None = None) -> _Response:
    """GET `url` (or POST `payload` as JSON) and return its answer, an HTTP error status included; raises one of
    TRANSPORT_ERRORS when there is no answer."""
    data = None if payload is None else json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", "Accept": "application/json", **_headers(api_key_env)}
    request = urllib.request.Request(url, data=data, headers=headers, method="GET" if data is None else "POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return _Response(answer.status, answer.read().decode("utf-8", "replace"), None)
    except urllib.error.HTTPError as error:
        with error:
            return _Response(error.code, error.read().decode("utf-8", "replace"), error.headers.get("Retry-After"))


def _answer_text(text: str) -> str:
    try:
        content = json.loads(text)["choices"][0]["message"].get("content")
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        raise _Failed(f"not a chat completion: {text[:500]}") from None
    return content or ""  # no text (a refusal, say) is an answer without a verdict


def _why(error: Exception) -> str:
    reason = error.reason if isinstance(error, urllib.error.URLError) else error  # unwrap "<urlopen error ...>"
    return f"{type(reason).__name__}: {reason}" if isinstance(reason, BaseException) else str(reason)


def _listed_models(text: str) -> list[str]:
    try:
        return [str(model["id"]) for model in json.loads(text)["data"]]
    except (ValueError, KeyError, TypeError):
        return []


def _redacted(text: str, api_key_env: str | None) -> str:
    key = os.environ.get(api_key_env) if api_key_env else None
    return text.replace(key, "<redacted>") if key else text


def _headers(api_key_env: str | None) -> dict[str, str]:
    key = os.environ.get(api_key_env) if api_key_env else None
    return {"Authorization": f"Bearer {key}"} if key else {}
