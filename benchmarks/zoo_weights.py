"""Random weights for the light model zoo, built so that the network computes something
(used by `benchmarks/zoo.py` and `benchmarks/zoo_sensitivity.py`).

The light models fill every weight and bias with one constant (`ConstantOfShape`,
0.02; a few biases are real values), so all classes score alike. `with_random_weights`:

1. every `ConstantOfShape` becomes an initializer: seeded He-normal values (std
   sqrt(2 / fan-in)) for rank >= 2, the constant otherwise (batch-norm statistics,
   densenet's scale and shift keep the model's values);
2. every Conv and Gemm bias becomes zero;
3. each layer's bias is set to remove `centre` times each output channel's mean, its
   weights and bias divided so that each channel's output (or, not `per_channel`, the
   whole output) has second moment 1, on `samples` random-normal inputs of their own
   seed. The statistics come from one batched onnxruntime run of the network with that
   normalisation after every layer (batch normalisation in training mode), so that each
   layer is measured on the already normalised layers above it; then each
   normalisation is folded into its layer. With `centre` 1 and per channel, every channel
   has mean 0 and variance 1 on those inputs: the data-dependent initialisation of
   Salimans & Kingma 2016 ("Weight normalization", section 3), LSUV (Mishkin & Matas
   2016) per channel. With `centre` 0 and per layer it is He-normal with zero biases
   at a scale that changes no top-1 (ReLU networks are positively homogeneous).

Nothing here runs hwc, and the scaling inputs are not the ones the benchmark
calibrates or measures on.

Why `centre` matters (`benchmarks/zoo_sensitivity.py` measures it): a random ReLU
network is either ordered or chaotic (Poole et al. 2016, Schoenholz et al. 2017).
Without centring, the positive mean of every ReLU adds a part common to all inputs
that grows with depth until the top class hardly depends on the input (inception_v1:
one or two classes for every input). Centred, a relative perturbation grows by
sqrt(E[relu'(h)^2] Var h / Var relu(h)) = sqrt(0.5 / 0.3408) = 1.21 per layer (h
standard normal), so the rounding of 8-bit weights (~0.5% per layer) reaches the
size of what varies between inputs after ~20 layers, whatever the quantizer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

LAYERS = ("Conv", "Gemm")


def constant_of_shape_as_initializers(model: onnx.ModelProto, rng) -> None:
    """Every `ConstantOfShape` with a constant shape becomes an initializer: He-normal
    values (std sqrt(2 / fan-in)) for rank >= 2, zeros for rank 1 (biases; the scaling
    sets those of layers), its constant value otherwise."""
    graph = model.graph
    shapes = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    kept = []
    for node in graph.node:
        shape = shapes.get(node.input[0]) if node.op_type == "ConstantOfShape" else None
        if shape is None:
            kept.append(node)
            continue
        dims = tuple(int(d) for d in shape)
        if len(dims) >= 2:
            value = rng.standard_normal(dims) * np.sqrt(2.0 / int(np.prod(dims[1:])))
        else:
            fill = next((numpy_helper.to_array(a.t) for a in node.attribute if a.name == "value"), np.zeros(1))
            value = np.full(dims, float(fill.reshape(-1)[0]))
        add_initializer(model, node.output[0], value.astype(np.float32))
    del graph.node[:]
    graph.node.extend(kept)


def add_initializer(model: onnx.ModelProto, name: str, value: np.ndarray) -> None:
    model.graph.initializer.append(numpy_helper.from_array(value, name))
    if model.ir_version < 4:  # initializers are also graph inputs then
        model.graph.input.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, value.shape))


def layer_depths(model: onnx.ModelProto) -> dict[str, int]:
    """Each Conv/Gemm node's output name -> 1 + the largest depth of a Conv/Gemm above it."""
    depth_of: dict[str, int] = {}  # tensor -> depth of the deepest layer it depends on
    layers = {}
    for node in model.graph.node:  # ONNX graphs are topologically sorted
        depth = max((depth_of.get(name, 0) for name in node.input), default=0)
        if node.op_type in LAYERS:
            depth += 1
            layers[node.output[0]] = depth
        for name in node.output:
            depth_of[name] = depth
    return layers


def output_channel_axis(node: onnx.NodeProto) -> int:
    """The weight axis of the output channels (Gemm without transB holds B as K x N)."""
    trans_b = any(a.name == "transB" and a.i for a in node.attribute)
    return 1 if node.op_type == "Gemm" and not trans_b else 0


def activations(model: onnx.ModelProto) -> set[str]:
    """The tensors that depend on the graph's real inputs (not only on initializers)."""
    weights = {init.name for init in model.graph.initializer}
    live = {value.name for value in model.graph.input if value.name not in weights}
    for node in model.graph.node:
        if any(name in live for name in node.input):
            live.update(node.output)
    return live


def batched(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of `model` that runs a batch: its real inputs' first dimension symbolic, a
    Reshape of an activation to a shape starting with 1 copying the batch instead (0)."""
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    graph = probe.graph
    live = activations(probe)
    weights = {init.name: init for init in graph.initializer}
    for value in graph.input:
        if value.name not in weights:
            value.type.tensor_type.shape.dim[0].dim_param = "batch"
    for node in graph.node:
        if node.op_type == "Reshape" and node.input[0] in live and node.input[1] in weights:
            shape = numpy_helper.to_array(weights[node.input[1]]).copy()
            if shape.size and shape[0] == 1:
                shape[0] = 0
                name = node.output[0] + "_batch_shape"
                graph.initializer.append(numpy_helper.from_array(shape, name))
                node.input[1] = name
    del graph.value_info[:]
    del graph.output[:]
    return probe


def normalising_nodes(layer: onnx.NodeProto, rank: int, centre: float, per_channel: bool):
    """Nodes that compute the channel mean and std of `layer`'s output y over the batch and
    the positions, and y normalised as `normalise_layer` will fold it into the weights
    (its name: y + "_normalised"); also the names of the mean and the std."""
    y = layer.output[0]
    axes = [0, *range(2, rank)]
    make = onnx.helper.make_node
    consts = {f"{y}_centre": centre, f"{y}_uncentred": (1 - centre) ** 2, f"{y}_tiny": 1e-12, f"{y}_one": 1.0}
    nodes = [make("Constant", [], [name], value=numpy_helper.from_array(np.array(v, np.float32), name))
             for name, v in consts.items()]
    nodes += [
        make("ReduceMean", [y], [f"{y}_mean"], axes=axes, keepdims=1),
        make("Sub", [y, f"{y}_mean"], [f"{y}_deviation"]),
        make("Mul", [f"{y}_deviation", f"{y}_deviation"], [f"{y}_squared"]),
        make("ReduceMean", [f"{y}_squared"], [f"{y}_variance"], axes=axes, keepdims=1),
        make("Sqrt", [f"{y}_variance"], [f"{y}_std"]),
        make("Mul", [f"{y}_mean", f"{y}_mean"], [f"{y}_mean_squared"]),
        make("Mul", [f"{y}_mean_squared", f"{y}_uncentred"], [f"{y}_offset_squared"]),
        make("Add", [f"{y}_variance", f"{y}_offset_squared"], [f"{y}_channel_moment"]),
    ]
    if per_channel:
        nodes.append(make("Identity", [f"{y}_channel_moment"], [f"{y}_moment"]))
    else:
        nodes.append(make("ReduceMean", [f"{y}_channel_moment"], [f"{y}_moment"], axes=[1], keepdims=1))
    nodes += [
        make("Sqrt", [f"{y}_moment"], [f"{y}_rms"]),
        make("Less", [f"{y}_rms", f"{y}_tiny"], [f"{y}_never_varies"]),
        make("Where", [f"{y}_never_varies", f"{y}_one", f"{y}_rms"], [f"{y}_scale"]),
        make("Mul", [f"{y}_mean", f"{y}_centre"], [f"{y}_removed"]),
        make("Sub", [y, f"{y}_removed"], [f"{y}_centred"]),
        make("Div", [f"{y}_centred", f"{y}_scale"], [f"{y}_normalised"]),
    ]
    return nodes, f"{y}_mean", f"{y}_std"


def layer_statistics(model: onnx.ModelProto, feeds: list[dict], centre: float, per_channel: bool) -> dict:
    """Each Conv/Gemm output's per-channel (mean, std) on the batch of `feeds` (arrays
    [C]), every layer measured on the outputs of the layers above it already
    normalised: training-mode batch normalisation after every layer, one run of
    onnxruntime over the whole network."""
    import onnxruntime

    probe = batched(model)
    ranks = {init.name: len(init.dims) for init in probe.graph.initializer}
    nodes, outputs, normalised = [], [], set()
    for node in probe.graph.node:
        renamed = [name + "_normalised" if name in normalised else name for name in node.input]
        del node.input[:]
        node.input.extend(renamed)
        nodes.append(node)
        if node.op_type in LAYERS:
            rank = 2 if node.op_type == "Gemm" else ranks[node.input[1]]  # Conv: as its weight
            added, mean, std = normalising_nodes(node, rank, centre, per_channel)
            nodes += added
            outputs += [mean, std]
            normalised.add(node.output[0])
    del probe.graph.node[:]
    probe.graph.node.extend(nodes)
    probe.graph.output.extend(onnx.helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, None) for n in outputs)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads, options.log_severity_level = 1, 3
    session = onnxruntime.InferenceSession(probe.SerializeToString(), options, providers=["CPUExecutionProvider"])
    batch = {name: np.concatenate([feed[name] for feed in feeds]) for name in feeds[0]}
    values = dict(zip(outputs, session.run(outputs, batch)))
    return {mean.removesuffix("_mean"): (values[mean].reshape(-1).astype(np.float64),
                                         values[std].reshape(-1).astype(np.float64))
            for mean, std in zip(outputs[::2], outputs[1::2])}


def normalise_layer(model: onnx.ModelProto, node: onnx.NodeProto, mean: np.ndarray, std: np.ndarray,
                    centre: float, per_channel: bool) -> None:
    """Set `node`'s bias to remove `centre` times each output channel's mean, and divide
    its weights and bias so that each channel's output (per_channel) or the whole
    output has second moment 1: with centre 1, mean 0 and variance 1 (a channel that
    never varies keeps its scale)."""
    moment = std ** 2 + (1 - centre) ** 2 * mean ** 2
    scale = np.sqrt(moment if per_channel else np.full_like(moment, moment.mean()))
    scale = np.where(scale > 1e-12, scale, 1.0)
    inits = {init.name: init for init in model.graph.initializer}
    name = weight_initializer(model, node.input[1])
    stored = numpy_helper.to_array(inits[name]).astype(np.float64)
    if output_channel_axis(node) == 0:
        weight = stored.reshape(len(scale), -1) / scale[:, None]
    else:
        weight = stored.reshape(-1, len(scale)) / scale[None, :]
    inits[name].CopyFrom(numpy_helper.from_array(weight.reshape(stored.shape).astype(np.float32), name))
    for attribute in node.attribute:
        if attribute.name == "beta":  # Gemm's bias factor
            attribute.f = 1.0
    bias = (-centre * mean / scale).astype(np.float32)
    if len(node.input) > 2:
        inits[node.input[2]].CopyFrom(numpy_helper.from_array(bias, node.input[2]))
    else:
        add_initializer(model, node.output[0] + "_bias", bias)
        node.input.append(node.output[0] + "_bias")


def zero_layer_biases(model: onnx.ModelProto) -> None:
    """Every Conv/Gemm bias becomes zeros (the light models' constants, and the few real
    biases they keep, which with random weights are only a common offset)."""
    inits = {init.name: init for init in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type in LAYERS and len(node.input) > 2 and node.input[2] in inits:
            bias = numpy_helper.to_array(inits[node.input[2]])
            inits[node.input[2]].CopyFrom(numpy_helper.from_array(np.zeros_like(bias), node.input[2]))


def weight_initializer(model: onnx.ModelProto, name: str) -> str:
    """The initializer behind the weight `name`, through `Reshape`s (inception_v1's classifier)."""
    producers = {node.output[0]: node for node in model.graph.node}
    while name in producers and producers[name].op_type == "Reshape":
        name = producers[name].input[0]
    return name


def with_random_weights(source: Path, target: Path, centre: float = 1.0, per_channel: bool = True,
                        seed: int = 16, samples: int = 8) -> None:
    """`source` with random weights scaled on `samples` random-normal inputs (see the
    module docstring), saved to `target`."""
    model = onnx.load(source)
    rng = np.random.default_rng(seed)
    constant_of_shape_as_initializers(model, rng)
    zero_layer_biases(model)
    feeds = scaling_inputs(model, samples, seed + 1)
    stats = layer_statistics(model, feeds, centre, per_channel)
    for node in model.graph.node:
        if node.op_type in LAYERS:
            normalise_layer(model, node, *stats[node.output[0]], centre, per_channel)
    onnx.save(model, target)


def scaling_inputs(model: onnx.ModelProto, count: int, seed: int) -> list[dict]:
    """`count` random-normal feeds of the model's real inputs (not its initializers)."""
    rng = np.random.default_rng(seed)
    weights = {init.name for init in model.graph.initializer}
    feeds = [{} for _ in range(count)]
    for value in model.graph.input:
        if value.name in weights:
            continue
        shape = [d.dim_value or 1 for d in value.type.tensor_type.shape.dim]
        for feed in feeds:
            feed[value.name] = rng.standard_normal(shape).astype(np.float32)
    return feeds
