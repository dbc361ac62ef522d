#!/usr/bin/env python3
"""A real SMTP server (aiosmtpd) that stores what it receives, for the mail tests.

    smtp_sink.py --host 127.0.0.1 --port 0 --dir D [--control FILE] [--count-only] [--latency-ms N]

Prints `READY <port>` on stdout once listening (with `--port 0` the kernel picks the port).

For each accepted message it writes `D/NNNNNN.eml` (the raw bytes) and appends one JSON line to
`D/received.jsonl` (envelope plus the message parsed with Python's `email` package), then
rewrites `D/count`. With `--count-only` it only counts (for benchmarks): `D/count` is rewritten
at most every 10 ms and on exit. `D/connections` holds the number of SMTP connections opened.

Numbering continues from an existing `D/count` / `D/received.jsonl`, so a restarted sink on the
same directory appends instead of overwriting.

`--control FILE` is a JSON file re-read on every RCPT and DATA (when it exists):

    {"reject":   {"addr@x": 550},    permanent failure for that recipient
     "tempfail": {"addr@x": 451},    transient failure for that recipient
     "stage": "rcpt" | "data",       when reject/tempfail answer (default "rcpt")
     "drop_after_data": ["addr@x"]}  store the message, then close the connection instead of
                                     answering 250 -- only the FIRST time per address per server
                                     run, so the client's retry succeeds (and two copies arrive)

`--latency-ms N` waits N ms (asyncio.sleep, other connections carry on) before answering DATA.
SIGTERM and SIGINT stop the server cleanly.

Each JSON line: n, eml, size, mail_from, rcpt_tos, subject (decoded), subject_raw (as on the wire,
unfolded), from, to, date, message_id, list_unsubscribe, list_unsubscribe_post (decoded, or null),
content_type (of the top part), text and html (the decoded text/plain and text/html bodies, line
endings as \n, or null), all_headers_ascii (every header line of every part is 7-bit), headers
([[name, decoded value]] of the top part, in order) -- or parse_error when `email` gave up.
"""

import argparse
import asyncio
import email
import email.policy
import json
import os
import signal
import socket
import sys

from aiosmtpd.smtp import SMTP

RCPT_TEXT = {
    4: "4.2.0 mailbox temporarily unavailable",
    5: "5.1.1 mailbox unavailable",
}


def status_line(code):
    code = int(code)
    return f"{code} {RCPT_TEXT.get(code // 100, '5.0.0 rejected')}"


def header_str(msg, name):
    try:
        value = msg[name]
    except Exception as e:  # a malformed header must not lose the message
        return f"<unparsable: {e}>"
    return None if value is None else str(value)


def raw_header(raw, name):
    """The header `name` of the top-level block as sent (unfolded, not decoded)."""
    end = raw.find(b"\r\n\r\n")
    if end < 0:
        end = raw.find(b"\n\n")
    block = raw if end < 0 else raw[:end]
    lines = block.replace(b"\r\n", b"\n").split(b"\n")
    want = name.lower().encode() + b":"
    found = None
    for line in lines:
        if line[:1] in (b" ", b"\t"):
            if found is not None:
                found += line
        elif found is not None:
            break
        elif line.lower().startswith(want):
            found = line[len(want):].lstrip(b" \t")
    return None if found is None else found.decode("utf-8", errors="replace")


def body_part(msg, kind):
    try:
        part = msg.get_body(preferencelist=(kind,))
        # Line endings normalised to \n so tests can compare text; the .eml keeps the wire form.
        return None if part is None else part.get_content().replace("\r\n", "\n")
    except Exception as e:
        return f"<undecodable {kind} part: {e}>"


def describe(n, envelope, raw):
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    headers_ascii = all(
        name.isascii() and str(value).isascii()
        for part in msg.walk()
        for name, value in part.raw_items()
    )
    try:
        headers = [[name, str(value)] for name, value in msg.items()]
    except Exception as e:
        headers = [["X-Sink-Error", f"unparsable headers: {e}"]]
    return {
        "n": n,
        "eml": f"{n:06d}.eml",
        "size": len(raw),
        "mail_from": envelope.mail_from,
        "rcpt_tos": list(envelope.rcpt_tos),
        "subject": header_str(msg, "subject"),
        "subject_raw": raw_header(raw, "subject"),
        "from": header_str(msg, "from"),
        "to": header_str(msg, "to"),
        "date": header_str(msg, "date"),
        "message_id": header_str(msg, "message-id"),
        "list_unsubscribe": header_str(msg, "list-unsubscribe"),
        "list_unsubscribe_post": header_str(msg, "list-unsubscribe-post"),
        "content_type": msg.get_content_type(),
        "text": body_part(msg, "plain"),
        "html": body_part(msg, "html"),
        "all_headers_ascii": headers_ascii,
        "headers": headers,
    }


def write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


class Sink:
    """The aiosmtpd handler: control-file decisions, storage and counting."""

    def __init__(self, args):
        self.dir = args.dir
        self.control_path = args.control
        self.count_only = args.count_only
        self.latency = args.latency_ms / 1000.0
        self.dropped = set()  # drop_after_data addresses already dropped once in this run
        self.count = self.initial_count()
        self.connections = 0
        self.flush_pending = False
        self.loop = None

    def initial_count(self):
        n = 0
        try:
            with open(os.path.join(self.dir, "count")) as f:
                n = int(f.read().strip() or 0)
        except (OSError, ValueError):
            pass
        try:
            with open(os.path.join(self.dir, "received.jsonl"), "rb") as f:
                n = max(n, sum(1 for _ in f))
        except OSError:
            pass
        return n

    def control(self):
        if not self.control_path:
            return {}
        try:
            with open(self.control_path) as f:
                return json.load(f)
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as e:
            print(f"smtp_sink: bad control file {self.control_path}: {e}", file=sys.stderr, flush=True)
            return {}

    @staticmethod
    def refusal(control, address, stage):
        if control.get("stage", "rcpt") != stage:
            return None
        for key in ("reject", "tempfail"):
            code = (control.get(key) or {}).get(address)
            if code is not None:
                return status_line(code)
        return None

    def connected(self):
        self.connections += 1
        write_atomic(os.path.join(self.dir, "connections"), str(self.connections))

    def flush_count(self):
        self.flush_pending = False
        write_atomic(os.path.join(self.dir, "count"), str(self.count))

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        refused = self.refusal(self.control(), address, "rcpt")
        if refused:
            return refused
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        control = self.control()
        for address in envelope.rcpt_tos:
            refused = self.refusal(control, address, "data")
            if refused:
                return refused
        if self.latency:
            await asyncio.sleep(self.latency)
        self.count += 1
        if self.count_only:
            if not self.flush_pending:
                self.flush_pending = True
                self.loop.call_later(0.01, self.flush_count)
        else:
            self.store(envelope)
            self.flush_count()
        drop = [a for a in envelope.rcpt_tos if a in set(control.get("drop_after_data") or [])]
        if drop and not all(a in self.dropped for a in drop):
            self.dropped.update(drop)
            # Close without a reply; connection_lost() then cancels this coroutine.
            server.transport.abort()
            await asyncio.sleep(3600)
        return "250 2.0.0 OK queued"

    def store(self, envelope):
        raw = envelope.original_content
        n = self.count
        with open(os.path.join(self.dir, f"{n:06d}.eml"), "wb") as f:
            f.write(raw)
        try:
            record = describe(n, envelope, raw)
        except Exception as e:  # keep the raw message and say why it did not parse
            record = {"n": n, "eml": f"{n:06d}.eml", "mail_from": envelope.mail_from,
                      "rcpt_tos": list(envelope.rcpt_tos), "parse_error": repr(e)}
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with open(os.path.join(self.dir, "received.jsonl"), "a", encoding="utf-8") as f:
            f.write(line)


async def serve(args):
    os.makedirs(args.dir, exist_ok=True)
    sink = Sink(args)
    loop = asyncio.get_running_loop()
    sink.loop = loop

    sock = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET, socket.SOCK_STREAM)
    # Reuse the port right after a stop (restart on the same port).
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    sock.listen(1024)
    sock.setblocking(False)
    port = sock.getsockname()[1]

    def factory():
        sink.connected()
        return SMTP(
            sink,
            hostname="smtp-sink.test",
            ident="tidings smtp_sink",
            enable_SMTPUTF8=True,
            decode_data=False,
            data_size_limit=64 * 1024 * 1024,
            loop=loop,
        )

    server = await loop.create_server(factory, sock=sock)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"READY {port}", flush=True)
    await stop.wait()
    server.close()
    sink.flush_count()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--dir", required=True)
    p.add_argument("--control")
    p.add_argument("--count-only", action="store_true")
    p.add_argument("--latency-ms", type=int, default=0)
    args = p.parse_args()
    try:
        asyncio.run(serve(args))
    except OSError as e:
        print(f"smtp_sink: cannot listen on {args.host}:{args.port}: {e}", file=sys.stderr, flush=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
