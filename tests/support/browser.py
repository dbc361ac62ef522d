#!/usr/bin/env python3
"""Fill and submit an HTML form in headless Chromium over the DevTools Protocol (websocket-client).

    browser.py --chrome PATH --url URL [--fill NAME=VALUE ...] [--check NAME=VALUE ...]
               [--select NAME=VALUE ...] --submit CSS_SELECTOR --screenshot OUT.png
               [--wait-text TEXT] [--timeout SECONDS]

Opens URL, sets text-like inputs and textareas by name (--fill), ticks the checkbox or radio with
that name and value (--check), picks the option of a <select> (--select; added to the selection of
a <select multiple>), clicks CSS_SELECTOR, waits for the navigation to load (or, with --wait-text,
until TEXT is on the page, which also covers forms that submit by script), saves a full-page PNG
screenshot to OUT and prints one JSON line:

    {"url": ..., "title": ..., "text": document.body.innerText, "status": HTTP status of the last
     document or null, "errors": [uncaught JS exceptions]}

Any failure (element missing, invalid form, no navigation, timeout, Chromium dying) prints
`browser.py: <what went wrong>` on stderr and exits 1. Chromium runs in its own process group
with a throw-away profile and is killed at the end in every case.
"""

import argparse
import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

import websocket


class Failure(Exception):
    """A problem to report to the caller (exit 1)."""


def pair(text):
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


class Chromium:
    """A headless Chromium with a private profile, stopped by close()."""

    def __init__(self, path, timeout):
        self.profile = tempfile.mkdtemp(prefix="tidings-chrome-")
        self.log = open(os.path.join(self.profile, "chrome.log"), "w+b")
        args = [
            path,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--window-size=1280,1024",
            "--remote-debugging-port=0",
            "--remote-allow-origins=*",
            f"--user-data-dir={self.profile}",
            "about:blank",
        ]
        try:
            # Own process group, so close() also reaches the renderer and helper processes.
            self.proc = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log, start_new_session=True
            )
        except OSError as e:
            self.cleanup()
            raise Failure(f"cannot run {path}: {e}")
        self.port = self.wait_port(timeout)

    def wait_port(self, timeout):
        marker = os.path.join(self.profile, "DevToolsActivePort")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise Failure(f"chromium exited with {self.proc.returncode}:\n{self.output()}")
            try:
                with open(marker) as f:
                    first = f.readline().strip()
                if first.isdigit():
                    return int(first)
            except OSError:
                pass
            time.sleep(0.05)
        raise Failure(f"chromium wrote no DevToolsActivePort within {timeout}s:\n{self.output()}")

    def output(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read().decode("utf-8", "replace")[-4000:]

    def page_ws_url(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/json/list", timeout=10) as r:
            targets = json.load(r)
        for t in targets:
            if t.get("type") == "page" and t.get("webSocketDebuggerUrl"):
                return t["webSocketDebuggerUrl"]
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/json/new?about:blank", method="PUT")
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.load(r)["webSocketDebuggerUrl"]

    def close(self):
        proc = getattr(self, "proc", None)
        if proc is not None and proc.poll() is None:
            for sig, wait in ((signal.SIGTERM, 3), (signal.SIGKILL, 3)):
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    proc.wait(wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        if proc is not None:
            # The group may outlive its leader for a moment; make sure no helper stays behind.
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self.cleanup()

    def cleanup(self):
        self.log.close()
        shutil.rmtree(self.profile, ignore_errors=True)


class Cdp:
    """A minimal DevTools Protocol client over one page's websocket."""

    def __init__(self, url, timeout):
        self.ws = websocket.create_connection(url, timeout=timeout, suppress_origin=True)
        self.next_id = 0
        self.events = []
        self.errors = []
        self.status = None

    def note(self, event):
        method = event.get("method")
        params = event.get("params", {})
        if method == "Runtime.exceptionThrown":
            d = params.get("exceptionDetails", {})
            self.errors.append(d.get("exception", {}).get("description") or d.get("text"))
        elif method == "Network.responseReceived" and params.get("type") == "Document":
            self.status = params.get("response", {}).get("status")
        self.events.append(event)

    def recv(self, deadline):
        self.ws.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            return json.loads(self.ws.recv())
        except websocket.WebSocketTimeoutException:
            return None

    def call(self, method, timeout=30, **params):
        self.next_id += 1
        my_id = self.next_id
        self.ws.send(json.dumps({"id": my_id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = self.recv(deadline)
            if msg is None:
                continue
            if msg.get("id") == my_id:
                if "error" in msg:
                    raise Failure(f"{method}: {msg['error'].get('message')}")
                return msg.get("result", {})
            if "method" in msg:
                self.note(msg)
        raise Failure(f"{method}: no answer within {timeout}s")

    def wait_event(self, name, timeout, accept=lambda params: True):
        """Waits for an event (also one already queued since the last clear_events())."""
        deadline = time.monotonic() + timeout
        while True:
            for i, e in enumerate(self.events):
                if e.get("method") == name and accept(e.get("params", {})):
                    del self.events[: i + 1]
                    return e.get("params", {})
            if time.monotonic() >= deadline:
                return None
            msg = self.recv(deadline)
            if msg is not None and "method" in msg:
                self.note(msg)

    def clear_events(self):
        self.events.clear()

    def evaluate(self, expression, timeout=30):
        result = self.call("Runtime.evaluate", timeout, expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            d = result["exceptionDetails"]
            raise Failure(d.get("exception", {}).get("description") or d.get("text") or "script failed")
        return result.get("result", {}).get("value")

    def call_js(self, function, *args):
        """Runs `function` (JS source) on JSON arguments and returns its JSON result."""
        return self.evaluate(f"({function})(...{json.dumps(list(args))})")


FILL_JS = """
(fills, checks, selects) => {
  const problems = [];
  const named = (name) => Array.from(document.getElementsByName(name));
  const fire = (el) => {
    el.dispatchEvent(new Event('input', {bubbles: true}));
    el.dispatchEvent(new Event('change', {bubbles: true}));
  };
  for (const [name, value] of fills) {
    const el = named(name).find((e) => e.tagName === 'TEXTAREA' ||
      (e.tagName === 'INPUT' && !['checkbox', 'radio', 'submit', 'button', 'file'].includes(e.type)));
    if (!el) { problems.push(`no text input named ${JSON.stringify(name)}`); continue; }
    el.focus();
    el.value = value;
    fire(el);
  }
  for (const [name, value] of checks) {
    const el = named(name).find((e) => e.tagName === 'INPUT' &&
      (e.type === 'checkbox' || e.type === 'radio') && e.value === value);
    if (!el) { problems.push(`no checkbox or radio ${JSON.stringify(name)} with value ${JSON.stringify(value)}`); continue; }
    if (!el.checked) el.click();
    if (!el.checked) problems.push(`${JSON.stringify(name)}=${JSON.stringify(value)} would not tick`);
  }
  for (const [name, value] of selects) {
    const el = named(name).find((e) => e.tagName === 'SELECT');
    if (!el) { problems.push(`no <select> named ${JSON.stringify(name)}`); continue; }
    const opt = Array.from(el.options).find((o) => o.value === value);
    if (!opt) {
      const have = Array.from(el.options).map((o) => o.value);
      problems.push(`<select ${name}> has no option ${JSON.stringify(value)} (has ${JSON.stringify(have)})`);
      continue;
    }
    if (el.multiple) { opt.selected = true; } else { el.value = value; }
    fire(el);
  }
  return problems;
}
"""

CLICK_JS = """
(selector) => {
  const el = document.querySelector(selector);
  if (!el) return `nothing matches ${JSON.stringify(selector)}`;
  el.scrollIntoView();
  el.click();
  return null;
}
"""

# Why a click did not submit: the browser's own constraint validation messages.
INVALID_JS = """
(selector) => {
  const el = document.querySelector(selector);
  const form = el && (el.form || el.closest('form'));
  if (!form || form.noValidate || el.formNoValidate) return [];
  return Array.from(form.elements)
    .filter((e) => e.willValidate && !e.checkValidity())
    .map((e) => `${e.name || e.id || e.tagName}: ${e.validationMessage}`);
}
"""

PAGE_JS = """
() => ({url: location.href, title: document.title,
        text: document.body ? document.body.innerText : ''})
"""


def run(args):
    chrome = Chromium(args.chrome, args.timeout)
    cdp = None
    try:
        cdp = Cdp(chrome.page_ws_url(), args.timeout)
        for domain in ("Page", "Runtime", "Network"):
            cdp.call(f"{domain}.enable")

        cdp.clear_events()
        nav = cdp.call("Page.navigate", args.timeout, url=args.url)
        if nav.get("errorText"):
            raise Failure(f"cannot open {args.url}: {nav['errorText']}")
        if cdp.wait_event("Page.loadEventFired", args.timeout) is None:
            raise Failure(f"{args.url} did not finish loading within {args.timeout}s")
        if cdp.status is not None and cdp.status >= 400:
            raise Failure(f"{args.url} answered HTTP {cdp.status}")

        problems = cdp.call_js(FILL_JS, args.fill, args.check, args.select)
        if problems:
            raise Failure(f"on {args.url}: " + "; ".join(problems))

        invalid = cdp.call_js(INVALID_JS, args.submit)
        if invalid:
            raise Failure(f"on {args.url} the form would not submit: {'; '.join(invalid)}")
        cdp.clear_events()
        missing = cdp.call_js(CLICK_JS, args.submit)
        if missing:
            raise Failure(f"on {args.url}: {missing}")
        navigated = cdp.wait_event(
            "Page.frameNavigated",
            args.timeout if args.wait_text is None else 2,
            lambda p: not p.get("frame", {}).get("parentId"),
        )
        if navigated is not None:
            if cdp.wait_event("Page.loadEventFired", args.timeout) is None:
                raise Failure(f"the page after submitting did not load within {args.timeout}s")
        elif args.wait_text is None:
            raise Failure(f"clicking {args.submit} on {args.url} did not navigate")

        page = cdp.call_js(PAGE_JS)
        if args.wait_text is not None:
            deadline = time.monotonic() + args.timeout
            while args.wait_text not in page["text"]:
                if time.monotonic() >= deadline:
                    raise Failure(
                        f"{args.wait_text!r} did not appear within {args.timeout}s on {page['url']}:\n"
                        f"{page['text'][:2000]}"
                    )
                time.sleep(0.1)
                try:
                    page = cdp.call_js(PAGE_JS)
                except Failure:
                    pass  # a navigation replaced the page mid-call; look again

        metrics = cdp.call("Page.getLayoutMetrics")
        size = metrics.get("cssContentSize") or metrics.get("contentSize")
        width = max(1, min(int(size["width"]), 4000))
        height = max(1, min(int(size["height"]), 16000))
        shot = cdp.call(
            "Page.captureScreenshot",
            args.timeout,
            format="png",
            captureBeyondViewport=True,
            clip={"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
        )
        with open(args.screenshot, "wb") as f:
            f.write(base64.b64decode(shot["data"]))

        page["status"] = cdp.status
        page["errors"] = cdp.errors
        print(json.dumps(page, ensure_ascii=False), flush=True)
    finally:
        if cdp is not None:
            try:
                cdp.ws.close()
            except Exception:
                pass
        chrome.close()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--chrome", required=True)
    p.add_argument("--url", required=True)
    p.add_argument("--fill", type=pair, action="append", default=[])
    p.add_argument("--check", type=pair, action="append", default=[])
    p.add_argument("--select", type=pair, action="append", default=[])
    p.add_argument("--submit", required=True)
    p.add_argument("--screenshot", required=True)
    p.add_argument("--wait-text")
    p.add_argument("--timeout", type=float, default=30)
    args = p.parse_args()
    try:
        run(args)
    except Failure as e:
        print(f"browser.py: {e}", file=sys.stderr, flush=True)
        sys.exit(1)
    except Exception as e:  # anything unexpected still gets a one-line cause, then the trace
        print(f"browser.py: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
        raise


if __name__ == "__main__":
    main()
