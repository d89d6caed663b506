#!/usr/bin/env python3
"""A scripted stand-in for the OpenAI Responses API, for driving the Codex CLI.

Speaks only what `codex exec` needs: `POST /v1/responses`, answered as a stream
of server-sent events (`response.created`, `response.output_item.done`,
`response.completed`). Python standard library only. Listens on 127.0.0.1 on
a port the kernel picks.

The script of one conversation:
  * a request whose input holds no output of our tool call: answer with one
    call of the shell tool (--tool, `exec_command` in Codex 0.169) running
    --command (in --workdir when given);
  * a request carrying that output: append it to --record (one JSON line,
    {"call_id", "output"}) and end the turn with a short final message.

Every request is appended to --requests (JSON lines) so a test can see what
Codex sent. Other paths answer 404.

Run mode: everything after `--` is a command to run once the server listens
(typically `rampart-preload ... -- codex exec ...`); the server stops when it
exits, and this script exits with its status. `@BASE_URL@` in the files given
with --fill is replaced by `http://127.0.0.1:PORT/v1` first. --loopback-up
brings `lo` up (a fresh network namespace has it down), so the whole run can
live in a namespace where nothing but loopback exists.

Pacing, to make a run deterministic:
  * --await-glob PATTERN: the first answer waits (at most 20 s) until a file
    matches PATTERN, e.g. Codex's shell snapshot, which a real model's latency
    always leaves time for;
  * --hold PATH: the first answer then creates PATH.waiting and waits (at most
    120 s) until PATH exists, so a test can change the world (stop the policy
    daemon) between Codex's start and the model's tool call.
"""

import argparse
import fcntl
import glob
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CALL_ID = "call_rampart_e2e_1"
FINAL_TEXT = "rampart-e2e: done"


def sse(event_type, payload):
    """One server-sent event: `event:` line, `data:` JSON line, blank line."""
    payload = dict(payload, type=event_type)
    return ("event: %s\ndata: %s\n\n" % (event_type, json.dumps(payload))).encode()


def usage():
    return {
        "input_tokens": 10,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 5,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 15,
    }


def output_text(out):
    """The text of a tool output, whichever shape Codex sent it in."""
    if isinstance(out, str):
        return out
    if isinstance(out, list):  # content items
        return "".join(p.get("text", "") for p in out if isinstance(p, dict))
    if isinstance(out, dict) and isinstance(out.get("content"), str):
        return out["content"]
    return json.dumps(out)


def tool_outputs(body):
    """The (call_id, output text) pairs of the tool outputs in a request body."""
    found = []
    for item in body.get("input") or []:
        if isinstance(item, dict) and item.get("type") in (
            "function_call_output",
            "custom_tool_call_output",
        ):
            found.append((item.get("call_id"), output_text(item.get("output"))))
    return found


def wait_for(predicate, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


class Script:
    """What to answer; shared by the handler threads."""

    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.first = threading.Lock()
        self.paced = False
        self.seq = 0

    def next_id(self, prefix):
        with self.lock:
            self.seq += 1
            return "%s_%d" % (prefix, self.seq)

    def append(self, path, record):
        if not path:
            return
        with self.lock, open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def pace(self):
        """The waits of the first answer (see --await-glob and --hold)."""
        with self.first:
            if self.paced:
                return
            self.paced = True
            if self.args.await_glob and not wait_for(
                lambda: glob.glob(self.args.await_glob), 20
            ):
                log("nothing matched %s after 20 s; answering anyway" % self.args.await_glob)
            if self.args.hold:
                open(self.args.hold + ".waiting", "w").close()
                if not wait_for(lambda: os.path.exists(self.args.hold), 120):
                    log("%s did not appear within 120 s; answering anyway" % self.args.hold)

    def events(self, body):
        self.pace()
        resp_id = self.next_id("resp")
        out = [sse("response.created", {"response": {"id": resp_id}})]
        answered = [(c, o) for (c, o) in tool_outputs(body) if c == CALL_ID]
        if answered:
            for call_id, text in answered:
                self.append(self.args.record, {"call_id": call_id, "output": text})
            item = {
                "type": "message",
                "role": "assistant",
                "id": self.next_id("msg"),
                "content": [{"type": "output_text", "text": FINAL_TEXT}],
            }
        else:
            arguments = {"cmd": self.args.command}
            if self.args.workdir:
                arguments["workdir"] = self.args.workdir
            item = {
                "type": "function_call",
                "id": self.next_id("fc"),
                "call_id": CALL_ID,
                "name": self.args.tool,
                "arguments": json.dumps(arguments),
            }
        out.append(sse("response.output_item.done", {"item": item}))
        out.append(sse("response.completed", {"response": {"id": resp_id, "usage": usage()}}))
        return out


def log(msg):
    sys.stderr.write("model_server: %s\n" % msg)
    sys.stderr.flush()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    script = None  # set in main()

    def log_message(self, fmt, *args):
        if self.script.args.verbose:
            log(fmt % args)

    def reply(self, status, content_type, data):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def not_found(self):
        self.reply(404, "application/json", b'{"error":{"message":"not found"}}')

    def do_GET(self):
        self.script.append(self.script.args.requests, {"method": "GET", "path": self.path})
        self.not_found()

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:  # e.g. a compressed body: we only speak plain JSON
            body = None
        self.script.append(
            self.script.args.requests,
            {
                "method": "POST",
                "path": self.path,
                "headers": dict(self.headers.items()),
                "body": body if body is not None else raw[:2000].decode("latin-1"),
            },
        )
        if not self.path.rstrip("/").endswith("/responses"):
            self.not_found()
        elif not isinstance(body, dict):
            self.reply(400, "application/json", b'{"error":{"message":"not JSON"}}')
        else:
            self.reply(200, "text/event-stream", b"".join(self.script.events(body)))


def loopback_up():
    """`ip link set lo up`, with one ioctl (SIOCGIFFLAGS / SIOCSIFFLAGS)."""
    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack("16sh", b"lo", 0)
        flags = struct.unpack("16sh", fcntl.ioctl(s, siocgifflags, req))[1]
        if not flags & iff_up:
            fcntl.ioctl(s, siocsifflags, struct.pack("16sh", b"lo", flags | iff_up))


def main():
    argv = sys.argv[1:]
    run = []
    if "--" in argv:
        cut = argv.index("--")
        argv, run = argv[:cut], argv[cut + 1 :]
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--command", required=True, help="the command the model asks to run")
    p.add_argument("--workdir", default="", help="the working directory of that command")
    p.add_argument("--tool", default="exec_command", help="the shell tool's name")
    p.add_argument("--record", default="", help="JSON lines of tool outputs received")
    p.add_argument("--requests", default="", help="JSON lines of every request")
    p.add_argument("--port-file", default="", help="where to write the port")
    p.add_argument("--fill", action="append", default=[], help="replace @BASE_URL@ in FILE")
    p.add_argument("--loopback-up", action="store_true", help="bring `lo` up first")
    p.add_argument("--await-glob", default="", help="first answer waits for a match")
    p.add_argument("--hold", default="", help="first answer waits for this file")
    p.add_argument("--verbose", action="store_true", help="log every request")
    args = p.parse_args(argv)
    if not run and not args.port_file:
        p.error("give --port-file, or a command to run after --")

    if args.loopback_up:
        loopback_up()
    Handler.script = Script(args)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port = server.server_address[1]
    base_url = "http://127.0.0.1:%d/v1" % port
    for path in args.fill:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        with open(path, "w", encoding="utf-8") as f:
            f.write(text.replace("@BASE_URL@", base_url))
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(str(port))
        os.replace(tmp, args.port_file)  # a reader never sees half a port

    if not run:
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        return 0

    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        child = subprocess.Popen(run)
    except OSError as e:
        log("cannot run %s: %s" % (run[0], e))
        return 127

    def forward(signum, _frame):
        child.send_signal(signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)
    status = child.wait()
    server.shutdown()
    return status if status >= 0 else 128 - status


if __name__ == "__main__":
    sys.exit(main())
