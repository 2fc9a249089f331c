"""Runs every ```python block of docs/python.md, in order, against a real
sbxd (its endpoint in place of tcp://127.0.0.1:5555), so the page cannot
drift from the client."""
import contextlib
import io
import os
import re

import zmq.auth

from conftest import PROCESS, REPO

DOC = os.path.join(REPO, "docs", "python.md")


def _blocks():
    with open(DOC) as page:
        return re.findall(r"^```python\n(.*?)^```$", page.read(), re.M | re.S)


def test_docs_examples(start_daemon, tmp_path, monkeypatch):
    blocks = _blocks()
    assert len(blocks) >= 8
    daemon = start_daemon(PROCESS, pool=(1, 4))
    monkeypatch.chdir(tmp_path)
    # The CURVE example loads these.
    zmq.auth.create_certificates(str(tmp_path), "server")
    zmq.auth.create_certificates(str(tmp_path), "client")
    output = io.StringIO()
    for number, code in enumerate(blocks, 1):
        code = code.replace("tcp://127.0.0.1:5555", daemon.requests)
        with contextlib.redirect_stdout(output):
            exec(compile(code, "docs/python.md, python block %d" % number, "exec"),
                 {"__name__": "__docs__"})
    printed = output.getvalue()
    assert "hi\n 0\n" in printed and "b'data'" in printed and "task-42" in printed
    assert "PermissionError" in printed and "has no method 'execute'" in printed
    assert "'1\\n', '2\\n'" in printed                 # threads
    assert "audit-me" in printed and "[0, 1, 2]" in printed
