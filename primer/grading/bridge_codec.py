"""The bridge's wire format: plain data only, with strict types and size caps.  [BOTH SIDES]

The judge (trusted, primer.grading.judge) and the student's kernel (untrusted,
primer.grading.bridge_student) exchange values as JSON. ``encode`` turns a
value into JSON-able data; ``decode`` turns such data back into a value and
is the only way anything of the student's process reaches the judge, so it
trusts nothing it reads:

* only these kinds come back as values: None, bool, int, float, complex, str,
  bytes, slices, Ellipsis, list, tuple, dict, set, NIfTI images (array and
  affine), scikit-learn estimators and splitters (rebuilt from their class,
  constructor parameters and state, never with a cache or extra processes),
  NumPy arrays and scalars of a numeric, bool,
  string or date dtype (never ``object``), torch tensors (as tensors of the
  judge's own torch), pandas Series, DataFrames and Index objects (rebuilt
  from arrays);
* everything else stays in the student's process: the judge gets a ``Handle``
  (primer.grading.judge) that can only ask the student's process for more data;
* no pickle, no ``eval``; nesting, item counts, string and array sizes are
  capped, and every class the judge builds is the judge's own, so no
  comparison or truth test is ever evaluated by a student's object.
"""
from __future__ import annotations

import base64
import math
from typing import Any, Callable

MAX_DEPTH = 40
MAX_ITEMS = 2_000_000        # container items and array elements, per message
MAX_STRING = 10_000_000      # characters of one string
MAX_ARRAY_BYTES = 512 * 1024 ** 2  # all arrays of one message
_ARRAY_KINDS = set("biufcUSMm")  # bool, ints, floats, complex, str, bytes, dates: never object or void


# Packages whose functions and classes travel by name: each side uses its own copy.
LIBRARIES = {"numpy", "scipy", "pandas", "sklearn", "torch", "nilearn", "nibabel", "matplotlib",
             "math", "statistics", "random", "itertools", "functools", "collections", "copy",
             "operator", "re", "string", "json"}


def is_named_definition(obj) -> bool:
    """A class, a plain function or a module's built-in function: never a bound method."""
    import inspect

    if inspect.isclass(obj) or inspect.isfunction(obj):
        return True
    return inspect.isbuiltin(obj) and (obj.__self__ is None or inspect.ismodule(obj.__self__))


def library_object(origin):
    """This interpreter's own library function or class named ``[module, qualname]``, or None."""
    import importlib

    if type(origin) is not list or len(origin) != 2 or not all(type(p) is str for p in origin):
        return None
    module_name, qualname = origin
    if module_name.split(".")[0] not in LIBRARIES:
        return None
    try:
        obj = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except Exception:
        return None
    return obj if callable(obj) else None


def library_reference(obj) -> dict | None:
    """``obj`` as a reference by name, when it is a library function or class."""
    if not is_named_definition(obj):
        return None
    origin = [getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)]
    if library_object(origin) is obj:
        return {"@": "library", "origin": origin}
    return None


class BridgeDataError(ValueError):
    """What the student's process sent is not plain data the judge accepts."""


# --------------------------------------------------------------------------- encoding (both sides)

def encode(value: Any, to_reference: Callable[[Any], dict]) -> Any:
    """``value`` as JSON-able data; objects that are not plain data become ``to_reference(obj)``."""
    return _encode(value, to_reference, 0)


def _encode(value, ref, depth):
    if depth > MAX_DEPTH:
        return ref(value)
    kind = type(value)
    if value is None or kind in (bool, str):
        return value
    if kind is int:
        return {"@": "int", "v": str(value)} if abs(value) > 2 ** 53 else value
    if kind is float:
        return value if math.isfinite(value) else {"@": "float", "v": repr(value)}
    if kind is complex:
        return {"@": "complex", "v": [_encode(value.real, ref, depth + 1), _encode(value.imag, ref, depth + 1)]}
    if kind is bytes:
        return {"@": "bytes", "v": base64.b64encode(value).decode()}
    if value is Ellipsis:
        return {"@": "ellipsis"}
    if kind is slice:
        return {"@": "slice", "v": [_encode(p, ref, depth + 1) for p in (value.start, value.stop, value.step)]}
    if kind in (list, tuple, set, frozenset):
        return {"@": kind.__name__, "v": [_encode(item, ref, depth + 1) for item in value]}
    if kind is dict:
        return {"@": "dict", "v": [[_encode(k, ref, depth + 1), _encode(v, ref, depth + 1)]
                                   for k, v in value.items()]}
    module = getattr(kind, "__module__", "") or ""
    if module.startswith("numpy"):
        try:
            encoded = _encode_numpy(value)
        except TypeError:  # an object array holding objects: it stays where it is
            encoded = None
        if encoded is not None:
            return encoded
    elif module.startswith("torch") and kind.__name__ in ("Tensor", "Parameter"):
        array = _tensor_as_array(value)
        if array is not None:
            return {"@": "tensor", "v": _encode_numpy(array), "grad": bool(value.requires_grad)}
    elif module.startswith("pandas"):
        encoded = _encode_pandas(value, ref, depth)
        if encoded is not None:
            return encoded
    elif module.startswith("sklearn."):
        encoded = _encode_sklearn(value, ref, depth)
        if encoded is not None:
            return encoded
    elif module.startswith("nibabel") and kind.__name__ == "Nifti1Image":
        import numpy as np

        return {"@": "nifti1", "data": _encode_numpy(np.asanyarray(value.dataobj)),
                "affine": _encode_numpy(np.asarray(value.affine, dtype=float))}
    return ref(value)


def _encode_numpy(value):
    import numpy as np

    if isinstance(value, np.generic) and value.dtype.kind in _ARRAY_KINDS:
        return {"@": "npscalar", "v": _encode_numpy(np.asarray(value))}
    if type(value) is np.ndarray and value.dtype.kind == "O":  # strings, mixed: item by item
        return {"@": "objarray", "shape": list(value.shape),
                "v": [encode(item, _no_reference) for item in value.ravel().tolist()]}
    if type(value) is not np.ndarray or value.dtype.kind not in _ARRAY_KINDS:
        return None
    array = value if value.flags.c_contiguous else value.copy(order="C")  # keeps 0-d arrays 0-d
    return {"@": "ndarray", "dtype": array.dtype.str, "shape": list(array.shape),
            "b64": base64.b64encode(array.tobytes()).decode()}


def _constructor_parameters(kind) -> list[str]:
    import inspect

    try:
        signature = inspect.signature(kind.__init__)
    except (TypeError, ValueError):
        return []
    return [name for name, p in signature.parameters.items() if name != "self"
            and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def _encode_sklearn(value, ref, depth):
    """A scikit-learn estimator or splitter as data: its class, constructor parameters, other state."""
    kind = type(value)
    if not (hasattr(value, "get_params") or hasattr(value, "split")):
        return None
    try:
        names = _constructor_parameters(kind)
        params = {name: getattr(value, name) for name in names if hasattr(value, name)}
        state = {name: item for name, item in vars(value).items() if name not in params}
    except Exception:
        return None
    return {"@": "sklearn", "class": [kind.__module__, kind.__qualname__],
            "params": _encode(params, ref, depth + 1), "state": _encode(state, ref, depth + 1)}


def _no_reference(obj):
    raise TypeError(f"an array item of kind {type(obj).__name__} is not plain data")


def _tensor_as_array(tensor):
    try:
        import torch

        data = tensor.detach().cpu()
        if data.dtype in (torch.bfloat16,):
            data = data.float()
        return data.numpy()
    except Exception:  # a tensor subclass, a meta tensor...: left as a handle
        return None


def _encode_pandas(value, ref, depth):
    import numpy as np
    import pandas as pd

    def column(values):
        array = np.asarray(values)
        if array.dtype.kind == "O":  # strings, mixed: item by item
            return {"@": "list", "v": [_encode(item, ref, depth + 2) for item in array.tolist()]}
        return _encode_numpy(array)

    def index(idx):
        return {"@": "index", "names": [_encode(n, ref, depth + 1) for n in idx.names],
                "levels": [column(idx.get_level_values(i)) for i in range(idx.nlevels)]}

    if type(value) is pd.DataFrame:
        return {"@": "dataframe", "columns": [_encode(c, ref, depth + 1) for c in value.columns],
                "data": [column(value.iloc[:, i]) for i in range(value.shape[1])],
                "index": index(value.index)}
    if type(value) is pd.Series:
        return {"@": "series", "name": _encode(value.name, ref, depth + 1),
                "data": column(value.to_numpy()), "index": index(value.index)}
    if isinstance(value, pd.Index) and type(value).__module__.startswith("pandas"):
        return index(value)
    return None


# --------------------------------------------------------------------------- decoding (judge side)

class Decoder:
    """Decode data from the student's process into the judge's own plain values.

    ``make_handle(reference_dict)`` turns a reference into a judge-side object
    (a Handle, a module of the judge's own, ...).
    """

    def __init__(self, make_handle: Callable[[dict], Any], library_names: bool = True):
        self.make_handle = make_handle
        # The judge never takes a function by name from the student: a library function
        # called with arguments the student chose (a pickle loader and a path) would run
        # the student's code in the judge. The student's side takes them from the judge.
        self.library_names = library_names
        self.items = self.array_bytes = 0

    def decode(self, data):
        self.items = self.array_bytes = 0
        return self._decode(data, 0)

    def _count(self, n: int) -> None:
        self.items += n
        if self.items > MAX_ITEMS:
            raise BridgeDataError(f"more than {MAX_ITEMS} items")

    def _decode(self, data, depth):
        if depth > MAX_DEPTH:
            raise BridgeDataError("nested too deeply")
        self._count(1)
        kind = type(data)
        if data is None or kind in (bool, int, float):
            return data
        if kind is str:
            if len(data) > MAX_STRING:
                raise BridgeDataError("a string is too long")
            return data
        if kind is not dict:
            raise BridgeDataError(f"unexpected {kind.__name__}")
        tag = data.get("@")
        decode = getattr(self, f"_tag_{tag}", None) if isinstance(tag, str) and tag.isidentifier() else None
        if decode is None:
            raise BridgeDataError(f"unknown kind {tag!r}")
        return decode(data, depth)

    def _items(self, data, depth) -> list:
        items = data.get("v")
        if type(items) is not list:
            raise BridgeDataError("a container without items")
        self._count(len(items))
        return [self._decode(item, depth + 1) for item in items]

    def _tag_int(self, data, depth):
        text = data.get("v")
        if type(text) is not str or len(text) > 5000:
            raise BridgeDataError("a malformed integer")
        return int(text)

    def _tag_float(self, data, depth):
        text = data.get("v")
        if text not in ("nan", "inf", "-inf"):
            raise BridgeDataError("a malformed float")
        return float(text)

    def _tag_complex(self, data, depth):
        real, imag = self._items(data, depth)
        if type(real) not in (int, float) or type(imag) not in (int, float):
            raise BridgeDataError("a malformed complex number")
        return complex(real, imag)

    def _tag_bytes(self, data, depth):
        text = data.get("v")
        if type(text) is not str or len(text) > MAX_STRING:
            raise BridgeDataError("malformed bytes")
        return base64.b64decode(text, validate=True)

    def _tag_list(self, data, depth):
        return self._items(data, depth)

    def _tag_tuple(self, data, depth):
        return tuple(self._items(data, depth))

    def _tag_set(self, data, depth):
        return set(self._hashable(item) for item in self._items(data, depth))

    def _tag_frozenset(self, data, depth):
        return frozenset(self._tag_set(data, depth))

    def _tag_dict(self, data, depth):
        pairs = data.get("v")
        if type(pairs) is not list:
            raise BridgeDataError("a malformed dict")
        self._count(len(pairs))
        result = {}
        for pair in pairs:
            if type(pair) is not list or len(pair) != 2:
                raise BridgeDataError("a malformed dict")
            result[self._hashable(self._decode(pair[0], depth + 1))] = self._decode(pair[1], depth + 1)
        return result

    @staticmethod
    def _hashable(key):
        # Only the judge's own plain types: hashing them never runs a student's code.
        if type(key) in (type(None), bool, int, float, complex, str, bytes, frozenset):
            return key
        if type(key) is tuple:
            return tuple(Decoder._hashable(k) for k in key)
        type_name = type(key).__module__
        if type_name.startswith("numpy") and getattr(key, "ndim", 1) == 0:
            return key.item()
        raise BridgeDataError(f"a dict key or set item of kind {type(key).__name__}")

    def _tag_ndarray(self, data, depth):
        import numpy as np

        dtype_text, shape, b64 = data.get("dtype"), data.get("shape"), data.get("b64")
        if type(dtype_text) is not str or type(shape) is not list or type(b64) is not str:
            raise BridgeDataError("a malformed array")
        if len(shape) > 32 or not all(type(n) is int and 0 <= n for n in shape):
            raise BridgeDataError("a malformed array shape")
        try:
            dtype = np.dtype(dtype_text)
        except TypeError:
            raise BridgeDataError("an array of an unknown dtype") from None
        if dtype.kind not in _ARRAY_KINDS or dtype.fields is not None or dtype.subdtype is not None:
            raise BridgeDataError(f"an array of dtype {dtype_text}")
        if len(b64) > MAX_ARRAY_BYTES * 4 // 3 + 4:
            raise BridgeDataError("an array is too large")
        raw = base64.b64decode(b64, validate=True)
        count = math.prod(shape)
        if count * dtype.itemsize != len(raw):
            raise BridgeDataError("an array's data does not match its shape")
        self.array_bytes += len(raw)
        if self.array_bytes > MAX_ARRAY_BYTES:
            raise BridgeDataError("the arrays are too large")
        return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()

    def _tag_objarray(self, data, depth):
        import numpy as np

        shape, items = data.get("shape"), self._items(data, depth)
        if type(shape) is not list or len(shape) > 32 or not all(type(n) is int and n >= 0 for n in shape) \
                or math.prod(shape) != len(items):
            raise BridgeDataError("a malformed array")
        array = np.empty(len(items), dtype=object)
        array[:] = items if items else []
        return array.reshape(shape)

    def _tag_npscalar(self, data, depth):
        array = self._decode(data.get("v"), depth + 1)
        if getattr(array, "ndim", None) != 0:
            raise BridgeDataError("a malformed NumPy scalar")
        return array[()]

    def _tag_tensor(self, data, depth):
        import numpy as np
        import torch

        array = self._decode(data.get("v"), depth + 1)
        if type(array) is not np.ndarray or array.dtype.kind not in "biufc":
            raise BridgeDataError("a malformed tensor")
        tensor = torch.from_numpy(array)
        if data.get("grad") is True and tensor.is_floating_point():
            tensor.requires_grad_(True)
        return tensor

    def _column(self, data, depth):
        import numpy as np

        values = self._decode(data, depth + 1)
        if type(values) is list:
            array = np.empty(len(values), dtype=object)
            array[:] = [self._hashable(v) if v is not None else None for v in values]
            return array
        if type(values) is not np.ndarray or values.ndim != 1:
            raise BridgeDataError("a malformed column")
        return values

    def _tag_index(self, data, depth):
        import pandas as pd

        levels, names = data.get("levels"), data.get("names")
        if type(levels) is not list or type(names) is not list or not levels or len(levels) != len(names):
            raise BridgeDataError("a malformed index")
        columns = [self._column(level, depth) for level in levels]
        names = [self._hashable(self._decode(n, depth + 1)) for n in names]
        if len({len(c) for c in columns}) != 1:
            raise BridgeDataError("a malformed index")
        if len(columns) == 1:
            return pd.Index(columns[0], name=names[0])
        return pd.MultiIndex.from_arrays(columns, names=names)

    def _tag_series(self, data, depth):
        import pandas as pd

        values = self._column(data.get("data"), depth)
        index = self._tag_index(data.get("index") or {}, depth)
        if len(index) != len(values):
            raise BridgeDataError("a malformed Series")
        return pd.Series(values, index=index, name=self._hashable(self._decode(data.get("name"), depth + 1)))

    def _tag_dataframe(self, data, depth):
        import pandas as pd

        columns, values = data.get("columns"), data.get("data")
        if type(columns) is not list or type(values) is not list or len(columns) != len(values):
            raise BridgeDataError("a malformed DataFrame")
        names = [self._hashable(self._decode(c, depth + 1)) for c in columns]
        arrays = [self._column(v, depth) for v in values]
        index = self._tag_index(data.get("index") or {}, depth)
        if any(len(a) != len(index) for a in arrays):
            raise BridgeDataError("a malformed DataFrame")
        frame = pd.DataFrame({i: a for i, a in enumerate(arrays)}, index=index)
        frame.columns = pd.Index(names) if names else frame.columns
        return frame

    def _tag_ellipsis(self, data, depth):
        return Ellipsis

    def _tag_slice(self, data, depth):
        parts = self._items(data, depth)
        if len(parts) != 3 or not all(p is None or type(p) is int for p in parts):
            raise BridgeDataError("a malformed slice")
        return slice(*parts)

    def _tag_nifti1(self, data, depth):
        import nibabel
        import numpy as np

        array = self._decode(data.get("data"), depth + 1)
        affine = self._decode(data.get("affine"), depth + 1)
        if (type(array) is not np.ndarray or array.dtype.kind not in "biuf" or array.ndim not in (3, 4)
                or type(affine) is not np.ndarray or affine.shape != (4, 4) or affine.dtype.kind != "f"):
            raise BridgeDataError("a malformed NIfTI image")
        return nibabel.Nifti1Image(array, affine)

    # Parameters that only change where or how fast the judge works, never a result:
    # a student's estimator rebuilt here never writes a cache or starts processes.
    _SIDE_EFFECT_PARAMETERS = {"memory": None, "n_jobs": None, "verbose": False}

    def _tag_sklearn(self, data, depth):
        import importlib

        origin, params, state = data.get("class"), data.get("params"), data.get("state")
        if type(origin) is not list or len(origin) != 2 or not all(type(p) is str for p in origin) \
                or not origin[0].startswith("sklearn."):
            raise BridgeDataError("a malformed scikit-learn object")
        try:
            kind = importlib.import_module(origin[0])
            for part in origin[1].split("."):
                kind = getattr(kind, part)
        except (ImportError, AttributeError):
            raise BridgeDataError(f"no scikit-learn class {origin[1]!r}") from None
        if not isinstance(kind, type) or not (hasattr(kind, "get_params") or hasattr(kind, "split")):
            raise BridgeDataError(f"{origin[1]!r} is not a scikit-learn estimator or splitter")
        params, state = self._decode(params, depth + 1), self._decode(state, depth + 1)
        if type(params) is not dict or type(state) is not dict or not all(
                type(k) is str and k.isidentifier() and not k.startswith("__") for k in [*params, *state]):
            raise BridgeDataError("a malformed scikit-learn object")
        allowed = set(_constructor_parameters(kind))
        params = {k: self._SIDE_EFFECT_PARAMETERS.get(k, v) if k in self._SIDE_EFFECT_PARAMETERS else v
                  for k, v in params.items() if k in allowed}
        try:
            obj = kind(**params)
        except Exception as error:
            raise BridgeDataError(f"the {origin[1]} could not be rebuilt ({type(error).__name__})") from None
        for name, value in state.items():
            if name not in self._SIDE_EFFECT_PARAMETERS:
                obj.__dict__[name] = value
        return obj

    def _tag_library(self, data, depth):
        """A library function or class named by the other side: this side's own copy of it."""
        found = library_object(data.get("origin")) if self.library_names else None
        if found is None:
            raise BridgeDataError("an unknown library object")
        return found

    def _tag_ref(self, data, depth):
        return self.make_handle(data)

    _tag_module = _tag_ref
    _tag_error = _tag_ref
    _tag_missing = _tag_ref
