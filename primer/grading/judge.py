"""The judge: runs every test cell of a notebook outside the student's interpreter.  [TRUSTED SIDE]

``python -I -m primer.grading.judge`` is started by the grader
(primer.grading.judge_client) for one notebook, outside the sandbox, in an
empty folder and with Python's isolated mode, so nothing of the submission is
importable here. It reads requests from stdin, one JSON object a line:

* ``start``: how to reach the student's kernel (its connection info), the
  release's import statements and *judge setup* cells (cells marked
  ``metadata.primer.judge = "setup"``: the course's own data and helpers, run
  here so the judge's references never come from the student's process), and
  the names the student's answer cells bind (always read from the student);
* ``test``: one test cell's source, from the release/gradebook, never the
  student's copy. It runs here; a name it needs that the judge does not
  define itself is read from the student's kernel through the bridge
  (primer.grading.bridge_codec): plain data is copied in and checked, every
  other object stays there behind a ``Handle``. The test passes unless it
  raises, and only the judge's own exceptions count;

and answers each with one JSON line on its stdout. The student's process
never sees a test's source, its expected values or its verdict.
"""
from __future__ import annotations

import ast
import builtins
import contextlib
import importlib
import io
import json
import os
import symtable
import sys
import time
import traceback

from primer.grading.bridge_codec import (LIBRARIES, BridgeDataError, Decoder, encode, library_object,
                                         library_reference)

MAX_STDOUT = 20_000
MISSING = object()


class StudentCodeError(Exception):
    """The student's code raised an exception while the judge called it."""


# Exceptions the student's code raised come back as the judge's own classes (built-ins only).
_BUILTIN_ERRORS = {name: obj for name, obj in vars(builtins).items()
                   if isinstance(obj, type) and issubclass(obj, Exception)}


class StudentKernel:
    """The judge's line to the student's kernel: one request, one answer, on the shell channel."""

    def __init__(self, connection: dict, timeout: float):
        import zmq
        from jupyter_client import BlockingKernelClient

        self.timeout = timeout
        self.client = BlockingKernelClient()
        self.client.load_connection_info(connection)
        # Our answers come on shell only: never subscribe to iopub (a flood there is not ours).
        self.client.shell_channel.start()
        self.client.shell_channel.socket.setsockopt(zmq.MAXMSGSIZE, 128 * 1024 ** 2)
        self.handles: dict[int, Handle] = {}
        self.timed_out = False

    def ask(self, request: dict):
        if self.timed_out:
            raise TimeoutError("the student's kernel stopped answering the grader")
        expression = ("__import__('primer.grading.bridge_student').grading.bridge_student.serve("
                      f"{json.dumps(json.dumps(request))})")
        msg_id = self.client.execute("", silent=True, store_history=False, allow_stdin=False,
                                     user_expressions={"r": expression})
        deadline = time.monotonic() + self.timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.timed_out = True
                raise TimeoutError(f"the student's code did not answer within {self.timeout:.0f} s")
            try:
                reply = self.client.get_shell_msg(timeout=left)
            except Exception:  # queue.Empty: loop to the deadline check
                continue
            if reply.get("parent_header", {}).get("msg_id") == msg_id:
                break
        return self._decode_reply(reply)

    def _decode_reply(self, reply):
        try:
            result = reply["content"]["user_expressions"]["r"]
            if result.get("status") != "ok":
                raise BridgeDataError(f"the kernel could not run the grader's request "
                                      f"({result.get('ename', 'error')})")
            data = result["data"]["application/json"]["ok"]
        except (KeyError, TypeError, AttributeError):
            raise BridgeDataError("the kernel's answer was not in the grader's format") from None
        value = Decoder(self._reference, library_names=False).decode(data)
        if isinstance(value, StudentCodeError):
            raise value
        return value

    def _reference(self, data: dict):
        tag = data.get("@")
        if tag == "missing":
            return MISSING
        if tag == "error":
            name, message = str(data.get("ename", "Exception"))[:100], str(data.get("evalue", ""))[:2000]
            kind = _BUILTIN_ERRORS.get(name)
            if kind is not None and kind is not StopIteration:
                try:
                    return type(f"Student{name}", (StudentCodeError, kind), {})(message)
                except TypeError:  # a built-in whose layout cannot be mixed in (OSError...)
                    pass
            return StudentCodeError(f"{name}: {message}")
        if tag == "module":
            return _library_module(data.get("name"))
        if tag == "ref":  # functions too: called with the judge's arguments, but in the student's process
            key = data.get("id")
            if type(key) is not int:
                raise BridgeDataError("a malformed reference")
            handle = self.handles.get(key)
            if handle is None:
                handle = self.handles[key] = Handle(self, key, _library_class(data.get("mro")))
            return handle
        raise BridgeDataError(f"unknown kind {tag!r}")

    def send(self, value):
        """``value`` (the judge's) as data for the student's process: plain data and handles only."""
        return encode(value, _reference_to_send)


def _reference_to_send(obj):
    if type(obj) is Handle:
        return {"@": "ref", "id": object.__getattribute__(obj, "_key")}
    library = library_reference(obj)
    if library is not None:
        return library
    raise TypeError(f"a {type(obj).__name__} cannot be handed to the student's code: only plain data "
                    "(numbers, strings, lists, arrays, tensors, data frames) and the student's own "
                    "objects can")


def _library_module(name):
    if type(name) is not str or name.split(".")[0] not in LIBRARIES:
        raise BridgeDataError(f"the student's module {str(name)[:80]!r} is not one the judge imports")
    return importlib.import_module(name)


def _library_class(mro):
    """The first class of the student's object's MRO that is a library class of the judge's own.

    Only what the student's process reports: ``isinstance(handle, Axes)`` then answers
    "does the student's object say it is an Axes", and every use of it still asks the
    student's process for data.
    """
    for entry in mro if type(mro) is list else []:
        found = library_object(entry)
        if isinstance(found, type) and found is not object:
            return found
    return Handle


class Handle:
    """An object that stays in the student's process; every use asks it for data.

    A handle never compares, hashes or tests truth with the student's help except
    through ``bool()``/``len()``, whose answers are checked to be a bool/int.
    """

    __slots__ = ("_kernel", "_key", "_type")

    def __init__(self, kernel: StudentKernel, key: int, library_class: type):
        object.__setattr__(self, "_kernel", kernel)
        object.__setattr__(self, "_key", key)
        object.__setattr__(self, "_type", library_class)

    @property
    def __class__(self):
        # isinstance(handle, SomeLibraryClass) asks what the student's object says it is.
        return object.__getattribute__(self, "_type")

    def _ask(self, op: str, **fields):
        kernel = object.__getattribute__(self, "_kernel")
        return kernel.ask({"op": op, "ref": object.__getattribute__(self, "_key"), **fields})

    def __getattr__(self, name):
        if name.startswith("__"):  # protocols (__array__, __len__ ...) are never asked of the student
            raise AttributeError(name)
        return self._ask("getattr", name=name)

    def __call__(self, *args, **kwargs):
        kernel = object.__getattribute__(self, "_kernel")
        return self._ask("call", args=kernel.send(list(args)), kwargs=kernel.send(dict(kwargs)))

    def __getitem__(self, key):
        return self._ask("getitem", key=object.__getattribute__(self, "_kernel").send(key))

    def __len__(self):
        n = self._ask("len")
        if type(n) is not int or n < 0:
            raise TypeError("len() of the student's object is not a count")
        return n

    def __bool__(self):
        answer = self._ask("bool")
        if type(answer) is not bool:
            raise TypeError("the truth value of the student's object is not a bool")
        return answer

    def __iter__(self):
        items = self._ask("iter")
        if type(items) is not list:
            raise TypeError("the student's object did not iterate")
        return iter(items)

    def __setattr__(self, name, value):
        raise TypeError("the judge does not change the student's objects")

    # A handle is a reference: copying it (sklearn's clone does) copies the reference.
    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self

    def __repr__(self):
        return f"<the student's {object.__getattribute__(self, '_type').__name__} object>"

    __hash__ = object.__hash__


# --------------------------------------------------------------------------- running tests

def bound_names(source: str) -> set[str]:
    """Names a cell binds at its top level (assignments, imports, defs, classes, loops, with)."""
    try:
        table = symtable.symtable(source, "<cell>", "exec")
    except SyntaxError:
        return set()
    return {s.get_name() for s in table.get_symbols() if s.is_assigned() or s.is_imported()
            or s.is_namespace()}


def loaded_names(source: str) -> set[str]:
    """Every name the cell reads, in any scope (comprehensions and functions read globals)."""
    tree = ast.parse(source)
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}


STUDENT_SIDE_BEGIN = "### BEGIN STUDENT SIDE"
STUDENT_SIDE_END = "### END STUDENT SIDE"


def split_test(source: str) -> list[tuple[str, str]]:
    """A test cell cut into ("judge", code) and ("student", code) parts, in order.

    Lines between ``### BEGIN STUDENT SIDE`` and ``### END STUDENT SIDE`` (at the
    start of a line) build *inputs* in the student's process: objects the
    student's code must be handed (a model, an optimizer, a probe that records
    how it is used). They run there, so they never hold an expected value or a
    check; the judge reads what they bound as data afterwards. Everything else
    runs in the judge. In the student's own kernel the markers are comments.
    """
    parts, where, lines = [], "judge", []
    for line in source.split("\n"):
        marker = line.strip()
        if marker in (STUDENT_SIDE_BEGIN, STUDENT_SIDE_END) and line == line.lstrip():
            if lines:
                parts.append((where, "\n".join(lines)))
            where, lines = ("student" if marker == STUDENT_SIDE_BEGIN else "judge"), []
            continue
        lines.append(line)
    if any(line.strip() for line in lines):
        parts.append((where, "\n".join(lines)))
    return [(w, code) for w, code in parts if code.strip()]


def import_statements(source: str) -> list[str]:
    """The top-level import statements of a cell, each as its own source line."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    return [ast.unparse(node) for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]


class Prepared:
    """The judge's own copy of the course for one notebook: the release's imports and setup, run once.

    A warm judge (primer.grading.judge_zygote) prepares it once and forks one judge
    per submission from it; every judge then owns its copy and no student's
    process ever reached it.
    """

    def __init__(self, plan: dict):
        self.namespace: dict = {"__name__": "__judge__", "__builtins__": builtins}
        self.student_names = set(plan.get("student_names", []))
        self.trusted = set(self.namespace)
        self.setup_error = None
        for statement in plan.get("imports", []):
            try:
                exec(compile(statement, "<release import>", "exec"), self.namespace)
            except Exception as error:  # an import only a student's cell makes work: not ours to judge
                print(f"judge: {statement!r} failed: {error!r}", file=sys.stderr)
            self.trusted |= bound_names(statement) - self.student_names
        for source in plan.get("setup", []):
            try:
                with contextlib.redirect_stdout(io.StringIO()):
                    exec(compile(source, "<judge setup>", "exec"), self.namespace)
            except Exception as error:
                self.setup_error = f"{type(error).__name__}: {error}"
                traceback.print_exc(file=sys.stderr)
            self.trusted |= bound_names(source) - self.student_names


class Judge:
    def __init__(self, start: dict, prepared: Prepared | None = None):
        self.kernel = StudentKernel(start["connection"], float(start.get("timeout", 120)))
        prepared = prepared or Prepared(start)
        self.namespace = prepared.namespace
        self.student_names = set(prepared.student_names)
        self.trusted = set(prepared.trusted)
        self.setup_error = prepared.setup_error

    def run_test(self, source: str) -> dict:
        if self.setup_error:
            return _failed("GradingError", "the grader could not prepare its own copy of the course's "
                           f"data ({self.setup_error}); a person must grade this test", grader=True)
        output = io.StringIO()
        self.kernel.timed_out = False  # the grader interrupted the kernel after the last timeout
        built_there: set[str] = set()  # names the student-side blocks of this test bind
        try:
            for where, segment in split_test(source):
                if where == "student":
                    self.kernel.ask({"op": "run", "source": segment})
                    built_there |= bound_names(segment)
                    continue
                code = compile(segment, "<test>", "exec")
                needed = sorted(name for name in loaded_names(segment)
                                if name in self.student_names or name in built_there
                                or (name not in self.trusted and not hasattr(builtins, name)))
                if needed:
                    values = self.kernel.ask({"op": "get", "names": needed})
                    for name, value in values.items():
                        if value is MISSING:
                            self.namespace.pop(name, None)
                        else:
                            self.namespace[name] = value
                with contextlib.redirect_stdout(output):
                    exec(code, self.namespace)
                self.trusted |= bound_names(segment) - self.student_names - built_there
        except TimeoutError as error:
            return {**_failed("TimeoutError", str(error)), "interrupt": True, "stdout": _cut(output)}
        except BridgeDataError as error:
            return {**_failed("AnswerNotReadable", f"the grader could not read the answer as data "
                              f"({error})"), "stdout": _cut(output)}
        except StudentCodeError as error:
            name = type(error).__name__.removeprefix("Student")
            if name == "CodeError":
                name = "Error"
            return {**_failed(name, f"(raised by your code) {error}"), "stdout": _cut(output)}
        except Exception as error:  # the test's own verdict: its assert, or an error on the answer
            return {**_failed(type(error).__name__, str(error)), "stdout": _cut(output)}
        return {"status": "ok", "stdout": _cut(output)}


def _failed(ename: str, evalue: str, grader: bool = False) -> dict:
    return {"status": "error", "ename": ename, "evalue": evalue[:5000], "grader_error": grader}


def _cut(output: io.StringIO) -> str:
    text = output.getvalue()
    return text if len(text) <= MAX_STDOUT else text[:MAX_STDOUT] + "\n[output cut]\n"


def serve(prepared: Prepared | None = None) -> None:
    """Answer requests on stdin with one JSON line each on stdout, until stdin ends."""
    answers = os.fdopen(os.dup(1), "w")
    requests = os.fdopen(os.dup(0), "r")
    sys.stdout = sys.stderr  # stray prints never corrupt the answers
    judge = None
    for line in requests:
        request = json.loads(line)
        if request["op"] == "start":
            judge = Judge(request, prepared)
            answer = {"status": "ready"}
        elif request["op"] == "test":
            answer = judge.run_test(request["source"])
        else:
            break
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


def main() -> None:
    os.environ.setdefault("MPLBACKEND", "Agg")
    if sys.argv[1:2] == ["--warm"]:
        from primer.grading.judge_zygote import serve_forks

        plan = json.loads(sys.stdin.readline())
        serve_forks(int(sys.argv[2]), Prepared(plan), serve)
    else:
        serve()


if __name__ == "__main__":
    main()
