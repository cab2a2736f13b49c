"""Runs inside a grading kernel: notice and undo student code that changes how cells are judged.

A notebook's code runs in the same interpreter as the instructor's tests, so
one line of it can change how later cells run: an IPython input transformer
that empties every cell, an AST transformer, a custom exception handler, an
event hook, ``sys.settrace``, replaced builtins or streams, patched
``numpy.testing`` / ``numpy.allclose`` / ``math.isclose``, a patched shell or
kernel method. Every test cell would then "pass".

The grader (primer.grading.sandbox.SandboxedExecute) calls, with a fresh
random token each time and never from student code:

* ``install(token)`` once, before the first cell: a snapshot of everything
  that judges a cell, taken while only the interpreter itself has run;
* ``guard(token)`` right before each test cell: puts the snapshot back and
  reports what it had to undo;
* ``canary(token, error_token)`` right after each test cell: reports what the
  test cell's calls into student code changed, then must fail with exactly
  ``AssertionError(error_token)``.

Each prints ``<token> <json report>``. A report that is missing, or a canary
that does not fail as it must, tells the grader that it cannot trust the test
cell next to it. Nothing here trusts the kernel's word alone: the grader also
checks each cell's execute reply (nbgrader's Execute records its status).
"""
from __future__ import annotations

import builtins
import functools
import inspect
import json
import re
import sys
import threading

# Modules whose functions tests use to judge answers. Snapshotted when they
# are first seen (importing torch here would cost seconds per notebook).
JUDGING_MODULES = ("math", "operator", "numpy", "numpy.testing", "numpy.linalg", "torch",
                   "torch.testing", "pandas", "pandas.testing", "sklearn.metrics", "unittest")
# Names in the notebook's namespace that judge answers: rebinding them is tampering.
JUDGING_NAME = re.compile(r"assert|close|equal|approx")
_SYSTEM_PREFIXES = tuple({sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix})

_state: dict = {}


# --------------------------------------------------------------------------- what counts as whose

def _is_library(obj, partial_ok: bool = False) -> bool:
    """Whether ``obj`` was defined by the installed Python or its packages (not a notebook)."""
    if isinstance(obj, functools.partial):
        # partial(re.sub, ".*", "") is student code built from library parts, but
        # ipykernel itself swaps in partials of its own for input() and streams.
        return partial_ok and _is_library(obj.func)
    target = getattr(obj, "__func__", obj)
    code = getattr(target, "__code__", None)
    if code is not None:
        return code.co_filename.startswith(_SYSTEM_PREFIXES)
    module = getattr(target, "__module__", None) or type(target).__module__
    return module not in (None, "__main__", "builtins") or type(target) in (
        type(len), type(str.lower), type("".lower))


def _functions(namespace: dict) -> dict:
    return {key: value for key, value in namespace.items()
            if inspect.isfunction(value) or isinstance(value, (classmethod, staticmethod, property))}


# --------------------------------------------------------------------------- the snapshot

def _judged_objects(shell):
    """Objects whose methods run or report cells: (label, object)."""
    kernel = getattr(shell, "kernel", None)
    found = [("shell", shell), ("kernel", kernel), ("session", getattr(kernel, "session", None)),
             ("stdout", sys.stdout), ("stderr", sys.stderr),
             ("displayhook", getattr(shell, "displayhook", None)),
             ("display_pub", getattr(shell, "display_pub", None)),
             ("compiler", getattr(shell, "compile", None)),
             ("transformer manager", getattr(shell, "input_transformer_manager", None))]
    return [(label, obj) for label, obj in found if obj is not None]


def _take_snapshot(shell) -> dict:
    objects = _judged_objects(shell)
    classes = {}
    for label, obj in objects:
        for cls in type(obj).__mro__[:-1]:
            classes.setdefault(cls, _functions(vars(cls)))
    return {
        "shell": shell,
        "kernel": getattr(shell, "kernel", None),
        "attributes": {label: (obj, dict(vars(obj))) for label, obj in objects if hasattr(obj, "__dict__")},
        "links": {(label, name): getattr(obj, name) for label, obj in objects
                  for name in ("session", "shell", "iopub_socket", "iopub_thread", "displayhook",
                               "display_pub", "compile", "input_transformer_manager", "events",
                               "shell_stream", "shell_streams", "control_stream")
                  if hasattr(obj, name)},
        "classes": classes,
        "builtins": dict(vars(builtins)),
        "user_builtins": shell.user_ns.get("__builtins__"),
        "streams": {name: getattr(sys, name) for name in ("stdout", "stderr", "displayhook", "excepthook")},
        "transformers": {name: list(getattr(shell, name)) for name in
                         ("input_transformers_cleanup", "input_transformers_post", "ast_transformers")},
        "manager_lists": {name: list(getattr(shell.input_transformer_manager, name, []))
                          for name in ("cleanup_transforms", "line_transforms", "token_transformers")},
        "custom_exceptions": (shell.custom_exceptions, shell.CustomTB),
        "events": {name: list(callbacks) for name, callbacks in shell.events.callbacks.items()},
        "modules": {},
        "judging_names": {},
    }


def _snapshot_modules(snapshot: dict, findings: list) -> None:
    """Remember each judging module when first seen; a patch seen at first sight is reported."""
    for name in JUDGING_MODULES:
        module = sys.modules.get(name)
        if module is None or name in snapshot["modules"]:
            continue
        members = dict(vars(module))
        patched = [key for key, value in members.items()
                   if callable(value) and not key.startswith("_") and not _is_library(value)]
        if patched:
            findings.append(f"{name}.{', '.join(sorted(patched)[:5])} replaced by notebook code "
                            "before the grader first saw it")
        snapshot["modules"][name] = (module, members)


def install(token: str) -> None:
    shell = get_ipython()  # noqa: F821 - the kernel's own
    _state["snapshot"] = _take_snapshot(shell)
    _report(token, {"installed": True})


# --------------------------------------------------------------------------- checking (and undoing)

def _check(restore: bool) -> tuple[list[str], list[str]]:
    """(what was changed, what could not be put back)."""
    snapshot = _state["snapshot"]
    shell = snapshot["shell"]
    changed: list[str] = []
    lost: list[str] = []

    def note(what: str) -> None:
        changed.append(what)

    # Tracing and profiling can skip or rewrite any line of a test.
    if sys.gettrace() is not None or threading.gettrace() is not None:
        note("a trace function (sys.settrace)")
        if restore:
            sys.settrace(None)
            threading.settrace(None)
    if sys.getprofile() is not None or threading.getprofile() is not None:
        note("a profile function (sys.setprofile)")
        if restore:
            sys.setprofile(None)
            threading.setprofile(None)

    # ipykernel swaps some of these on every request (input(), the streams'
    # methods, sys.excepthook): a replacement counts only if notebook code made it.
    for name, value in snapshot["streams"].items():
        now = getattr(sys, name)
        if now is not value and not _is_library(now, partial_ok=True):
            note(f"sys.{name}")
            if restore:
                setattr(sys, name, value)

    current = vars(builtins)
    for name, value in snapshot["builtins"].items():
        now = current.get(name, _MISSING)
        if now is not value and (now is _MISSING or not _is_library(now, partial_ok=True)):
            note(f"the builtin {name}")
            if restore:
                current[name] = value
    if shell.user_ns.get("__builtins__") is not snapshot["user_builtins"]:
        note("the notebook's __builtins__")
        if restore:
            shell.user_ns["__builtins__"] = snapshot["user_builtins"]

    for name, before in snapshot["transformers"].items():
        if getattr(shell, name) != before:
            note(f"IPython's {name}")
            if restore:
                getattr(shell, name)[:] = before
    manager = shell.input_transformer_manager
    for name, before in snapshot["manager_lists"].items():
        if getattr(manager, name, before) != before:
            note(f"IPython's input transformer list {name}")
            if restore:
                getattr(manager, name)[:] = before

    if (shell.custom_exceptions, shell.CustomTB) != snapshot["custom_exceptions"]:
        note("a custom exception handler (set_custom_exc)")
        if restore:
            shell.custom_exceptions, shell.CustomTB = snapshot["custom_exceptions"]

    for event, before in snapshot["events"].items():
        callbacks = shell.events.callbacks.get(event, [])
        added = [c for c in callbacks if c not in before and not _is_library(c)]
        if added:
            note(f"a '{event}' event hook")
            if restore:
                for callback in added:
                    callbacks.remove(callback)

    owners = dict(_judged_objects(shell))
    for (label, name), value in snapshot["links"].items():
        owner = owners.get(label)
        if owner is not None and getattr(owner, name, _MISSING) is not value:
            note(f"the {label}'s {name}")
            if restore:
                setattr(owner, name, value)

    for label, (obj, before) in snapshot["attributes"].items():
        class_functions = set().union(*(snapshot["classes"].get(cls, {}) for cls in type(obj).__mro__))
        for key, value in list(vars(obj).items()):
            if (key in class_functions and before.get(key, _MISSING) is not value
                    and not _is_library(value, partial_ok=True)):
                note(f"the {label}'s method {key}")
                if restore:
                    if key in before:
                        setattr(obj, key, before[key])
                    else:
                        delattr(obj, key)

    for cls, before in snapshot["classes"].items():
        now = vars(cls)
        for key, value in before.items():
            if now.get(key, _MISSING) is not value:
                note(f"{cls.__name__}.{key}")
                if restore:
                    setattr(cls, key, value)
        for key, value in _functions(now).items():
            if key not in before and not _is_library(value):
                note(f"{cls.__name__}.{key}")
                if restore:
                    delattr(cls, key)

    _snapshot_modules(snapshot, lost)
    for name, (module, members) in snapshot["modules"].items():
        if sys.modules.get(name) is not module:
            note(f"the module {name} in sys.modules")
            if restore:
                sys.modules[name] = module
        now = vars(module)
        for key, value in members.items():
            current = now.get(key, _MISSING)
            if not callable(value) or current is value:
                continue
            # Libraries rebind their own members (torch fills some in lazily): only a
            # judging helper must stay the same object, any other only the library's.
            if JUDGING_NAME.search(key) or current is _MISSING or not _is_library(current):
                note(f"{name}.{key}")
                if restore:
                    now[key] = value

    names = snapshot["judging_names"]
    for key, value in list(shell.user_ns.items()):
        if not JUDGING_NAME.search(key) or not callable(value):
            continue
        if key not in names:
            if _is_library(value):
                names[key] = value  # the instructor's import, or the student's honest one
            continue
        if value is not names[key] and not _is_library(value):
            note(f"the notebook's {key}")
            if restore:
                shell.user_ns[key] = names[key]
    return changed, lost


_MISSING = object()


def _report(token: str, report: dict) -> None:
    stream = _state.get("snapshot", {}).get("streams", {}).get("stdout", sys.stdout)
    stream.write(f"{token} {json.dumps(report, sort_keys=True)}\n")
    stream.flush()


def guard(token: str) -> None:
    """Before a test cell: undo whatever changed how cells are judged, and say what it was."""
    changed, lost = _check(restore=True)
    _report(token, {"changed": changed, "lost": lost})


def canary(token: str, error_token: str) -> None:
    """After a test cell: say what its calls changed, then fail exactly as told."""
    changed, lost = _check(restore=False)
    _report(token, {"changed": changed, "lost": lost})
    raise AssertionError(error_token)
