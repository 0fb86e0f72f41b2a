"""A minimal IMAP4rev1 server for the tests: just what ``imaplib`` polling needs.

Supports CAPABILITY, LOGIN, AUTHENTICATE XOAUTH2, SELECT/EXAMINE, UID SEARCH, UID FETCH
(RFC822), NOOP and LOGOUT over plain TCP, on a thread, with messages held in memory.
"""

from __future__ import annotations

import base64
import re
import shlex
import socketserver
import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Mailstore:
    users: dict[str, str] = field(default_factory=dict)
    #: (user, access token) pairs accepted by AUTHENTICATE XOAUTH2
    tokens: set[tuple[str, str]] = field(default_factory=set)
    messages: list[tuple[int, bytes]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    def add(self, raw: bytes) -> int:
        uid = (self.messages[-1][0] if self.messages else 0) + 1
        self.messages.append((uid, raw))
        return uid


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def send(self, line: bytes | str) -> None:
        self.wfile.write((line.encode() if isinstance(line, str) else line) + b"\r\n")

    def handle(self) -> None:
        store = self.server.store
        self.send("* OK [CAPABILITY IMAP4rev1 AUTH=XOAUTH2] fake IMAP ready")
        user: str | None = None
        while True:
            line = self.rfile.readline()
            if not line:
                return
            tag, _, rest = line.decode().rstrip("\r\n").partition(" ")
            command, _, args = rest.partition(" ")
            command = command.upper()
            if command == "CAPABILITY":
                self.send("* CAPABILITY IMAP4rev1 AUTH=XOAUTH2")
                self.send(f"{tag} OK CAPABILITY completed")
            elif command == "LOGIN":
                name, password = shlex.split(args)
                if store.users.get(name) == password:
                    user = name
                    store.logins.append(f"password:{name}")
                    self.send(f"{tag} OK LOGIN completed")
                else:
                    self.send(f"{tag} NO [AUTHENTICATIONFAILED] Invalid credentials")
            elif command == "AUTHENTICATE" and args.upper() == "XOAUTH2":
                self.send("+ ")
                decoded = base64.b64decode(self.rfile.readline().strip()).decode()
                match = re.fullmatch(r"user=([^\x01]*)\x01auth=Bearer ([^\x01]*)\x01\x01", decoded)
                if match and (match.group(1), match.group(2)) in store.tokens:
                    user = match.group(1)
                    store.logins.append(f"xoauth2:{user}")
                    self.send(f"{tag} OK AUTHENTICATE completed")
                else:
                    self.send(f"{tag} NO [AUTHENTICATIONFAILED] Invalid credentials")
            elif command in ("SELECT", "EXAMINE"):
                if user is None:
                    self.send(f"{tag} NO sign in first")
                    continue
                self.send(f"* {len(store.messages)} EXISTS")
                self.send("* OK [UIDVALIDITY 1] UIDs valid")
                self.send(f"{tag} OK [READ-ONLY] {command} completed")
            elif command == "UID":
                self.uid(tag, args, store)
            elif command == "NOOP":
                self.send(f"{tag} OK NOOP completed")
            elif command == "LOGOUT":
                self.send("* BYE logging out")
                self.send(f"{tag} OK LOGOUT completed")
                return
            else:
                self.send(f"{tag} BAD unknown command")

    def uid(self, tag: str, args: str, store: Mailstore) -> None:
        sub, _, rest = args.partition(" ")
        if sub.upper() == "SEARCH":
            match = re.search(r"(\d+):\*", rest)
            start = int(match.group(1)) if match else 1
            uids = [uid for uid, _ in store.messages if uid >= start]
            if not uids and store.messages:
                uids = [store.messages[-1][0]]  # n:* always names the last message (RFC 3501)
            self.send("* SEARCH" + "".join(f" {u}" for u in uids))
            self.send(f"{tag} OK SEARCH completed")
        elif sub.upper() == "FETCH":
            wanted = int(rest.split(" ", 1)[0])
            for seq, (uid, raw) in enumerate(store.messages, start=1):
                if uid == wanted:
                    self.wfile.write(f"* {seq} FETCH (UID {uid} RFC822 {{{len(raw)}}}\r\n".encode() + raw + b")\r\n")
            self.send(f"{tag} OK FETCH completed")
        else:
            self.send(f"{tag} BAD unknown UID command")


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, store: Mailstore):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.store = store


class FakeImap:
    """``with FakeImap(store) as server: server.port``."""

    def __init__(self, store: Mailstore):
        self.store = store
        self.server = _Server(store)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeImap:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
