"""Sends requests that olla answers before it has read them (431, 413) the way a new user would, with
Python's http.client, which sends the whole request before it reads the answer. Prints one line per kind:
`<kind> answered=<n> reset=<n> other=<n>`, and exits 1 when an attempt did not get its answer.

Usage: early_answer_check.py HOST PORT ATTEMPTS
"""
import http.client
import sys

host, port, attempts = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
path = "/olla/lmstudio/v1/chat/completions"
kinds = {
    # A head over max_header_size (4 KB in the test) followed by a body.
    "431": ({"Content-Type": "application/json", "X-Big": "h" * 8192}, b"{" + b" " * (8 * 1024 * 1024) + b"}"),
    # A body over max_body_size (64 KB in the test), declared by Content-Length.
    "413": ({"Content-Type": "application/json"}, b"{" + b" " * (8 * 1024 * 1024) + b"}"),
}
failed = False
for kind, (headers, body) in kinds.items():
    answered = reset = other = 0
    for _ in range(attempts):
        connection = http.client.HTTPConnection(host, port, timeout=20)
        try:
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            text = response.read()
            if str(response.status) == kind and b"request_too_large" in text:
                answered += 1
            else:
                other += 1
        except (ConnectionResetError, BrokenPipeError):
            reset += 1
        except Exception as error:  # noqa: BLE001 - any other failure is counted and shown
            print(f"{kind} error: {error!r}")
            other += 1
        finally:
            connection.close()
    print(f"{kind} answered={answered} reset={reset} other={other}")
    failed = failed or answered != attempts
sys.exit(1 if failed else 0)
