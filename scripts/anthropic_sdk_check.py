#!/usr/bin/env python3
"""Talks to olla with the official `anthropic` Python SDK: `messages.create` (plain, and stopped by `max_tokens`)
and `messages.stream` (text deltas and the final message), as a client of LM Studio 0.4.1+'s `/v1/messages`.

Usage: python3 scripts/anthropic_sdk_check.py http://127.0.0.1:40114/olla/lmstudio MODEL
The base URL has no `/v1`: the SDK appends `/v1/messages` itself. Prints one line per check and exits 1 on the
first failure. The AppTests target runs it against a real olla in front of simulated LM Studio 0.4 hosts
(AnthropicSDKTests) when the `anthropic` package is installed; `.ci/run` installs it.
"""
import sys

from anthropic import Anthropic

MESSAGES = [{"role": "user", "content": "Say hello"}]


def main() -> int:
    base_url, model = sys.argv[1], sys.argv[2]
    client = Anthropic(base_url=base_url, api_key="not-needed", max_retries=0, timeout=30)

    message = client.messages.create(model=model, max_tokens=256, messages=MESSAGES)
    assert message.type == "message" and message.role == "assistant", f"not an assistant message: {message!r}"
    assert message.id.startswith("msg_"), f"message id {message.id!r}"
    assert message.content and message.content[0].type == "text", f"content: {message.content!r}"
    text = message.content[0].text
    assert text, "the message text is empty"
    assert message.stop_reason == "end_turn", f"stop_reason is {message.stop_reason!r}"
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0, f"usage: {message.usage!r}"
    print(f"messages: {message.model}: {message.stop_reason}: {text[:60]!r}")

    limited = client.messages.create(model=model, max_tokens=2, messages=MESSAGES)
    assert limited.stop_reason == "max_tokens", f"stop_reason is {limited.stop_reason!r} with max_tokens=2"
    print(f"messages max_tokens: {limited.stop_reason}: {limited.content[0].text[:60]!r}")

    pieces = []
    kinds = []
    with client.messages.stream(model=model, max_tokens=256, messages=MESSAGES) as stream:
        for event in stream:
            kinds.append(event.type)
            if event.type == "content_block_delta" and event.delta.type == "text_delta":
                pieces.append(event.delta.text)
        final = stream.get_final_message()
        streamed_text = "".join(pieces)
    for kind in ("message_start", "content_block_start", "content_block_delta", "message_delta", "message_stop"):
        assert kind in kinds, f"no {kind} event: {kinds}"
    assert streamed_text, "the stream produced no text"
    assert final.content and final.content[0].type == "text", f"final content: {final.content!r}"
    assert final.content[0].text == streamed_text, f"final text {final.content[0].text!r} != deltas {streamed_text!r}"
    assert final.stop_reason == "end_turn", f"final stop_reason is {final.stop_reason!r}"
    assert final.usage.output_tokens > 0, f"final usage: {final.usage!r}"
    print(f"messages stream: {len(pieces)} deltas: {final.stop_reason}: {streamed_text[:60]!r}")

    with client.messages.stream(model=model, max_tokens=256, messages=MESSAGES) as stream:
        text_stream = "".join(stream.text_stream)
    assert text_stream, "text_stream produced no text"
    print(f"messages text_stream: {text_stream[:60]!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
