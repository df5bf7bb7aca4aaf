#!/usr/bin/env python3
"""Talks to olla with the official `openai` Python SDK: chat (plain and streamed), completions, embeddings.

Usage: python3 scripts/openai_sdk_check.py http://127.0.0.1:40114/olla/lmstudio/v1 CHAT_MODEL EMBEDDING_MODEL
Prints one line per check and exits 1 on the first failure. The AppTests target runs it against a real olla
in front of simulated hosts (OpenAISDKTests) when the `openai` package is installed; `.ci/run` installs it.
"""
import sys

from openai import OpenAI


def main() -> int:
    base_url, chat_model, embedding_model = sys.argv[1], sys.argv[2], sys.argv[3]
    client = OpenAI(base_url=base_url, api_key="not-needed", max_retries=0, timeout=30)

    chat = client.chat.completions.create(
        model=chat_model, messages=[{"role": "user", "content": "Say hello"}]
    )
    text = chat.choices[0].message.content
    assert text, "chat answer is empty"
    print(f"chat: {chat.model}: {text[:60]!r}")

    pieces = []
    finished = None
    for chunk in client.chat.completions.create(
        model=chat_model, messages=[{"role": "user", "content": "Say hello"}], stream=True
    ):
        if chunk.choices:
            pieces.append(chunk.choices[0].delta.content or "")
            finished = chunk.choices[0].finish_reason or finished
    assert pieces and "".join(pieces), "streamed chat produced no text"
    assert finished == "stop", f"stream did not finish: {finished!r}"
    print(f"chat stream: {len(pieces)} chunks: {''.join(pieces)[:60]!r}")

    completion = client.completions.create(model=chat_model, prompt="The meaning of life is", max_tokens=8)
    assert completion.choices[0].text, "completion is empty"
    print(f"completion: {completion.choices[0].text[:60]!r}")

    embedding = client.embeddings.create(model=embedding_model, input="The quick brown fox")
    vector = embedding.data[0].embedding
    assert len(vector) > 0 and all(isinstance(x, float) for x in vector), "embedding is not a float vector"
    print(f"embeddings: {len(vector)} dimensions")

    models = [m.id for m in client.models.list()]
    assert chat_model in models and embedding_model in models, f"models list lacks the models: {models}"
    print(f"models: {models}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
