"""Malformed inputs for hwc: named cases a careful user hits, and seeded random
mutations of the fixtures at the protobuf level (edges, dims, dtypes,
attributes, external data), at the byte level, and of the command line.

A case is a name and a function that writes whatever files it needs into a
scratch folder and returns the `hwc` argument list to run there.
"""

from __future__ import annotations

import copy
import random
import struct
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
Case = tuple[str, Callable[[Path], list[str]]]


def fixture(name: str) -> onnx.ModelProto:
    return onnx.load(str(FIXTURES / f"{name}.onnx"))


def _save(model: onnx.ModelProto, folder: Path, name: str = "m.onnx") -> str:
    path = folder / name
    path.write_bytes(model.SerializeToString())
    return str(path)


def _tiny(nodes, inputs, outputs, initializers=(), opset: int = 17) -> onnx.ModelProto:
    """A one-graph model; outputs given without a shape get ONNX's inferred one
    (or an unknown 2-D shape when inference fails on a deliberately bad graph)."""
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    try:
        inferred = {v.name: v for v in onnx.shape_inference.infer_shapes(model).graph.output}
    except Exception:  # noqa: BLE001 - a malformed graph is the point
        inferred = {}
    for output in model.graph.output:
        tensor = output.type.tensor_type
        if not tensor.HasField("shape"):
            known = inferred.get(output.name)
            if known is not None and known.type.tensor_type.HasField("shape"):
                tensor.shape.CopyFrom(known.type.tensor_type.shape)
            else:
                tensor.shape.dim.add().dim_param = "a"
                tensor.shape.dim.add().dim_param = "b"
    return model


def _vi(name: str, shape, dtype=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, dtype, shape)


def _x(folder: Path, shape, name="x.npy") -> str:
    path = folder / name
    np.save(path, np.random.default_rng(0).standard_normal(shape).astype(np.float32))
    return str(path)


def _compile(model: onnx.ModelProto, *extra: str, emit: str = "spatial") -> Callable[[Path], list[str]]:
    def make(folder: Path) -> list[str]:
        return ["compile", _save(model, folder), "-o", str(folder / "build"), "--emit", emit, *extra]

    return make


def _generate(model: onnx.ModelProto, *extra: str) -> Callable[[Path], list[str]]:
    def make(folder: Path) -> list[str]:
        return ["generate", _save(model, folder), "--prompt", "1,2,3", "--max-new-tokens", "3", *extra]

    return make


def _run(model: onnx.ModelProto, x_shape, *extra: str, level: str = "float") -> Callable[[Path], list[str]]:
    def make(folder: Path) -> list[str]:
        return ["run", _save(model, folder), "--input", _x(folder, x_shape), "--level", level, *extra]

    return make


# --------------------------------------------------------------------------- models that parse but are wrong


def _conv_model(**attrs) -> onnx.ModelProto:
    w = numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "w")
    node = helper.make_node("Conv", ["x", "w"], ["y"], **attrs)
    return _tiny([node], [_vi("x", [1, 3, 8, 8])], [_vi("y", None)], [w])


def _gemm_with(weight: TensorProto) -> onnx.ModelProto:
    node = helper.make_node("Gemm", ["x", weight.name], ["y"], transB=1)
    return _tiny([node], [_vi("x", [1, 4])], [_vi("y", None)], [weight])


def _invalid_dtype() -> onnx.ModelProto:
    w = numpy_helper.from_array(np.ones((2, 4), np.float32), "w")
    w.data_type = 999
    return _gemm_with(w)


def _string_weight() -> onnx.ModelProto:
    w = helper.make_tensor("w", TensorProto.STRING, [2, 4], [b"a"] * 8)
    return _gemm_with(w)


def _empty_clip_min() -> onnx.ModelProto:
    lo = helper.make_tensor("lo", TensorProto.FLOAT, [0], [])
    node = helper.make_node("Clip", ["x", "lo"], ["y"])
    return _tiny([node], [_vi("x", [1, 4])], [_vi("y", None)], [lo])


def _empty_dropout_mode() -> onnx.ModelProto:
    ratio = helper.make_tensor("r", TensorProto.FLOAT, [], [0.5])
    mode = helper.make_tensor("t", TensorProto.BOOL, [0], [])
    node = helper.make_node("Dropout", ["x", "r", "t"], ["y"])
    return _tiny([node], [_vi("x", [1, 4])], [_vi("y", None)], [ratio, mode])


def _empty_if_condition() -> onnx.ModelProto:
    cond = helper.make_tensor("c", TensorProto.BOOL, [0], [])
    branch = lambda op: helper.make_graph([helper.make_node(op, ["x"], ["b"])], "b", [], [_vi("b", None)])  # noqa: E731
    node = helper.make_node("If", ["c"], ["y"], then_branch=branch("Relu"), else_branch=branch("Sigmoid"))
    return _tiny([node], [_vi("x", [1, 4])], [_vi("y", None)], [cond])


def _reshape_zero_past_rank() -> onnx.ModelProto:
    target = numpy_helper.from_array(np.array([0, 0, 0, 4], np.int64), "s")
    node = helper.make_node("Reshape", ["x", "s"], ["y"])
    return _tiny([node], [_vi("x", [1, 4])], [_vi("y", None)], [target])


def _scalar_matmul() -> onnx.ModelProto:
    w = numpy_helper.from_array(np.array(2.0, np.float32), "w")
    node = helper.make_node("MatMul", ["x", "w"], ["y"])
    return _tiny([node], [_vi("x", [1, 4])], [_vi("y", None)], [w])


def _input_dims(dims) -> onnx.ModelProto:
    node = helper.make_node("Relu", ["x"], ["y"])
    model = _tiny([node], [_vi("x", [1, 4])], [_vi("y", None)])
    shape = model.graph.input[0].type.tensor_type.shape
    for dim, value in zip(shape.dim, dims):
        dim.dim_value = value
    return model


def _bad_utf8_name() -> "_with_bytes":
    """The MLP with one node name made invalid UTF-8 (patched in the serialized bytes)."""
    model = fixture("mlp")
    model.graph.node[1].name = "NAMEMARK"
    return _with_bytes(model.SerializeToString().replace(b"NAMEMARK", b"NAME\xff\xfeRK"))


class _with_bytes:
    """A 'model' that is just bytes (written as they are)."""

    def __init__(self, data: bytes):
        self.data = data

    def SerializeToString(self) -> bytes:  # noqa: N802 - the protobuf spelling
        return self.data


def _nan_constant_node() -> onnx.ModelProto:
    value = numpy_helper.from_array(np.array([np.nan, 1, 2, 3], np.float32), "v")
    constant = helper.make_node("Constant", [], ["c"], value=value)
    node = helper.make_node("Add", ["x", "c"], ["y"])
    return _tiny([constant, node], [_vi("x", [1, 4])], [_vi("y", None)])


def _nan_folded() -> onnx.ModelProto:
    zero = numpy_helper.from_array(np.zeros(4, np.float32), "z")
    div = helper.make_node("Div", ["z", "z"], ["nan"])
    node = helper.make_node("Add", ["x", "nan"], ["y"])
    return _tiny([div, node], [_vi("x", [1, 4])], [_vi("y", None)], [zero])


def _group_not_dividing() -> onnx.ModelProto:
    w = numpy_helper.from_array(np.ones((4, 1, 3, 3), np.float32), "w")
    node = helper.make_node("Conv", ["x", "w"], ["y"], group=2)
    return _tiny([node], [_vi("x", [1, 3, 8, 8])], [_vi("y", None)], [w])


def _huge_pad() -> onnx.ModelProto:
    pads = numpy_helper.from_array(np.array([0, 0, 100000, 100000, 0, 0, 100000, 100000], np.int64), "p")
    node = helper.make_node("Pad", ["x", "p"], ["y"])
    return _tiny([node], [_vi("x", [1, 3, 8, 8])], [_vi("y", None)], [pads])


def _leaky_nan() -> onnx.ModelProto:
    node = helper.make_node("LeakyRelu", ["x"], ["y"], alpha=float("nan"))
    return _tiny([node], [_vi("x", [1, 4])], [_vi("y", None)])


def named_model_cases() -> list[Case]:
    node = helper.make_node("Relu", ["x"], ["y"])
    huge = _tiny([node], [_vi("x", [1, 3, 100000, 100000])], [_vi("y", None)])
    return [
        ("zero strides", _compile(_conv_model(strides=[0, 0]))),
        ("invalid data_type", _compile(_invalid_dtype())),
        ("string weight", _compile(_string_weight())),
        ("empty Clip min", _compile(_empty_clip_min())),
        ("empty Dropout training_mode", _compile(_empty_dropout_mode())),
        ("empty If condition", _compile(_empty_if_condition())),
        ("Reshape 0 past rank", _compile(_reshape_zero_past_rank())),
        ("scalar into MatMul", _compile(_scalar_matmul())),
        ("zero input dimension", _compile(_input_dims([1, 0]))),
        ("negative input dimension", _compile(_input_dims([1, -4]))),
        ("non-UTF-8 node name", _compile(_bad_utf8_name())),
        ("NaN from a Constant node", _compile(_nan_constant_node())),
        ("NaN from a folded sub-graph", _compile(_nan_folded())),
        ("Conv group does not divide channels", _compile(_group_not_dividing())),
        ("huge Pad", _compile(_huge_pad())),
        ("huge Conv pads", _compile(_conv_model(pads=[100000] * 4))),
        ("huge input", _compile(huge)),
        ("LeakyRelu alpha NaN", _compile(_leaky_nan())),
    ]


# --------------------------------------------------------------------------- side files and paths


def _npz_bytes(folder: Path, data: bytes, name: str = "c.npz") -> str:
    path = folder / name
    path.write_bytes(data)
    return str(path)


def _npy_absurd_header(folder: Path) -> str:
    path = folder / "x.npy"
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (100000, 100000, 100000), }"
    header = header.ljust(118) + "\n"
    path.write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
    return str(path)


def _safetensors_header(folder: Path, header: bytes) -> str:
    path = folder / "w.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header)
    return str(path)


def side_file_cases() -> list[Case]:
    mlp = str(FIXTURES / "mlp.onnx")

    def cmd(*args_for: Callable[[Path], str | list[str]], command: str = "compile",
            tail: tuple[str, ...] = ()) -> Callable[[Path], list[str]]:
        def make(folder: Path) -> list[str]:
            parts: list[str] = []
            for make_arg in args_for:
                made = make_arg(folder)
                parts += made if isinstance(made, list) else [made]
            out = ["-o", str(folder / "build"), "--emit", "rom"] if command == "compile" else []
            return [command, mlp, *parts, *out, *tail]

        return make

    fifo = lambda folder: _mkfifo(folder / "pipe.npz")  # noqa: E731
    return [
        ("corrupt npz calib", cmd(lambda f: ["--calib", _npz_bytes(f, b"PK\x03\x04garbage" * 10)])),
        ("empty npz calib", cmd(lambda f: ["--calib", _npz_bytes(f, b"")])),
        ("npy as calib", cmd(lambda f: ["--calib", _x(f, (4, 64), "c.npy")])),
        ("npy with absurd header", cmd(lambda f: ["--input", _npy_absurd_header(f)], command="run")),
        ("corrupt npz input", cmd(lambda f: ["--input", _npz_bytes(f, b"PK\x05\x06" + bytes(18))], command="run")),
        ("named pipe as input", cmd(lambda f: ["--input", fifo(f)], command="run")),
        ("safetensors header not json", cmd(lambda f: ["--weights", _safetensors_header(f, b"{not json")])),
        ("safetensors header huge length", cmd(lambda f: ["--weights", _npz_bytes(
            f, struct.pack("<Q", 1 << 62) + b"{}", "w.safetensors")])),
        ("safetensors header wrong types", cmd(lambda f: ["--weights", _safetensors_header(
            f, b'{"layers.0.weight": {"dtype": 5, "shape": "x", "data_offsets": [0]}}')])),
        ("shape beyond int64", cmd(lambda f: ["--shape", "input=1x99999999999999999999999"])),
        ("shape not a number", cmd(lambda f: ["--shape", "input=1xfoo"])),
        ("target-fps inf", cmd(lambda f: ["--target-fps", "inf"])),
        ("target-fps nan", cmd(lambda f: ["--target-fps", "nan"])),
        ("clock nan", cmd(lambda f: ["--clock-mhz", "nan"])),
        ("report of a folder with a bad report.json", _bad_report),
        ("report of a missing folder", lambda f: ["report", str(f / "nothing")]),
        ("NaN input at int level", _nan_input),
    ]


def _mkfifo(path: Path) -> str:
    import os

    os.mkfifo(path)
    return str(path)


def _bad_report(folder: Path) -> list[str]:
    build = folder / "b"
    build.mkdir()
    (build / "report.json").write_text('{"layers": [{"name": 3}]}')
    return ["report", str(build)]


def _nan_input(folder: Path) -> list[str]:
    path = folder / "x.npy"
    x = np.zeros((1, 64), np.float32)
    x[0, 3] = np.nan
    np.save(path, x)
    return ["run", str(FIXTURES / "mlp.onnx"), "--input", str(path), "--level", "int"]


# --------------------------------------------------------------------------- random mutations


def _mutate_protobuf(model: onnx.ModelProto, rng: random.Random) -> str:
    """One random structural change to `model`; returns what it did."""
    graph = model.graph
    choice = rng.randrange(8)
    if choice == 0 and graph.node:
        node = rng.choice(graph.node)
        if node.input:
            i = rng.randrange(len(node.input))
            node.input[i] = rng.choice([n for x in graph.node for n in x.output] + ["", "nowhere"])
            return f"rewire {node.op_type} input {i}"
    if choice == 1 and graph.initializer:
        tensor = rng.choice(graph.initializer)
        if tensor.dims:
            i = rng.randrange(len(tensor.dims))
            tensor.dims[i] = rng.choice([0, 1, -1, tensor.dims[i] + 1, 1 << 40])
            return f"initializer {tensor.name} dim {i}"
    if choice == 2 and graph.initializer:
        tensor = rng.choice(graph.initializer)
        tensor.data_type = rng.choice([0, 2, 3, 6, 7, 8, 9, 10, 11, 16, 17, 23, 999])
        return f"initializer {tensor.name} dtype {tensor.data_type}"
    if choice == 3 and graph.node:
        node = rng.choice(graph.node)
        if node.attribute:
            attr = rng.choice(node.attribute)
            if attr.ints:
                attr.ints[rng.randrange(len(attr.ints))] = rng.choice([0, -1, 1 << 20, -(1 << 40)])
            elif attr.type == onnx.AttributeProto.FLOAT:
                attr.f = rng.choice([float("nan"), float("inf"), -1.0, 0.0])
            elif attr.type == onnx.AttributeProto.INT:
                attr.i = rng.choice([0, -1, 1 << 40])
            return f"{node.op_type} attribute {attr.name}"
        node.attribute.append(helper.make_attribute(rng.choice(["axis", "group", "strides"]), rng.choice([0, 7, -3])))
        return f"{node.op_type} extra attribute"
    if choice == 4:
        dims = graph.input[0].type.tensor_type.shape.dim
        if dims:
            dim = rng.choice(dims)
            dim.Clear()
            if rng.random() < 0.5:
                dim.dim_value = rng.choice([0, 1, 2, 3, 1 << 33])
            else:
                dim.dim_param = "N"
            return "input dim"
    if choice == 5 and graph.node:
        node = rng.choice(graph.node)
        node.op_type = rng.choice(["Relu", "Conv", "Gemm", "MatMul", "Softmax", "Reshape", "Add", "Flatten", "Nope"])
        return f"op type {node.op_type}"
    if choice == 6 and graph.initializer:
        tensor = rng.choice(graph.initializer)
        tensor.data_location = TensorProto.EXTERNAL
        location = rng.choice(["../../etc/passwd", "/etc/passwd", "missing.bin", "loop", "a\0b", "x" * 300, "."])
        del tensor.external_data[:]
        entry = tensor.external_data.add()
        entry.key, entry.value = "location", location
        return f"external data {location[:20]!r}"
    if choice == 7 and graph.node:
        del graph.node[rng.randrange(len(graph.node))]
        return "drop a node"
    model.opset_import[0].version = rng.choice([1, 7, 11, 13, 17, 21, 99])
    return f"opset {model.opset_import[0].version}"


def _mutate_bytes(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    data = bytearray(data)
    choice = rng.randrange(4)
    if choice == 0:
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        return bytes(data), "bit flips"
    if choice == 1:
        return bytes(data[: rng.randrange(len(data))]), "truncated"
    if choice == 2:
        start = rng.randrange(len(data))
        return bytes(data[:start] + bytes(rng.randrange(256) for _ in range(16)) + data[start + 16:]), "garbage run"
    return bytes(data) + bytes(rng.randrange(256) for _ in range(rng.randint(1, 64))), "trailing garbage"


BAD_GENERATE_OPTIONS = [
    ["--prompt", ""], ["--prompt", ","], ["--prompt", "1,-2"], ["--prompt", "99999999999999999999999"],
    ["--prompt", "1.5"], ["--prompt", "1", "--max-new-tokens", "0"], ["--prompt", "1", "--max-new-tokens", "-4"],
    ["--prompt", "1", "--context", "-3"], ["--prompt", "1", "--context", "100000"], ["--prompt", "1", "--end-token", "x"],
    ["--prompt", ",".join(["1"] * 40)], ["--prompt", "1", "--level", "rtl"], ["--prompt", "1", "-o", "/proc/tokens.npy"],
]

BAD_OPTIONS = [
    ["--wbits", "1"], ["--wbits", "9"], ["--abits", "x"], ["--fold", "half"], ["--target-fps", "-1"],
    ["--clock-mhz", "0"], ["--max-multipliers", "0"], ["--rom", "flash"], ["--emit", "gds"],
    ["--shape", "=1x2"], ["--shape", "input=1x0"], ["--level", "quantum"], ["--samples", "0"],
    ["--target-fps", "1e300"], ["--max-multipliers", "-5"], ["--fold", "full", "--target-fps", "10"],
]


def random_cases(seed: int, count: int, emits: tuple[str, ...] = ("rom",)) -> Iterator[Case]:
    """`count` seeded random cases: protobuf mutations (with a folder-loop symlink
    for the 'loop' location), byte mutations and bad command lines; the model
    cases compile to a level drawn from `emits`."""
    rng = random.Random(seed)
    fixtures = {name: fixture(name) for name in ("mlp", "cnn")}
    fixtures["llama"] = fixture("llm/llama")
    for index in range(count):
        kind = rng.random()
        name = rng.choice(sorted(fixtures))
        emit = rng.choice(emits)
        if kind < 0.55:
            model = copy.deepcopy(fixtures[name])
            what = _mutate_protobuf(model, rng)
            if rng.random() < 0.3:
                what += "; " + _mutate_protobuf(model, rng)
            command = _generate(model) if name == "llama" else _compile(model, emit=emit)
            yield f"{index} proto {name}: {what}", _with_loop(command)
        elif kind < 0.85:
            data, what = _mutate_bytes(fixtures[name].SerializeToString(), rng)
            command = _generate(_with_bytes(data)) if name == "llama" else _compile(_with_bytes(data), emit=emit)
            yield f"{index} bytes {name}: {what}", command
        elif name == "llama":
            options = rng.choice(BAD_GENERATE_OPTIONS)
            yield f"{index} options generate {' '.join(options)}", _bad_generate(options)
        else:
            options = rng.choice(BAD_OPTIONS)
            command = rng.choice(["compile", "run", "verify"])
            yield f"{index} options {command} {' '.join(options)}", _options_case(command, name, options)


def _with_loop(make: Callable[[Path], list[str]]) -> Callable[[Path], list[str]]:
    def wrapped(folder: Path) -> list[str]:
        (folder / "loop").symlink_to(folder / "loop")
        return make(folder)

    return wrapped


def _options_case(command: str, name: str, options: list[str]) -> Callable[[Path], list[str]]:
    def make(folder: Path) -> list[str]:
        model = str(FIXTURES / f"{name}.onnx")
        shape = (1, 64) if name == "mlp" else (1, 3, 16, 16)
        if command == "run":
            return ["run", model, "--input", _x(folder, shape), *options]
        if command == "verify":
            return ["verify", model, "--samples", "2", *options]
        return ["compile", model, "-o", str(folder / "build"), "--emit", "rom", *options]

    return make


def _bad_generate(options: list[str]) -> Callable[[Path], list[str]]:
    def make(folder: Path) -> list[str]:
        return ["generate", str(FIXTURES / "llm" / "llama.onnx"), *options]

    return make

