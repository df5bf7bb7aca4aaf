#!/usr/bin/env python3
"""Talks to olla with the official `openai` Python SDK's Responses API: 4-turn conversations continued with
`previous_response_id`, plain, streamed (`stream=True`) and both in turn, and one through `responses.stream`.

Usage: python3 scripts/openai_responses_check.py http://127.0.0.1:40114/olla/lmstudio/v1 MODEL
Every turn's input carries a marker `[NAME TURN]`, so whoever drives the script can find each turn in what the
hosts received. Per conversation it prints one line a turn and then
    conversation NAME: HOST ID1 ID2 ID3 ID4
where HOST is the host that answered (an `lmstudio-sim` host says "Hello from HOST. Turn N." first) and IDn the
response ids. Exits 1 on the first failure. The AppTests target runs it against a real olla in front of
simulated LM Studio 0.4 hosts (OpenAIResponsesSDKTests) when the `openai` package is installed.
"""
import re
import sys

from openai import OpenAI

TURNS = 4
GREETING = re.compile(r"Hello from (\S+)\. Turn (\d+)\.")


def host_and_turn(text: str) -> tuple[str, int]:
    """The host and turn an `lmstudio-sim` answer names; another server's answer has neither."""
    match = GREETING.search(text)
    if not match:
        return "?", 0
    return match.group(1), int(match.group(2))


def continuing(previous: str | None) -> dict:
    """The first turn sends no `previous_response_id` at all (not null), as a client starting a conversation."""
    return {"previous_response_id": previous} if previous else {}


def check_usage(response) -> None:
    usage = response.usage
    assert usage is not None and usage.output_tokens > 0, f"usage: {usage!r}"
    # Required by the SDK's types; a client reading cached_tokens would fail on None.
    assert usage.input_tokens_details is not None, f"usage without input_tokens_details: {usage!r}"
    assert usage.output_tokens_details is not None, f"usage without output_tokens_details: {usage!r}"


def plain_turn(client: OpenAI, model: str, marker: str, previous: str | None) -> tuple[str, str]:
    response = client.responses.create(
        model=model, input=f"{marker} Tell me more.", **continuing(previous)
    )
    assert response.status == "completed", f"status is {response.status!r}"
    assert response.id and response.id != previous, f"response id {response.id!r}"
    assert response.previous_response_id == previous, (
        f"previous_response_id is {response.previous_response_id!r}, not {previous!r}"
    )
    text = response.output_text
    assert text, "the answer has no output text"
    check_usage(response)
    return response.id, text


def streamed_turn(client: OpenAI, model: str, marker: str, previous: str | None) -> tuple[str, str]:
    created_id = None
    deltas = []
    completed = None
    kinds = []
    for event in client.responses.create(
        model=model, input=f"{marker} Tell me more.", stream=True, **continuing(previous)
    ):
        kinds.append(event.type)
        if event.type == "response.created":
            assert created_id is None, "two response.created events"
            created_id = event.response.id
        elif event.type == "response.output_text.delta":
            assert created_id is not None, "a delta before response.created"
            assert event.logprobs is not None, f"a text delta without logprobs: {event!r}"
            deltas.append(event.delta)
        elif event.type == "response.completed":
            completed = event.response
    assert created_id, f"no response.created event: {kinds}"
    assert deltas, f"no response.output_text.delta event: {kinds}"
    assert completed is not None, f"no response.completed event: {kinds}"
    assert completed.id == created_id, f"completed id {completed.id!r} is not the created id {created_id!r}"
    assert completed.status == "completed", f"status is {completed.status!r}"
    assert completed.previous_response_id == previous, f"previous_response_id is {completed.previous_response_id!r}"
    check_usage(completed)
    text = "".join(deltas)
    assert text == completed.output_text, f"deltas {text!r} differ from the completed text {completed.output_text!r}"
    return created_id, text


def helper_stream_turn(client: OpenAI, model: str, marker: str, previous: str | None) -> tuple[str, str]:
    """`client.responses.stream(...)`: the SDK assembles the response from the events itself."""
    deltas = []
    with client.responses.stream(
        model=model, input=f"{marker} Tell me more.", **continuing(previous)
    ) as stream:
        for event in stream:
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
        final = stream.get_final_response()
    text = "".join(deltas)
    assert text and text == final.output_text, f"deltas {text!r} differ from the final text {final.output_text!r}"
    return final.id, text


def conversation(client: OpenAI, model: str, name: str, turns) -> None:
    previous = None
    first_host = None
    ids = []
    for number, turn in enumerate(turns, start=1):
        response_id, text = turn(client, model, f"[{name} {number}]", previous)
        host, answered_turn = host_and_turn(text)
        print(f"{name} turn {number}: {turn.__name__} {host} {response_id} {text[:60]!r}")
        first_host = first_host or host
        assert host == first_host, f"turn {number} was answered by {host}, the conversation is on {first_host}"
        assert answered_turn == number, f"turn {number}: the host continued a conversation at turn {answered_turn}"
        previous = response_id
        ids.append(response_id)
    print(f"conversation {name}: {first_host} {' '.join(ids)}")


def main() -> int:
    base_url, model = sys.argv[1], sys.argv[2]
    client = OpenAI(base_url=base_url, api_key="not-needed", max_retries=0, timeout=30)
    conversation(client, model, "plain", [plain_turn] * TURNS)
    conversation(client, model, "streamed", [streamed_turn] * TURNS)
    conversation(client, model, "mixed", [streamed_turn, plain_turn, helper_stream_turn, plain_turn])
    return 0


if __name__ == "__main__":
    sys.exit(main())
