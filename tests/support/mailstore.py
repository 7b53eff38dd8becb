"""Small IMAP4rev1 (RFC 3501) and POP3 (RFC 1939) servers on loopback, in a thread of the
test process, serving one mailbox to the standard library's imaplib and poplib: enough of
each protocol for a bounce mailbox reader (IMAP: CAPABILITY, LOGIN, SELECT, UID SEARCH,
UID FETCH of RFC822.SIZE, RFC822 and BODY.PEEK[], UID STORE +FLAGS, EXPUNGE, NOOP, CLOSE,
LOGOUT; POP3: CAPA, USER, PASS, STAT, LIST, UIDL, RETR, DELE, RSET, NOOP, QUIT). Given a
server-side ``ssl.SSLContext``, TLS from the first byte (IMAPS, POP3S); no STARTTLS/STLS.

``drop_at``: commands (``"STORE"``, ``"EXPUNGE"``, ``"DELE"``, ``"QUIT"``) at which the
server hangs up without answering, once each: a crash or a dropped connection.
"""

from __future__ import annotations

import re
import socketserver
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

TOKEN = re.compile(rb'"((?:[^"\\]|\\.)*)"|(\([^)]*\))|(\S+)')


@dataclass
class Stored:
    uid: int
    data: bytes
    flags: set[str] = field(default_factory=set)


@dataclass
class Store:
    """The one mailbox both servers serve, and what the tests make them do."""

    user: str = "bounces"
    password: str = "s3cret pa%ss"
    messages: list[Stored] = field(default_factory=list)
    drop_at: set[str] = field(default_factory=set)
    uid_validity: int = 1777
    next_uid: int = 1
    logins: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, data: bytes) -> int:
        with self.lock:
            uid = self.next_uid
            self.next_uid += 1
            self.messages.append(Stored(uid, data))
            return uid

    def drop(self, command: str) -> bool:
        with self.lock:
            if command in self.drop_at:
                self.drop_at.discard(command)
                return True
            return False


class _Hangup(Exception):
    pass


def _tokens(line: bytes) -> list[bytes]:
    out = []
    for quoted, listed, atom in TOKEN.findall(line):
        if quoted:
            out.append(re.sub(rb"\\(.)", rb"\1", quoted))
        else:
            out.append(listed or atom)
    return out


def _uid_set(spec: bytes, uids: list[int]) -> set[int]:
    chosen: set[int] = set()
    top = max(uids, default=0)
    for part in spec.split(b","):
        low, _, high = part.partition(b":")
        start = top if low == b"*" else int(low)
        end = start if not high else (top if high == b"*" else int(high))
        chosen.update(u for u in uids if min(start, end) <= u <= max(start, end))
    return chosen


class _IMAPHandler(socketserver.StreamRequestHandler):
    store: Store

    def send(self, text: bytes) -> None:
        self.wfile.write(text)
        self.wfile.flush()

    def handle(self) -> None:
        self.selected = False
        self.authenticated = False
        self.send(b"* OK [CAPABILITY IMAP4rev1] test IMAP server ready\r\n")
        try:
            while line := self.rfile.readline(65536):
                parts = _tokens(line.rstrip(b"\r\n"))
                if len(parts) < 2:
                    self.send(b"* BAD no command\r\n")
                    continue
                tag, command, args = parts[0], parts[1].upper().decode(), parts[2:]
                if not self.command(tag, command, args):
                    return
        except _Hangup:
            return

    def command(self, tag: bytes, command: str, args: list[bytes]) -> bool:
        store = self.store
        if command == "CAPABILITY":
            self.send(b"* CAPABILITY IMAP4rev1 UIDPLUS\r\n" + tag + b" OK CAPABILITY done\r\n")
        elif command == "NOOP":
            self.send(tag + b" OK NOOP done\r\n")
        elif command == "LOGOUT":
            self.send(b"* BYE logging out\r\n" + tag + b" OK LOGOUT done\r\n")
            return False
        elif command == "LOGIN":
            if len(args) == 2 and args == [store.user.encode(), store.password.encode()]:
                self.authenticated = True
                with store.lock:
                    store.logins += 1
                self.send(tag + b" OK LOGIN done\r\n")
            else:
                self.send(tag + b" NO [AUTHENTICATIONFAILED] Invalid credentials\r\n")
        elif not self.authenticated:
            self.send(tag + b" BAD log in first\r\n")
        elif command == "SELECT":
            if not args or args[0].upper() != b"INBOX":
                self.send(tag + b" NO [NONEXISTENT] no such mailbox\r\n")
                return True
            self.selected = True
            with store.lock:
                count, next_uid = len(store.messages), store.next_uid
            self.send(
                b"* FLAGS (\\Seen \\Deleted)\r\n"
                + f"* {count} EXISTS\r\n* 0 RECENT\r\n".encode()
                + f"* OK [UIDVALIDITY {store.uid_validity}] UIDs valid\r\n".encode()
                + f"* OK [UIDNEXT {next_uid}] next UID\r\n".encode()
                + tag
                + b" OK [READ-WRITE] SELECT done\r\n"
            )
        elif not self.selected:
            self.send(tag + b" BAD select a mailbox first\r\n")
        elif command == "UID" and args:
            self.uid(tag, args[0].upper().decode(), args[1:])
        elif command in ("EXPUNGE", "CLOSE"):
            if store.drop(command):
                raise _Hangup
            with store.lock:
                gone = [i for i, m in enumerate(store.messages, 1) if "\\Deleted" in m.flags]
                store.messages = [m for m in store.messages if "\\Deleted" not in m.flags]
            if command == "EXPUNGE":
                # Each EXPUNGE names a sequence number as it is after the ones before.
                for shift, number in enumerate(gone):
                    self.send(f"* {number - shift} EXPUNGE\r\n".encode())
            else:
                self.selected = False
            self.send(tag + b" OK " + command.encode() + b" done\r\n")
        else:
            self.send(tag + b" BAD unknown command\r\n")
        return True

    def uid(self, tag: bytes, command: str, args: list[bytes]) -> None:
        store = self.store
        with store.lock:
            messages = list(enumerate(store.messages, 1))
        uids = [m.uid for _, m in messages]
        if command == "SEARCH":
            key = (args[0].upper() if args else b"ALL").decode()
            tests: dict[str, Callable[[Stored], bool]] = {
                "ALL": lambda m: True,
                "UNSEEN": lambda m: "\\Seen" not in m.flags,
                "UNDELETED": lambda m: "\\Deleted" not in m.flags,
            }
            if key not in tests:
                self.send(tag + b" BAD unsupported search\r\n")
                return
            found = " ".join(str(m.uid) for _, m in messages if tests[key](m))
            self.send(f"* SEARCH {found}".rstrip().encode() + b"\r\n" + tag + b" OK done\r\n")
        elif command == "FETCH" and len(args) == 2:
            chosen = _uid_set(args[0], uids)
            what = args[1].strip(b"()").upper()
            for number, message in messages:
                if message.uid not in chosen:
                    continue
                head = f"* {number} FETCH (UID {message.uid} ".encode()
                if what == b"RFC822.SIZE":
                    self.send(head + f"RFC822.SIZE {len(message.data)})\r\n".encode())
                elif what in (b"RFC822", b"BODY.PEEK[]", b"BODY[]"):
                    if what != b"BODY.PEEK[]":
                        with store.lock:
                            message.flags.add("\\Seen")
                    name = b"RFC822" if what == b"RFC822" else b"BODY[]"
                    literal = f" {{{len(message.data)}}}\r\n".encode()
                    self.send(head + name + literal + message.data + b")\r\n")
                else:
                    self.send(tag + b" BAD unsupported fetch\r\n")
                    return
            self.send(tag + b" OK FETCH done\r\n")
        elif command == "STORE" and len(args) == 3 and args[1].upper() == b"+FLAGS":
            if store.drop("STORE"):
                raise _Hangup
            chosen = _uid_set(args[0], uids)
            flags = args[2].strip(b"()").decode().split()
            for number, message in messages:
                if message.uid in chosen:
                    with store.lock:
                        message.flags.update(flags)
                    listed = " ".join(sorted(message.flags))
                    self.send(f"* {number} FETCH (UID {message.uid} FLAGS ({listed}))\r\n".encode())
            self.send(tag + b" OK STORE done\r\n")
        else:
            self.send(tag + b" BAD unsupported UID command\r\n")


class _POP3Handler(socketserver.StreamRequestHandler):
    store: Store

    def send(self, text: bytes) -> None:
        self.wfile.write(text)
        self.wfile.flush()

    def handle(self) -> None:
        user: bytes | None = None
        messages: list[Stored] | None = None  # the maildrop, once logged in
        deleted: set[int] = set()
        self.send(b"+OK test POP3 server ready\r\n")
        store = self.store
        while line := self.rfile.readline(65536):
            command, _, rest = line.rstrip(b"\r\n").partition(b" ")
            verb = command.upper().decode(errors="replace")
            if verb in store.drop_at and store.drop(verb):
                return  # hang up: nothing deleted (no UPDATE state)
            if verb == "CAPA":
                self.send(b"+OK\r\nUSER\r\nUIDL\r\n.\r\n")
            elif verb == "QUIT":
                if messages is not None:
                    with store.lock:
                        gone = {m.uid for i, m in enumerate(messages, 1) if i in deleted}
                        store.messages = [m for m in store.messages if m.uid not in gone]
                self.send(b"+OK bye\r\n")
                return
            elif verb == "NOOP":
                self.send(b"+OK\r\n")
            elif messages is None:
                if verb == "USER":
                    user = rest
                    self.send(b"+OK\r\n")
                elif (
                    verb == "PASS"
                    and user == store.user.encode()
                    and (rest == store.password.encode())
                ):
                    with store.lock:
                        messages = list(store.messages)
                        store.logins += 1
                    self.send(b"+OK logged in\r\n")
                elif verb == "PASS":
                    self.send(b"-ERR [AUTH] invalid user or password\r\n")
                else:
                    self.send(b"-ERR log in first\r\n")
            else:
                self.transaction(verb, rest, messages, deleted)

    def transaction(
        self, verb: str, rest: bytes, messages: list[Stored], deleted: set[int]
    ) -> None:
        live = [(i, m) for i, m in enumerate(messages, 1) if i not in deleted]
        if verb == "STAT":
            self.send(f"+OK {len(live)} {sum(len(m.data) for _, m in live)}\r\n".encode())
        elif verb in ("LIST", "UIDL") and not rest:
            listing = "".join(
                f"{i} {len(m.data) if verb == 'LIST' else m.uid}\r\n" for i, m in live
            )
            self.send(f"+OK {len(live)} messages\r\n{listing}.\r\n".encode())
        elif verb in ("RETR", "DELE") and rest.isdigit():
            number = int(rest)
            if not 1 <= number <= len(messages) or number in deleted:
                self.send(b"-ERR no such message\r\n")
            elif verb == "DELE":
                deleted.add(number)
                self.send(b"+OK deleted\r\n")
            else:
                data = messages[number - 1].data
                lines = data.split(b"\r\n")
                if lines and lines[-1] == b"":
                    lines.pop()
                stuffed = b"".join((b"." + x if x.startswith(b".") else x) + b"\r\n" for x in lines)
                self.send(f"+OK {len(data)} octets\r\n".encode() + stuffed + b".\r\n")
        elif verb == "RSET":
            deleted.clear()
            self.send(b"+OK\r\n")
        else:
            self.send(b"-ERR unsupported\r\n")


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that refused our certificate, or hung up: the test sees it


@contextmanager
def serving(store: Store, protocol: str, tls: ssl.SSLContext | None = None) -> Iterator[int]:
    """Serve ``store`` over ``protocol`` ("imap" or "pop3") on a free loopback port, in
    TLS from the first byte when given ``tls``."""
    base = _IMAPHandler if protocol == "imap" else _POP3Handler
    handler = type("Handler", (base,), {"store": store})
    server = _Server(("127.0.0.1", 0), handler)
    if tls is not None:  # the handshake is made in each connection's thread
        server.socket = tls.wrap_socket(
            server.socket, server_side=True, do_handshake_on_connect=False
        )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
