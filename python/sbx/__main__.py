"""``python3 -m sbx [--endpoint EP]``: a smoke check that prints the
daemon's ``hello`` and ``status``."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any, List, Optional

from . import DEFAULT_ENDPOINT, Environment, SbxError
from ._core import DEFAULT_PROBE_TIMEOUT


def _plain(value: Any) -> Any:
    return value.hex() if isinstance(value, bytes) else repr(value)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m sbx", description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", default=DEFAULT_ENDPOINT, help="request endpoint (%(default)s)")
    parser.add_argument("--timeout", type=float, default=5.0, help="reply timeout in seconds (%(default)s)")
    parser.add_argument("--curve", nargs=2, metavar=("SERVER_CERT", "CLIENT_SECRET_CERT"),
                        help="czmq certificate files: the server's public one, the client's secret one")
    options = parser.parse_args(argv)
    try:
        with Environment(options.endpoint, timeout=options.timeout,
                         probe_timeout=min(options.timeout, DEFAULT_PROBE_TIMEOUT),
                         curve=tuple(options.curve) if options.curve else None) as env:
            for name, reply in (("hello", env.hello()), ("status", env.status())):
                print("%s: %s" % (name, json.dumps(reply, indent=2, sort_keys=True, default=_plain)))
    except SbxError as error:
        print("sbx: %s: %s" % (error.type, error), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
