"""sse.py - a minimal server-sent-events client for the tests (stdlib only).

Opens GET /api/shows/{id}/events on its own socket, reads the status and
headers, undoes chunked transfer coding and splits the stream into events:
each is a dict with "id", "event", "data" (joined data lines), "retry" and
"comments" (comment lines seen since the previous event), plus "at" (the
monotonic time it was complete)."""

import json
import socket
import time


class StreamEnded(Exception):
    pass


class SSE:
    def __init__(self, port, path, headers=None, host="127.0.0.1", rcvbuf=None, timeout=10.0):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        lines = ["GET %s HTTP/1.1" % path, "Host: %s:%d" % (host, port), "Accept: text/event-stream"]
        for k, v in (headers or {}).items():
            lines.append("%s: %s" % (k, v))
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.raw = b""      # bytes received, not yet decoded
        self.text = b""     # decoded body, not yet split into events
        self.chunked = False
        self.ended = False
        self.comments = []
        self.status, self.headers = self._read_head()
        self.body = b""
        if not self.chunked and self.status != 200:
            n = int(self.headers.get("content-length", "0"))
            while len(self.raw) < n:
                self._recv()
            self.body = self.raw[:n]

    def close(self):
        self.sock.close()

    def _recv(self):
        data = self.sock.recv(65536)
        if not data:
            # A close-delimited body (no chunked coding) ends with the
            # connection: that is its end, not a truncation.
            if not self.chunked and getattr(self, "status", None) == 200:
                self.ended = True
            raise StreamEnded("connection closed")
        self.raw += data

    def _read_head(self):
        while b"\r\n\r\n" not in self.raw:
            self._recv()
        head, self.raw = self.raw.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        self.chunked = headers.get("transfer-encoding", "").lower() == "chunked"
        return status, headers

    def json(self):
        return json.loads(self.body.decode())

    def _decode(self):
        """Moves complete chunks from raw to text."""
        while True:
            if not self.chunked:
                self.text += self.raw
                self.raw = b""
                return
            i = self.raw.find(b"\r\n")
            if i < 0:
                return
            size = int(self.raw[:i].split(b";")[0], 16)
            if len(self.raw) < i + 2 + size + 2:
                return
            if size == 0:
                self.ended = True
                self.raw = b""
                return
            self.text += self.raw[i + 2:i + 2 + size]
            self.raw = self.raw[i + 2 + size + 2:]

    def next_event(self, timeout=10.0):
        """The next complete event (comment-only blocks are collected, not
        returned). Raises socket.timeout or StreamEnded."""
        deadline = time.monotonic() + timeout
        while True:
            self._decode()
            while b"\n\n" in self.text:
                block, self.text = self.text.split(b"\n\n", 1)
                ev = {"id": None, "event": None, "data": None, "retry": None, "comments": []}
                data = []
                for line in block.decode("utf-8").split("\n"):
                    if line.startswith(":"):
                        self.comments.append(line)
                        ev["comments"].append(line)
                        continue
                    field, _, value = line.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    if field == "data":
                        data.append(value)
                    elif field in ("id", "event", "retry"):
                        ev[field] = value
                if data:
                    ev["data"] = "\n".join(data)
                if ev["event"] is None and ev["data"] is None and ev["retry"] is None:
                    continue  # a comment block
                ev["at"] = time.monotonic()
                return ev
            if self.ended:
                raise StreamEnded("stream ended")
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("no event within %.1f s" % timeout)
            self.sock.settimeout(left)
            self._recv()

    def wait_comment(self, timeout=10.0):
        """Reads until a comment line arrives; returns it."""
        deadline = time.monotonic() + timeout
        seen = len(self.comments)
        while len(self.comments) == seen:
            self._decode()
            while b"\n\n" in self.text:
                block, self.text = self.text.split(b"\n\n", 1)
                for line in block.decode("utf-8").split("\n"):
                    if line.startswith(":"):
                        self.comments.append(line)
            if len(self.comments) > seen:
                break
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("no comment within %.1f s" % timeout)
            self.sock.settimeout(left)
            self._recv()
        return self.comments[seen]
