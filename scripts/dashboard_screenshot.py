#!/usr/bin/env python3
"""Takes a screenshot of olla's dashboard after keeping it open for a while, as docs/dashboard.png was made.

Usage: python3 scripts/dashboard_screenshot.py URL OUT.png [SECONDS]
Loads URL in headless Chromium, waits SECONDS (default 12) of real time, so that the page has refreshed several
times and noted what changed meanwhile (`kill studio-a` / `revive studio-a` typed into `olla demo`), and writes
a 1400x1000 PNG. `chromium --screenshot` cannot do this: it shoots as soon as the page has loaded. Chromium is
driven over the DevTools protocol on a pipe (fds 3 and 4), so no port is opened.
"""
import base64
import json
import os
import subprocess
import sys
import tempfile
import time


def main() -> int:
    url, out = sys.argv[1], sys.argv[2]
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 12.0
    commands_read, commands_write = os.pipe()
    events_read, events_write = os.pipe()

    def wire_pipe():
        os.dup2(commands_read, 3)
        os.dup2(events_write, 4)

    with tempfile.TemporaryDirectory(prefix="olla-chromium-") as profile:
        browser = subprocess.Popen(
            ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--remote-debugging-pipe", f"--user-data-dir={profile}", "--no-first-run",
             "--window-size=1400,1000", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=wire_pipe, pass_fds=(3, 4),
        )
        os.close(commands_read)
        os.close(events_write)
        events = os.fdopen(events_read, "rb")
        buffered = b""
        next_id = 0

        def send(method, params=None, session=None):
            nonlocal next_id, buffered
            next_id += 1
            message = {"id": next_id, "method": method, "params": params or {}}
            if session:
                message["sessionId"] = session
            os.write(commands_write, json.dumps(message).encode() + b"\0")
            while True:
                while b"\0" not in buffered:
                    chunk = events.read1(65536)
                    if not chunk:
                        raise RuntimeError("chromium closed the DevTools pipe")
                    buffered += chunk
                raw, buffered = buffered.split(b"\0", 1)
                answer = json.loads(raw)
                if answer.get("id") == next_id:
                    if "error" in answer:
                        raise RuntimeError(f"{method}: {answer['error']}")
                    return answer.get("result", {})

        try:
            target = send("Target.createTarget", {"url": "about:blank"})["targetId"]
            session = send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            send("Emulation.setDeviceMetricsOverride",
                 {"width": 1400, "height": 1000, "deviceScaleFactor": 1, "mobile": False}, session)
            send("Page.navigate", {"url": url}, session)
            time.sleep(seconds)
            shot = send("Page.captureScreenshot", {"format": "png"}, session)
            with open(out, "wb") as file:
                file.write(base64.b64decode(shot["data"]))
            send("Browser.close")
        finally:
            os.close(commands_write)
            try:
                browser.wait(timeout=10)
            except subprocess.TimeoutExpired:
                browser.kill()
                browser.wait()
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
