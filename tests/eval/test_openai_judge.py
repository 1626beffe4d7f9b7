"""judge=openai: MT-Bench's prompts and verdicts, retries and back-off, the judgments cache, the endpoint check,
and the whole path against a real OpenAI-compatible server (`transformers serve` on the tiny model)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from align.errors import ConfigError
from align.eval.judges import Judgment, PairRequest, RateRequest, Turn
from align.eval.judges import openai as openai_judge
from align.eval.judges.cache import FILE_NAME, JudgmentCache, cache_key
from align.eval.judges.openai import OpenAIJudge, backoff_seconds, check_endpoint
from align.eval.judges.prompts import pair_messages, parse_rating, parse_winner, rating_messages
from tests.eval.conftest import completion, judge_settings

TURN1 = RateRequest("81", "writing", (Turn("Write a haiku about rain.", "Rain taps the window."),))
TURN2_GUIDED = RateRequest("111", "math", (
    Turn("What is 12 * 3?", "36", reference="36"),
    Turn("And divided by 4?", "8", reference="9"),
))
PAIR = PairRequest("81", "writing", TURN1.turns, (Turn("Write a haiku about rain.", "Drops fall."),))


@pytest.mark.parametrize(("text", "score"), [
    ("The answer is clear and correct.\n\nRating: [[8]]", 8.0),
    ("Rating: [[7.5]]", 7.5),
    ('I must answer in the format "[[rating]]". Rating: [[3]]', 3.0),  # the format quoted, then the verdict
    ("Rating: [6]", 6.0),  # FastChat's fallback: a bracket dropped
    ("Rating: [[2]] ... on second thought, Rating: [[4]]", 4.0),  # the last verdict counts
    ("Rating: [[10]]", 10.0),
])
def test_a_rating_is_read_from_the_judges_answer(text: str, score: float):
    judgment = parse_rating(text)
    assert judgment == Judgment(score=score, raw=text)


@pytest.mark.parametrize(("text", "reason"), [
    ("A fine answer, I'd give it eight.", "no rating"),
    ("", "no rating"),
    ("Rating: [[11]]", "outside 1-10"),
    ("Rating: [[0]]", "outside 1-10"),
])
def test_an_answer_without_a_readable_rating_is_unrated_with_the_reason(text: str, reason: str):
    judgment = parse_rating(text)
    assert judgment.score is None and judgment.winner is None
    assert reason in judgment.raw and text in judgment.raw


@pytest.mark.parametrize(("text", "winner"), [
    ("Assistant A is more vivid. [[A]]", "A"),
    ("[[B]]", "B"),
    ("Both are equally good: [[C]]", "tie"),
    ('Output "[[A]]" if A is better... my verdict: [[B]]', "B"),
])
def test_a_pairwise_verdict_is_read_from_the_judges_answer(text: str, winner: str):
    assert parse_winner(text) == Judgment(winner=winner, raw=text)


@pytest.mark.parametrize("text", ["A is better.", "[A]", "[[D]]"])
def test_an_answer_without_a_verdict_has_no_winner(text: str):
    judgment = parse_winner(text)
    assert judgment.winner is None and judgment.score is None and "no verdict" in judgment.raw


def test_the_prompts_follow_mt_benchs_variants():
    system, user = (m["content"] for m in rating_messages(TURN1))
    assert '"[[rating]]"' in system + user and '"Rating: [[5]]"' in user
    assert "[Question]\nWrite a haiku about rain." in user and "Rain taps the window." in user
    assert "Reference Answer" not in user

    system, user = (m["content"] for m in rating_messages(TURN2_GUIDED))
    assert "last user question" in system and '"Rating: [[5]]"' in system
    assert "### User:\nAnd divided by 4?\n\n### Assistant A:\n8" in user  # both turns, the answer to judge last
    assert "### Reference answer:\n9" in user and "### Reference answer:\n36" in user

    system, user = (m["content"] for m in pair_messages(PAIR))
    assert '"[[A]]"' in system and '"[[B]]"' in system and '"[[C]]" for a tie' in system
    assert user.index("Rain taps the window.") < user.index("Drops fall.")  # A is turns_a

    two_turns = PairRequest("111", "math", TURN2_GUIDED.turns, (TURN2_GUIDED.turns[0], Turn("And divided by 4?", "9")))
    system, user = (m["content"] for m in pair_messages(two_turns))
    assert "Assistant B's Conversation" in user and "### Reference answer:\n9" in user


def test_backoff_doubles_with_jitter_and_honours_retry_after():
    for attempt in range(4):
        delay = backoff_seconds(attempt)
        assert openai_judge.BACKOFF_BASE_S * 2**attempt / 2 <= delay <= openai_judge.BACKOFF_BASE_S * 2**attempt
    assert backoff_seconds(30) <= openai_judge.BACKOFF_MAX_S
    assert backoff_seconds(0, retry_after="3") == 3.0
    assert backoff_seconds(0, retry_after="Wed, 21 Oct 2015 07:28:00 GMT") <= openai_judge.BACKOFF_BASE_S


def test_429_and_5xx_are_retried_with_backoff_until_an_answer(stub, tmp_path: Path, monkeypatch):
    monkeypatch.setattr(openai_judge, "BACKOFF_BASE_S", 0.2)
    stub.script[:] = [(429, {"error": "slow down"}, {}), (503, "busy", {}), (200, completion("Rating: [[7]]"), {})]
    started = time.monotonic()
    [judgment] = OpenAIJudge(judge_settings(stub.base_url), tmp_path).rate([TURN1])
    assert judgment.score == 7.0
    assert len(stub.chat_requests) == 3
    assert time.monotonic() - started >= 0.2 * 0.5 + 0.4 * 0.5  # two back-offs waited


def test_a_judge_that_never_answers_gives_an_unrated_judgment_that_is_not_cached(stub, tmp_path: Path, monkeypatch):
    monkeypatch.setattr(openai_judge, "BACKOFF_BASE_S", 0.01)
    stub.script[:] = [(500, "internal error", {})]
    [judgment] = OpenAIJudge(judge_settings(stub.base_url, max_retries=2), tmp_path).rate([TURN1])
    assert judgment.score is None and "3 attempts" in judgment.raw and "HTTP 500" in judgment.raw
    assert len(stub.chat_requests) == 3
    assert len(JudgmentCache(tmp_path)) == 0  # a rerun asks again


def test_a_client_error_is_not_retried(stub, tmp_path: Path):
    stub.script[:] = [(400, {"error": "unknown model"}, {})]
    [judgment] = OpenAIJudge(judge_settings(stub.base_url), tmp_path).compare([PAIR])
    assert judgment.winner is None and "HTTP 400" in judgment.raw and "unknown model" in judgment.raw
    assert len(stub.chat_requests) == 1


def test_connection_errors_are_retried_then_reported(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(openai_judge, "BACKOFF_BASE_S", 0.01)
    [judgment] = OpenAIJudge(judge_settings("http://127.0.0.1:9/v1", max_retries=1), tmp_path).rate([TURN1])
    assert judgment.score is None and "2 attempts" in judgment.raw and "Connection refused" in judgment.raw


def test_requests_carry_the_settings_and_the_key_from_the_environment_only(stub, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("MY_JUDGE_KEY", "sk-secret-123")
    stub.answer("[[A]]")
    cfg = judge_settings(stub.base_url, api_key_env="MY_JUDGE_KEY", max_tokens=77, temperature=0.5)
    [judgment] = OpenAIJudge(cfg, tmp_path).compare([PAIR])
    assert judgment.winner == "A"
    [(_, path, headers, body)] = stub.requests
    assert path == "/v1/chat/completions" and headers["Authorization"] == "Bearer sk-secret-123"
    assert body["model"] == "judge-model" and body["max_tokens"] == 77 and body["temperature"] == 0.5
    assert body["messages"] == pair_messages(PAIR)
    assert "sk-secret" not in (tmp_path / FILE_NAME).read_text()


def test_a_key_echoed_by_a_failing_server_is_not_kept(stub, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("MY_JUDGE_KEY", "sk-secret-123")
    stub.script[:] = [(403, {"error": "key sk-secret-123 has no access to judge-model"}, {})]
    [judgment] = OpenAIJudge(judge_settings(stub.base_url, api_key_env="MY_JUDGE_KEY"), tmp_path).rate([TURN1])
    assert "HTTP 403" in judgment.raw and "<redacted> has no access" in judgment.raw
    assert "sk-secret" not in judgment.raw


def test_every_request_gets_a_judgment_in_order_and_a_rerun_asks_nothing(stub, tmp_path: Path):
    requests = [RateRequest(str(n), "writing", (Turn(f"Question {n}?", f"Answer {n}."),)) for n in range(12)]
    stub.script[:] = [(200, completion("Rating: [[4]]"), {})]
    judgments = OpenAIJudge(judge_settings(stub.base_url, concurrency=4), tmp_path).rate(requests + requests[:2])
    assert len(judgments) == 14 and all(j.score == 4.0 for j in judgments)
    asked = [body["messages"][1]["content"] for body in stub.chat_requests]
    assert len(asked) == 12  # a request that comes twice is asked once
    assert sorted(asked) == sorted(rating_messages(r)[1]["content"] for r in requests)

    again = OpenAIJudge(judge_settings(stub.base_url, concurrency=4), tmp_path).rate(list(reversed(requests)))
    assert again == list(reversed(judgments[:12]))
    assert len(stub.chat_requests) == 12  # nothing paid twice


def test_an_unreadable_verdict_is_kept_and_not_asked_again(stub, tmp_path: Path):
    stub.answer("I cannot decide.")
    [judgment] = OpenAIJudge(judge_settings(stub.base_url), tmp_path).rate([TURN1])
    assert judgment.score is None and "no rating" in judgment.raw and "I cannot decide." in judgment.raw
    assert OpenAIJudge(judge_settings(stub.base_url), tmp_path).rate([TURN1]) == [judgment]
    assert len(stub.chat_requests) == 1


def test_a_malformed_completion_is_a_failed_judgment(stub, tmp_path: Path):
    stub.script[:] = [(200, {"choices": []}, {})]
    [judgment] = OpenAIJudge(judge_settings(stub.base_url), tmp_path).rate([TURN1])
    assert judgment.score is None and "not a chat completion" in judgment.raw


def test_another_judge_model_or_prompt_kind_does_not_reuse_verdicts(stub, tmp_path: Path):
    stub.answer("Rating: [[6]] [[B]]")
    OpenAIJudge(judge_settings(stub.base_url), tmp_path).rate([TURN1])
    OpenAIJudge(judge_settings(stub.base_url, model="other-judge"), tmp_path).rate([TURN1])
    OpenAIJudge(judge_settings(stub.base_url, temperature=0.7), tmp_path).rate([TURN1])
    assert len(stub.chat_requests) == 3
    judge = OpenAIJudge(judge_settings(stub.base_url), tmp_path)
    assert cache_key(judge.id, "rate", TURN1) != cache_key(judge.id, "compare", TURN1)


def test_the_cache_survives_a_line_cut_short(tmp_path: Path):
    cache = JudgmentCache(tmp_path)
    cache.put("a", Judgment(score=5.0, raw="Rating: [[5]]"))
    with (tmp_path / FILE_NAME).open("a") as handle:
        handle.write('{"key": "b", "judgm')  # a run killed mid-write
    reopened = JudgmentCache(tmp_path)
    assert len(reopened) == 1 and reopened.get("a") == Judgment(score=5.0, raw="Rating: [[5]]")
    reopened.put("c", Judgment(winner="tie", raw="[[C]]"))
    assert JudgmentCache(tmp_path).get("c") == Judgment(winner="tie", raw="[[C]]")


def test_check_endpoint_fails_fast_naming_base_url_when_nothing_listens():
    started = time.monotonic()
    with pytest.raises(ConfigError) as error:
        check_endpoint(judge_settings("http://127.0.0.1:9/v1"))
    assert time.monotonic() - started < 5
    assert "judge.base_url" in str(error.value) and "http://127.0.0.1:9/v1" in str(error.value)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("base_url", [None, "", "localhost:8000/v1"])
def test_check_endpoint_wants_an_http_url(base_url):
    with pytest.raises(ConfigError, match=r"^Invalid value for judge\.base_url: .*https://api\.openai\.com/v1"):
        check_endpoint(judge_settings(base_url))


def test_check_endpoint_names_api_key_env_on_401(stub, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    stub.script[:] = [(401, {"error": "invalid api key"}, {})]
    with pytest.raises(ConfigError) as error:
        check_endpoint(judge_settings(stub.base_url))
    message = str(error.value)
    assert "judge.api_key_env" in message and "OPENAI_API_KEY" in message and "not set" in message
    assert stub.requests[0][1] == "/v1/models"


def test_check_endpoint_names_base_url_for_a_wrong_path(stub):
    stub.script[:] = [(404, "not found", {})]
    with pytest.raises(ConfigError, match=r"judge\.base_url.*HTTP 404"):
        check_endpoint(judge_settings(stub.base_url.removesuffix("/v1")))


def test_check_endpoint_accepts_an_endpoint_that_lists_models(stub, monkeypatch, caplog):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    check_endpoint(judge_settings(stub.base_url))
    [(method, path, headers, _)] = stub.requests
    assert (method, path, headers["Authorization"]) == ("GET", "/v1/models", "Bearer sk-test")
    assert "judge.model" not in caplog.text

    check_endpoint(judge_settings(stub.base_url, model="gpt-5"))  # some servers load models they do not list
    assert "judge.model='gpt-5' is not among the models" in caplog.text and "judge-model" in caplog.text


@pytest.mark.slow
def test_the_judge_against_transformers_serve(served_tiny_model, tmp_path: Path):
    """The tiny model cannot grade, so this checks the plumbing on a real server: every request reaches it and
    comes back as a Judgment (rated, or unrated with the judge's text), and a rerun is served from the cache."""
    served = served_tiny_model
    cfg = judge_settings(served.base_url, model=served.model, max_tokens=8, concurrency=2)
    check_endpoint(cfg)
    before = served.chat_requests()
    judge = OpenAIJudge(cfg, tmp_path)
    ratings, verdicts = judge.rate([TURN1, TURN2_GUIDED]), judge.compare([PAIR])
    assert served.chat_requests() - before == 3
    for judgment in ratings:
        assert (judgment.score is not None and 1 <= judgment.score <= 10) or "no rating" in judgment.raw
    assert verdicts[0].winner is not None or "no verdict" in verdicts[0].raw
    lines = [json.loads(line) for line in (tmp_path / FILE_NAME).read_text().splitlines()]
    assert len(lines) == 3

    rerun = OpenAIJudge(cfg, tmp_path)
    assert rerun.rate([TURN1, TURN2_GUIDED]) == ratings and rerun.compare([PAIR]) == verdicts
    assert served.chat_requests() - before == 3
