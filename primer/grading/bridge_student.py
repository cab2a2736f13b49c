"""The student's end of the bridge: runs INSIDE the sandboxed student kernel.  [UNTRUSTED SIDE]

Nothing here is trusted: the student's code shares this interpreter and may
replace any of it. That is fine by design: all this module can do is answer
the judge's requests with data (primer.grading.bridge_codec), and the judge
(primer.grading.judge) decodes that data strictly and decides every test
itself. A student who forges these answers gains nothing a student who writes
a function returning the same data would not have: the judge's checks call
the student's code on fresh inputs and compute the expected values itself.

The judge calls ``serve(request_json)`` as a *user expression* of an empty
execute request, so the answer travels back on the shell channel to the judge
alone (``Reply._repr_json_``), never on iopub and never into the notebook.
Requests name a variable, or a reference to an object kept here, and an
operation: get, getattr, call, getitem, len, iter, bool, type.
"""
from __future__ import annotations

import itertools
import json
import sys

from primer.grading.bridge_codec import Decoder, encode

MAX_ITER = 100_000
_objects: dict[int, object] = {}   # reference id -> the object, kept alive for the judge


class Reply:
    """An answer the kernel formats as application/json for the judge's user expression."""

    def __init__(self, data):
        self.data = data

    def _repr_json_(self):
        return self.data

    def __repr__(self):
        return "<primer bridge reply>"


def _reference(obj) -> dict:
    if type(obj).__name__ == "module" and isinstance(getattr(obj, "__name__", None), str):
        return {"@": "module", "name": obj.__name__}
    key = id(obj)
    _objects[key] = obj
    kind = type(obj)
    reference = {"@": "ref", "id": key, "callable": callable(obj),
                 "mro": [[k.__module__, k.__qualname__] for k in kind.__mro__[:30]]}
    return reference


def _encode(value):
    return encode(value, _reference)


def _object(reference):
    return _objects[reference["id"]]


def _decoded(data):
    return Decoder(_object).decode(data)


def _error(error: BaseException) -> dict:
    return {"@": "error", "ename": type(error).__name__, "evalue": str(error)[:2000]}


def _user_namespace() -> dict:
    from IPython import get_ipython

    return get_ipython().user_ns


def _answer(request: dict):
    op = request["op"]
    if op == "get":
        namespace = _user_namespace()
        return {"@": "dict", "v": [[name, _encode(namespace[name]) if name in namespace else {"@": "missing"}]
                                   for name in request["names"]]}
    if op == "run":  # a test's inputs built here (primer.grading.judge.split_test): never a check
        exec(compile(request["source"], "<inputs of a test>", "exec"), _user_namespace())
        return None
    if op == "forget":
        _objects.clear()
        return None
    target = _objects[request["ref"]]
    if op == "getattr":
        return _encode(getattr(target, request["name"]))
    if op == "call":
        args = _decoded(request["args"])
        kwargs = _decoded(request["kwargs"])
        return _encode(target(*args, **kwargs))
    if op == "getitem":
        return _encode(target[_decoded(request["key"])])
    if op == "len":
        return len(target)
    if op == "bool":
        return bool(target)
    if op == "iter":
        return _encode(list(itertools.islice(iter(target), MAX_ITER + 1)))
    if op == "type":
        return {"@": "list", "v": [f"{k.__module__}.{k.__qualname__}" for k in type(target).__mro__]}
    raise ValueError(f"unknown bridge operation {op!r}")


def serve(request_json: str) -> Reply:
    """Answer one request of the judge; errors of the student's code travel back as data."""
    try:
        return Reply({"ok": _answer(json.loads(request_json))})
    except BaseException as error:  # noqa: BLE001 (SystemExit, KeyboardInterrupt too: it is data)
        sys.last_traceback = None
        return Reply({"ok": _error(error)})
