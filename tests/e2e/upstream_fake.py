"""A scripted OpenAI-compatible upstream on loopback, for fault tests only: each model name picks
a behaviour (throttle, slow, malformed, cut stream, ...). Real answers come from the real
llama-cpp-python server in test_remote_providers.py; this one only simulates failures.
`RecordingProxy` sits in front of that real server and records what basalt sends it."""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeUpstream:
    def __init__(self):
        self.calls: dict[str, int] = {}
        self.headers_seen: list[dict[str, str]] = []
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                length = int(self.headers.get("content-length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                model = body.get("model", "")
                with fake.lock:
                    fake.calls[model] = fake.calls.get(model, 0) + 1
                    attempt = fake.calls[model]
                    fake.headers_seen.append({k.lower(): v for k, v in self.headers.items()})
                if self.path.endswith("/embeddings"):
                    return fake.embeddings(self, body)
                fake.answer(self, model, attempt, body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()

    @staticmethod
    def send_json(handler, status, payload, headers=()):
        data = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("content-type", "application/json")
        handler.send_header("content-length", str(len(data)))
        for key, value in headers:
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(data)

    @staticmethod
    def completion(text):
        return {
            "id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": "fake",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
        }

    def embeddings(self, handler, body):
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        # Listed out of order on purpose: clients must use `index`.
        data = [{"object": "embedding", "index": i, "embedding": [0.6, 0.8, 0.0, float(i)]}
                for i in reversed(range(len(texts)))]
        return self.send_json(handler, 200, {"object": "list", "data": data, "model": body["model"],
                                             "usage": {"prompt_tokens": 4 * len(texts), "total_tokens": 4 * len(texts)}})

    def answer(self, handler, model, attempt, body):
        if model == "tool":
            return self.tool_call(handler, bool(body.get("stream")))
        if model == "throttle-once" and attempt == 1:
            return self.send_json(handler, 429, {"error": {"message": "slow down"}}, [("retry-after", "0.2")])
        if model == "throttle":
            return self.send_json(handler, 429, {"error": {"message": "rate limit reached"}}, [("retry-after", "0")])
        if model == "loading":
            return self.send_json(handler, 503, {"error": {"message": "Loading model"}})
        if model == "unauthorized":
            return self.send_json(handler, 401, {"error": {"message": "invalid api key"}})
        if model == "rejects":
            return self.send_json(handler, 400, {"error": {"message": "messages: too long for this model"}})
        if model == "slow":
            time.sleep(3)
        if model == "malformed":
            data = b"this is not json"
            handler.send_response(200)
            handler.send_header("content-type", "application/json")
            handler.send_header("content-length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
            return
        if body.get("stream"):
            return self.stream(handler, cut=model == "cut")
        return self.send_json(handler, 200, self.completion("fine"))

    @classmethod
    def tool_call(cls, handler, stream):
        call = {"id": "call_fake1", "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris", "unit": "celsius"}'}}
        if not stream:
            payload = cls.completion(None)
            payload["choices"][0]["message"]["tool_calls"] = [call]
            payload["choices"][0]["finish_reason"] = "tool_calls"
            return cls.send_json(handler, 200, payload)
        handler.send_response(200)
        handler.send_header("content-type", "text/event-stream")
        handler.send_header("connection", "close")
        handler.end_headers()
        pieces = [
            {"index": 0, "id": "call_fake1", "type": "function", "function": {"name": "get_weather", "arguments": ""}},
            {"index": 0, "function": {"arguments": '{"city": "Paris",'}},
            {"index": 0, "function": {"arguments": ' "unit": "celsius"}'}},
        ]
        for piece in pieces:
            chunk = {"choices": [{"index": 0, "delta": {"tool_calls": [piece]}}]}
            handler.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        for chunk in [{"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
                      {"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 12}}]:
            handler.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        handler.wfile.write(b"data: [DONE]\n\n")
        handler.wfile.flush()
        handler.close_connection = True

    @staticmethod
    def stream(handler, cut):
        handler.send_response(200)
        handler.send_header("content-type", "text/event-stream")
        handler.send_header("connection", "close")
        handler.end_headers()
        chunks = [{"choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hel"}}]},
                  {"choices": [{"index": 0, "delta": {"content": "lo"}}]}]
        for chunk in chunks:
            handler.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            handler.wfile.flush()
        if cut:
            handler.close_connection = True
            return
        done = [{"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
                {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 2}}]
        for chunk in done:
            handler.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        handler.wfile.write(b"data: [DONE]\n\n")
        handler.wfile.flush()
        handler.close_connection = True


class RecordingProxy:
    """Passes every request on to a real upstream unchanged and keeps the JSON bodies it was sent,
    so a test can compare what basalt forwards with the request it would send itself."""

    def __init__(self, target_base: str):
        target = urllib.parse.urlsplit(target_base)
        self.bodies: list[tuple[str, dict]] = []
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                self.forward()

            def do_POST(self):
                self.forward()

            def forward(self):
                length = int(self.headers.get("content-length", 0))
                body = self.rfile.read(length)
                if body:
                    with proxy.lock:
                        proxy.bodies.append((self.path, json.loads(body)))
                upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=300)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                upstream.request(self.command, self.path, body=body or None, headers=headers)
                answer = upstream.getresponse()
                self.send_response(answer.status)
                for key, value in answer.getheaders():
                    if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(key, value)
                # Streamed answers (SSE) are passed on piece by piece, as they come.
                self.send_header("transfer-encoding", "chunked")
                self.end_headers()
                while piece := answer.read1(65536):
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
                upstream.close()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}{target.path}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def last_body(self) -> dict:
        with self.lock:
            return self.bodies[-1][1]

    def stop(self):
        self.server.shutdown()
