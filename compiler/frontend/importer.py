"""ONNX model -> `builtin.module` with `func.func @main` in the `nn` dialect.

`import_onnx` reads and checks the model (`loader.py`), resolves its weights
and inputs, runs ONNX shape inference, then walks the nodes in order:

* a node whose inputs are all constants is evaluated now (`folding.py`);
* any other node goes to its op handler (`ops/`), which emits `nn` ops;
* a node that cannot be converted is remembered, and after the walk all such
  nodes are reported in one `HwcError`.

Weights go into a fresh in-memory weight store (`memory:N`, attribute
`nn.weights`), loaded lazily: small constants are inlined as `nn.constant`,
larger ones become `nn.weight "key"`.

Float precision: a graph computes in one float type, float32, or float64 when
its float inputs are float64 (`graph_float_dtype`); float constants take that
type (ONNX types both operands of an op alike). In a float64 graph a node whose
handler emits a float32 value or materialises a float32 constant is refused (its
family is imported in float32 only), so no value silently loses precision.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import onnx
from xdsl.dialects.builtin import ArrayAttr, DictionaryAttr, ModuleOp, StringAttr, TensorType, f32
from xdsl.dialects.func import FuncOp, ReturnOp
from xdsl.ir import Block, Operation, Region, SSAValue
from xdsl.utils.exceptions import VerifyException

from compiler.boundary import check_fits
from compiler.errors import HwcError
from compiler.frontend import loader
from compiler.frontend.folding import SHAPE_OPS, FoldingError, fold, is_foldable, shape_stand_in
from compiler.frontend.loader import Constant, GraphInput
from compiler.frontend.node import NodeImport, Unsupported, Value, shape
from compiler.frontend.ops import FOLDED_ONLY, HANDLERS, OTHER_DOMAINS
from compiler.frontend.ops.quantized import annotate_given
from compiler.ir import element_type_for, make_constant, tensor_type
from compiler.weights import INLINE_LIMIT, new_memory_store
from dialects.nn import NAME_ATTR, ONNX_NODE_ATTR, ONNX_TENSOR_ATTR, WEIGHT_STORE_ATTR, WeightOp

OPERATORS_DOC = "docs/operators.md"


def import_onnx(path: str | Path, weights: str | Path | None = None,
                shapes: Mapping[str, list[int]] | None = None) -> ModuleOp:
    """Import the ONNX model at `path` into a verified `nn` module.

    `weights` (a safetensors file) supplies or overrides tensors by name;
    `shapes` gives the static shape of inputs with dynamic dimensions.
    Raises `HwcError` (one line, naming the file) for every user mistake.
    """
    path = Path(path)
    model = loader.load_model(path)
    loader.check_text(model, path)
    loader.check_external_data(model, path)
    loader.check_model(model, path)
    constants = loader.initializer_constants(model, path)
    sources = dict.fromkeys(constants, path)
    if weights is not None:
        supplied = loader.supplied_weights(Path(weights), path, model, constants)
        constants.update(supplied)
        sources.update(dict.fromkeys(supplied, Path(weights)))
    loader.check_finite(constants, sources)
    inputs = loader.resolve_inputs(model, path, constants, dict(shapes or {}))
    loader.set_input_shapes(model, inputs)
    inferred, inference_error = infer_shapes(model, path)
    return GraphImporter(model, path, constants, inputs, inferred, inference_error).run()


def infer_shapes(model: onnx.ModelProto, path: Path) -> tuple[dict[str, tuple[int, ...]], HwcError | None]:
    """Static shapes ONNX shape inference finds, or its strict-mode error.

    A failure is returned rather than raised: the importer first reports
    unsupported nodes (often the cause), then this error. The shapes serve to
    cross-check the importer's own shape computations.
    """
    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
    except ValueError:  # a model too large to serialise: no global inference
        return {}, None
    except (onnx.shape_inference.InferenceError, onnx.checker.ValidationError, RuntimeError) as failure:
        return {}, HwcError(f"{path}: ONNX shape inference failed: {loader.first_line(failure)}")
    shapes: dict[str, tuple[int, ...]] = {}
    graph = inferred.graph
    for value in [*graph.value_info, *graph.output]:
        tensor_type_ = value.type.tensor_type
        if value.type.HasField("tensor_type") and tensor_type_.HasField("shape"):
            dims = tensor_type_.shape.dim
            if all(d.HasField("dim_value") for d in dims):
                shapes[value.name] = tuple(int(d.dim_value) for d in dims)
    return shapes, None


def _finite_or_masking(value) -> bool:
    """No NaN and no +inf: -inf is allowed, the score of a masked position (the classic
    exporter's SDPA attention writes its causal mask as where(mask, 0, -inf))."""
    data = np.asarray(value)
    return bool(np.all(np.isfinite(data) | (data == -np.inf)))


ATTENTION_MASK = "attention_mask"
"""transformers' name for the padding-mask input."""


def _nodes_reading(graph: onnx.GraphProto, name: str) -> set[str]:
    """The names (as the importer gives them) of the nodes computing from value `name`."""
    derived, found = {name}, set()
    for index, node in enumerate(graph.node):
        if any(i in derived for i in node.input):
            derived.update(node.output)
            found.add(node.name or f"{node.op_type}_{index}")
    return found


class _Poison:
    """The value of an output of a node that could not be imported."""


POISON = _Poison()


class GraphImporter:
    """Walks an ONNX graph in order, building the body of `func.func @main`."""

    def __init__(self, model: onnx.ModelProto, path: Path, constants: Mapping[str, Constant],
                 inputs: list[GraphInput], inferred: Mapping[str, tuple[int, ...]],
                 inference_error: HwcError | None = None):
        self.model = model
        self.path = path
        self.inputs = inputs
        self.inferred = inferred
        self.inference_error = inference_error
        self.opset = loader.opset_version(model)
        self.store = new_memory_store()
        self.float_dtype = graph_float_dtype(inputs, path)
        self.block = Block(arg_types=[tensor_type(i.shape, element_type_for(i.dtype)) for i in inputs])
        self.values: dict[str, Value | _Poison] = dict(constants)
        self.values.update({i.name: arg for i, arg in zip(inputs, self.block.args)})
        self.uses: Counter[str] = Counter()
        _count_uses(model.graph, self.uses)
        self.unsupported: list[str] = []
        self.refused: list[str] = []
        self._materialised: dict[int, tuple[Constant, SSAValue]] = {}
        """By the id of the constant, which the entry keeps alive: a derived constant
        freed after use could otherwise hand its id, and its SSA value, to another."""

    # ---------------------------------------------------------------- GraphBuilder

    def emit(self, op: Operation) -> Operation:
        self.block.add_op(op)
        return op

    def use_count(self, name: str) -> int:
        return self.uses[name]

    def materialise(self, constant: Constant) -> SSAValue:
        """The SSA value of a constant: inline when small, else a lazy weight-store entry.

        Float constants take the graph's float type; in a float64 graph a float32
        constant (an initializer, or one a handler derived in float32) is Unsupported,
        as it would hold fewer digits than the graph computes with. Each constant is
        materialised once.
        """
        if self.float_dtype == np.float64 and constant.dtype == np.float32:
            raise Unsupported(f"float64 operands: constant '{constant.name}' is float32")
        if id(constant) not in self._materialised:
            dtype = self.float_dtype if constant.dtype.kind == "f" else constant.dtype
            if constant.size <= INLINE_LIMIT:
                op = make_constant(np.asarray(constant.value(), dtype=dtype), self.store, constant.name)
            else:
                key = self.store.unique_key(constant.name)
                self.store.add_lazy(key, _loader_as(constant, dtype))
                op = WeightOp(key, tensor_type(constant.shape, element_type_for(dtype)))
            annotate_given(constant, op, "weight")
            self.emit(op)
            self._materialised[id(constant)] = (constant, op.results[0])
        return self._materialised[id(constant)][1]

    # ---------------------------------------------------------------- the walk

    def run(self) -> ModuleOp:
        for index, node in enumerate(self.model.graph.node):
            self._import_node(node, node.name or f"{node.op_type}_{index}")
        if self.unsupported:
            self._check_attention_mask()
            count = len(self.unsupported)
            raise HwcError(
                f"{self.path}: {count} unsupported node{'s' if count > 1 else ''}: "
                f"{', '.join(self.unsupported)}; supported operators are listed in {OPERATORS_DOC}"
            )
        if self.inference_error is not None:
            raise self.inference_error
        return self._module()

    def _import_node(self, node: onnx.NodeProto, name: str) -> None:
        inputs = [self._value(node, name, i) for i in node.input]
        if any(v is POISON for v in inputs):
            if node.op_type not in HANDLERS and node.op_type not in SHAPE_OPS:
                self._refuse(node, name, self._unsupported_reason(node))
            self._poison(node)
            return
        if node.domain not in ("", "ai.onnx") and OTHER_DOMAINS.get(node.op_type) != node.domain:
            self._refuse(node, name, f"domain '{node.domain}'")
            return
        if node.op_type == "If" and isinstance(inputs[0], Constant):
            condition = np.asarray(inputs[0].value())
            if condition.size != 1:
                self._refuse(node, name, f"the condition must hold one value, it holds {condition.size}")
                return
            self._inline_branch(node, name, bool(condition.reshape(-1)[0]))
            return
        malformed = malformed_attribute(node)
        if malformed:
            self._refuse(node, name, malformed)
            return
        if self._foldable(node, inputs):
            self._fold(node, name, inputs)
            return
        handler = HANDLERS.get(node.op_type)
        if handler is None:
            self._refuse(node, name, self._unsupported_reason(node))
            return
        last = self.block.last_op
        try:
            results = handler(NodeImport(node, name, self.opset, inputs, self))
            self._verify_emitted(last)
        except Unsupported as unsupported:
            self._refuse(node, name, unsupported.reason)
            return
        except (ArithmeticError, IndexError, KeyError, TypeError, ValueError) as error:
            # The handler met inputs or attributes it cannot make sense of: a malformed node.
            self._refuse(node, name, f"malformed node ({loader.first_line(error)})")
            return
        for output, value in zip(node.output, results):
            if output and value is not None:
                self._check_shape(node, name, output, value)
                self.values[output] = value
                _record_origin(value, node_name=name, tensor=output)

    def _inline_branch(self, node: onnx.NodeProto, name: str, condition: bool) -> None:
        """Import the branch of an `If` whose condition is known at import time."""
        attribute = "then_branch" if condition else "else_branch"
        branch = next(a.g for a in node.attribute if a.name == attribute)
        for tensor in branch.initializer:
            self.values[tensor.name] = loader.tensor_constant(tensor, self.path)
        for index, inner in enumerate(branch.node):
            self._import_node(inner, inner.name or f"{name}/{inner.op_type}_{index}")
        for output, result in zip(node.output, branch.output):
            if output:
                self.values[output] = self.values.get(result.name, POISON)

    def _value(self, node: onnx.NodeProto, name: str, tensor: str) -> Value | _Poison | None:
        if not tensor:
            return None
        if tensor not in self.values:
            raise HwcError(f"{self.path}: node '{name}' ({node.op_type}) reads '{tensor}', "
                           "which no node or input produces")
        return self.values[tensor]

    @staticmethod
    def _foldable(node: onnx.NodeProto, inputs: list[Value | None]) -> bool:
        if not is_foldable(node):
            return False
        if node.op_type in SHAPE_OPS and inputs and isinstance(inputs[0], SSAValue):
            return True
        return all(v is None or isinstance(v, Constant) for v in inputs)

    def _fold(self, node: onnx.NodeProto, name: str, inputs: list[Value | None]) -> None:
        constants = [Constant.of(node.input[0], shape_stand_in(shape(v))) if isinstance(v, SSAValue)
                     else v for v in inputs]
        for output in node.output:
            if output in self.inferred:
                check_fits(math.prod(self.inferred[output]), 8, f"{self.path}: node '{name}' "
                           f"({node.op_type}): constant '{output}' of shape {list(self.inferred[output])}")
        try:
            results = fold(node, constants, self.model.opset_import)
        except FoldingError as error:
            self._refuse(node, name, f"cannot evaluate it on constants ({error})")
            return
        for output, value in zip(node.output, results):
            if output and value is not None:
                if value.dtype.kind == "f" and not _finite_or_masking(value.value()):
                    raise HwcError(f"{self.path}: node '{name}' ({node.op_type}) computes NaN or "
                                   f"+infinite values in '{output}' from constants")
                self.values[output] = value

    def _unsupported_reason(self, node: onnx.NodeProto) -> str:
        if node.op_type in FOLDED_ONLY:
            return "only supported when all its inputs are constants"
        return ""

    def _refuse(self, node: onnx.NodeProto, name: str, reason: str) -> None:
        detail = f"{node.op_type}: {reason}" if reason else node.op_type
        self.unsupported.append(f"'{name}' ({detail})")
        self.refused.append(name)
        self._poison(node)

    def _check_attention_mask(self) -> None:
        """One clear line when the refused nodes compute from an `attention_mask`
        input (transformers' mask code: boolean ops on activations)."""
        if ATTENTION_MASK not in {i.name for i in self.inputs}:
            return
        from_mask = set(self.refused) & _nodes_reading(self.model.graph, ATTENTION_MASK)
        if from_mask:
            raise HwcError(
                f"{self.path}: input '{ATTENTION_MASK}' is not supported ({len(from_mask)} of the unsupported "
                f"nodes compute from it); export the model with input_ids as its only input (transformers "
                "then builds the all-ones mask of an unpadded sequence inside the graph)")

    def _poison(self, node: onnx.NodeProto) -> None:
        for output in node.output:
            if output:
                self.values[output] = POISON

    def _verify_emitted(self, last: Operation | None) -> None:
        """Verify the ops a handler emitted after `last`; an op that does not verify
        means the node's attributes do not fit its inputs (Unsupported, with the reason)."""
        op = last.next_op if last is not None else self.block.first_op
        while op is not None:
            try:
                op.verify()
            except VerifyException as error:
                raise Unsupported(loader.first_line(error)) from None
            self._check_precision(op)
            op = op.next_op

    def _check_precision(self, op: Operation) -> None:
        """In a float64 graph, Unsupported for an op with a float32 result."""
        if self.float_dtype == np.float64 and any(
                isinstance(r.type, TensorType) and r.type.get_element_type() == f32 for r in op.results):
            raise Unsupported(f"float64 operands: {op.name} is imported in float32 only")

    def _check_shape(self, node: onnx.NodeProto, name: str, output: str, value: Value) -> None:
        """Cross-check a converted output's shape against ONNX shape inference, and
        refuse a tensor that could not fit in memory before anything allocates it."""
        check_fits(math.prod(shape(value)), 4, f"{self.path}: node '{name}' ({node.op_type}): "
                                               f"output '{output}' of shape {list(shape(value))}")
        expected = self.inferred.get(output)
        if expected is not None and tuple(expected) != shape(value):
            raise HwcError(
                f"{self.path}: node '{name}' ({node.op_type}): output '{output}' has shape "
                f"{list(shape(value))} after import, but ONNX shape inference gives {list(expected)}"
            )

    # ---------------------------------------------------------------- the module

    def _module(self) -> ModuleOp:
        results = [self._output_value(o.name) for o in self.model.graph.output]
        self.block.add_op(ReturnOp(*results))
        function = FuncOp(
            "main", ([a.type for a in self.block.args], [r.type for r in results]),
            Region(self.block),
            arg_attrs=_name_attrs(i.name for i in self.inputs),
            res_attrs=_name_attrs(o.name for o in self.model.graph.output),
        )
        module = ModuleOp([function])
        module.attributes[WEIGHT_STORE_ATTR] = StringAttr(self.store.name)
        try:
            module.verify()
        except VerifyException as error:
            raise HwcError(f"{self.path}: the imported graph does not verify (a bug in hwc's "
                           f"importer): {loader.first_line(error)}") from None
        return module

    def _output_value(self, name: str) -> SSAValue:
        value = self.values.get(name)
        if isinstance(value, Constant):
            try:
                return self.materialise(value)
            except Unsupported as unsupported:
                raise HwcError(f"{self.path}: graph output '{name}' is not supported "
                               f"({unsupported.reason})") from None
        if not isinstance(value, SSAValue):
            raise HwcError(f"{self.path}: graph output '{name}' is not produced by any node")
        return value


WINDOW_ATTRIBUTES = {"strides": 1, "dilations": 1, "kernel_shape": 1, "pads": 0, "group": 1}
"""Attributes whose every value must be at least this (ONNX semantics)."""


def graph_float_dtype(inputs: list[GraphInput], path: Path) -> np.dtype:
    """The float type a graph computes in: float64 when its float inputs are float64,
    else float32; HwcError when they mix both (hwc computes a graph in one precision)."""
    floats = {i.dtype for i in inputs if i.dtype.kind == "f"}
    if len(floats) > 1:
        names = ", ".join(f"'{i.name}' {i.dtype}" for i in inputs if i.dtype.kind == "f")
        raise HwcError(f"{path}: float inputs of mixed precision ({names}) are not supported; "
                       "a graph computes in float32 or in float64")
    return floats.pop() if floats else np.dtype(np.float32)


def malformed_attribute(node: onnx.NodeProto) -> str:
    """Why a window attribute of `node` is out of range ('' when all are fine)."""
    for attribute in node.attribute:
        least = WINDOW_ATTRIBUTES.get(attribute.name)
        if least is None:
            continue
        values = list(attribute.ints) if attribute.type == onnx.AttributeProto.INTS else [attribute.i]
        if any(v < least for v in values):
            return f"{attribute.name} {values} must be at least {least}"
    for attribute in node.attribute:
        if attribute.type == onnx.AttributeProto.FLOAT and math.isnan(attribute.f):
            return f"attribute {attribute.name} is NaN"
    return ""


def _record_origin(value, node_name: str, tensor: str) -> None:
    owner = value.owner if isinstance(value, SSAValue) else None
    if isinstance(owner, Operation):  # the last ONNX tensor equal to the value wins (MatMul+Add)
        owner.attributes[ONNX_NODE_ATTR] = StringAttr(node_name)
        owner.attributes[ONNX_TENSOR_ATTR] = StringAttr(tensor)


def _count_uses(graph: onnx.GraphProto, uses: Counter) -> None:
    """How often each tensor is read: by nodes, as a graph output, inside sub-graphs."""
    uses.update(output.name for output in graph.output)
    for node in graph.node:
        uses.update(name for name in node.input if name)
        for attribute in node.attribute:
            for subgraph in [attribute.g] if attribute.HasField("g") else list(attribute.graphs):
                _count_uses(subgraph, uses)


def _loader_as(constant: Constant, dtype: np.dtype):
    if constant.dtype == dtype:
        return constant.value
    return lambda: np.asarray(constant.value(), dtype=dtype)


def _name_attrs(names) -> ArrayAttr[DictionaryAttr]:
    return ArrayAttr([DictionaryAttr({NAME_ATTR: StringAttr(n)}) for n in names])
