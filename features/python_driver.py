# The driver of the python feature (features/python_interp.h): the program
# a sandbox's interpreter runs, as `python3 -u -c DRIVER` (sbxd embeds this
# file, so nothing needs installing and a read-only root is no obstacle).
# Standard library only.
#
# Descriptors, as sbx-init starts it: fd 0 is a socket to sbxd (both
# ways), fds 1 and 2 are pipes sbxd reads. The driver moves the socket to
# a high close-on-exec descriptor and puts /dev/null on fd 0, so the
# code's stdout and stderr - print, sys.stdout.buffer, and subprocesses
# writing to fds 1 and 2 - go straight to sbxd, and code that reads stdin
# reads nothing.
#
# On the socket, both ways: frames of a 4-byte big-endian length and that
# many bytes of UTF-8 JSON, one object each.
#   driver -> sbxd, once, first:  {"op": "ready", "pid": N, "version": "3.11.7"}
#   sbxd -> driver:  {"op": "exec", "code": str, "limit": N, "display": bool}
#     answer: {"result": str|null, "error": null|{type, message, traceback},
#              "truncated": bool}
#     `result` is the repr of the last expression (display: true, and the
#     cell does not end with ';'); each text is cut at `limit` bytes.
#   sbxd -> driver:  {"op": "check", "code": str}
#     answer: {"status": "complete"|"incomplete"|"invalid"}, as the
#     interactive prompt decides when to run what was typed.
#   EOF: the driver exits.
# SIGINT raises KeyboardInterrupt in a running cell and is ignored between
# cells. Whatever the cell does, the state (its namespace, imports, working
# directory) stays for the next.

import ast
import builtins
import json
import os
import signal
import sys
import traceback
import types

G = globals()
ctl = -1
running = False
forked = False
cells = 0


def take_socket():
    global ctl
    import fcntl
    import resource
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    high = 1000 if soft == resource.RLIM_INFINITY or soft > 1024 else max(10, soft - 1)
    ctl = fcntl.fcntl(0, fcntl.F_DUPFD_CLOEXEC, high)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)


def in_child():
    # A fork of the code's (os.fork, multiprocessing): the socket is the
    # parent's alone, and the child ends with the cell it forked in.
    global ctl, forked
    forked = True
    if ctl >= 0:
        os.close(ctl)
        ctl = -1


def read_exact(n):
    chunks = []
    while n:
        data = os.read(ctl, min(n, 1 << 20))
        if not data:
            return None
        chunks.append(data)
        n -= len(data)
    return b"".join(chunks)


def recv():
    head = read_exact(4)
    if head is None:
        return None
    body = read_exact(int.from_bytes(head, "big"))
    return None if body is None else json.loads(body)


def send(message):
    data = json.dumps(message, ensure_ascii=False).encode("utf-8", "backslashreplace")
    data = len(data).to_bytes(4, "big") + data
    while data:
        data = data[os.write(ctl, data):]


def text(value, limit):
    """A str for the wire: lone surrogates escaped, cut at `limit` bytes;
    and whether it was cut."""
    raw = value.encode("utf-8", "backslashreplace")
    if len(raw) <= limit:
        return raw.decode("utf-8"), False
    return raw[:limit].decode("utf-8", "ignore"), True


def on_sigint(signum, frame):
    if running:
        raise KeyboardInterrupt


def strip(tb):
    """The traceback without the driver's own frames."""
    kept = []
    while tb is not None:
        if tb.tb_frame.f_globals is not G:
            kept.append(tb)
        tb = tb.tb_next
    for a, b in zip(kept, kept[1:]):
        a.tb_next = b
    if kept:
        kept[-1].tb_next = None
    return kept[0] if kept else None


def describe(e, limit, compiling):
    try:
        message = str(e)
    except BaseException:
        message = "<exception str() failed>"
    try:
        if compiling:
            lines = traceback.format_exception_only(type(e), e)
        else:
            lines = traceback.format_exception(type(e), e, strip(e.__traceback__))
        tb = "".join(lines)
    except BaseException:
        tb = ""
    message, cut_message = text(message, limit)
    tb, cut_tb = text(tb, limit)
    return {"type": type(e).__name__, "message": message, "traceback": tb}, cut_message or cut_tb


def flush():
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            stream.flush()
        except BaseException:
            pass


def run_cell(ns, code, limit, display):
    global cells, running
    cells += 1
    name = "<cell %d>" % cells
    result = error = None
    truncated = False
    try:
        tree = ast.parse(code, name, "exec")
        last = None
        if display and tree.body and isinstance(tree.body[-1], ast.Expr) \
                and not code.rstrip().endswith(";"):
            last = compile(ast.Expression(tree.body.pop().value), name, "eval")
        body = compile(tree, name, "exec")
    except BaseException as e:
        error, truncated = describe(e, limit, True)
        return {"result": None, "error": error, "truncated": truncated}
    import linecache
    linecache.cache[name] = (len(code), None, code.splitlines(True), name)
    linecache.cache.pop("<cell %d>" % (cells - 100), None)
    try:
        try:
            running = True
            exec(body, ns)
            if last is not None:
                value = eval(last, ns)
                if value is not None:
                    ns["_"] = value
                    result, truncated = text(repr(value), limit)
        finally:
            running = False
    except BaseException as e:
        error, truncated = describe(e, limit, False)
    flush()
    if forked:
        os._exit(1 if error else 0)
    return {"result": result, "error": error, "truncated": truncated}


def check(code):
    import codeop
    try:
        complete = codeop.compile_command(code, "<input>", "single")
    except (SyntaxError, ValueError, OverflowError, MemoryError, RecursionError):
        return "invalid"
    return "incomplete" if complete is None else "complete"


def main():
    take_socket()
    os.register_at_fork(after_in_child=in_child)
    signal.signal(signal.SIGINT, on_sigint)
    main_module = types.ModuleType("__main__")
    main_module.__dict__["__builtins__"] = builtins
    sys.modules["__main__"] = main_module
    sys.argv = [""]
    ns = main_module.__dict__
    send({"op": "ready", "pid": os.getpid(), "version": sys.version.split()[0]})
    while True:
        request = recv()
        if request is None:
            os._exit(0)
        op = request.get("op")
        if op == "exec":
            reply = run_cell(ns, request["code"], int(request.get("limit", 1 << 20)),
                             bool(request.get("display", True)))
        elif op == "check":
            reply = {"status": check(request["code"])}
        else:
            reply = {"result": None, "truncated": False,
                     "error": {"type": "ValueError", "message": "unknown op %r" % (op,), "traceback": ""}}
        send(reply)


main()
