"""The vector unit's program (compiler/hw/vector_program.py), run cycle by cycle in
Python exactly as the hardware sequencer runs it (one ALU, the per-cycle tables),
against the integer executor's kernels on the same region (the spatial executor's
vector kernel): every result and the next state equal, token after token, for
every vector unit of a decoder fixture. The RTL is the same sequencer in gates
(tests/e2e/test_decoder_rtl.py)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import compiler
from compiler.hw.vector_program import Program, element_of, storage_of, vector_program
from compiler.numerics import requantize, wrap
from compiler.weights import store_for
from dialects import spatial

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "llm"


def run_program(program: Program, inputs: list[np.ndarray], memory: list[np.ndarray]) -> list[np.ndarray]:
    """One frame: inputs captured, steps run a cycle at a time; `memory` holds every storage."""
    for index, values in zip(program.inputs, inputs):
        memory[index] = wrap(np.asarray(values, np.int64).reshape(-1).copy(), program.storages[index].width)

    def read(tag) -> int:
        return int(memory[int(storage_of(tag))][int(element_of(tag))])

    for step in program.steps:
        target = memory[step.target]
        width = program.storages[step.target].width
        t = step.tables
        k = step.constants
        acc = peak = total = rem = quotient = result = 0
        for c in range(step.cycles):
            if step.kind in ("add", "sub", "mul"):
                lhs = read(t["lhs"][c]) if "lhs" in t else int(k["lhs"][c])
                rhs = read(t["rhs"][c]) if "rhs" in t else int(k["rhs"][c])
                value = {"add": lhs + rhs, "sub": lhs - rhs, "mul": lhs * rhs}[step.kind]
                target[c] = wrap(np.array([value]), width)[0]
            elif step.kind == "neg":
                target[c] = wrap(np.array([-read(t["x"][c])]), width)[0]
            elif step.kind == "requant":
                op = step.op
                value = requantize(np.array([read(t["x"][c])]), np.array([int(k["multiplier"][c])]),
                                   op.shift.value.data, op.lo.value.data, op.hi.value.data)
                target[c] = wrap(value, width)[0]
            elif step.kind == "lookup":
                in_width = program.storages[int(storage_of(t["x"][c]))].width
                target[c] = k["table"][read(t["x"][c]) + (1 << (in_width - 1))]
            elif step.kind == "embedding":
                target[c] = k["table"][read(t["ids"][c]) * int(k["columns"][0]) + int(t["column"][c])]
            elif step.kind in ("matmul", "reduce_sum"):
                product = read(t["lhs"][c]) * (read(t["rhs"][c]) if "rhs" in t else 1)
                acc = product if t["first"][c] else acc + product
                if t["last"][c]:
                    target[int(t["out"][c])] = wrap(np.array([acc]), width)[0]
            elif step.kind == "inv_sqrt":
                v = max(read(t["x"][c]), 1)
                base = 0 if t["first"][c] else result
                trial = base | (1 << int(t["bit"][c]))
                result = trial if trial * trial * v <= 1 << (2 * step.op.shift.value.data) else base
                if t["last"][c]:
                    target[int(t["out"][c])] = wrap(np.array([result]), width)[0]
            elif step.kind == "cache_write":
                position = read(t["position"][c])
                target[int(t["base"][c]) + position * int(k["stride"][0])] = read(t["value"][c])
            elif step.kind == "softmax":
                op, phase, first = step.op, int(t["phase"][c]), bool(t["first"][c])
                x, kept = read(t["x"][c]), read(t["keep"][c]) != 0
                buffer = memory[int(storage_of(t["buffer"][c]))]
                j = int(element_of(t["buffer"][c]))
                if phase == 0:
                    candidate = x if kept else -(1 << 62)
                    peak = candidate if first or candidate > peak else peak
                elif phase == 1:
                    e = int(k["table"][min(peak - x, k["table"].size - 1)]) if kept else 0
                    buffer[j] = e
                    total = e if first else total + e
                elif phase == 2:
                    rem = ((0 if first else rem) << 1) | int(t["numerator_bit"][c])
                    bigger = rem >= max(total, 1)
                    rem = rem - max(total, 1) if bigger else rem
                    quotient = ((0 if first else quotient) << 1) | int(bigger)
                else:
                    shift = op.shift.value.data
                    target[int(t["out"][c])] = wrap(np.array([(int(buffer[j]) * quotient + ((1 << shift) >> 1))
                                                              >> shift]), width)[0]
    return [np.array([read(tag) for tag in tags]) for tags in program.outputs]


@pytest.mark.parametrize("name", ["llama", "gpt2", "qwen2"])
def test_every_vector_unit_s_program_computes_its_region(name):
    design = compiler.compile(FIXTURES / f"{name}.onnx")
    module = design.spatial_module
    executor = design.executor("spatial")
    ids = np.load(FIXTURES / f"{name}.npz")["input_ids"][1][:5]
    units = [op for op in executor.graph.body.block.ops if isinstance(op, spatial.VectorOp)]
    programs = {op: vector_program(op, module, store_for(module)) for op in units}
    memories = {op: [np.zeros(s.size, np.int64) for s in programs[op].storages] for op in units}
    executor.states.reset()
    for position, token in enumerate(ids):
        streams = executor.plan.trace({executor.input_names[0]: np.array([[token]]),
                                       executor.input_names[1]: np.array([[position]])})
        for op in units:
            inputs = [streams[v][0] for v in op.inputs]
            results = run_program(programs[op], inputs, memories[op])
            for result, value in zip(results, op.outputs):
                np.testing.assert_array_equal(result, streams[value][0].reshape(-1),
                                              err_msg=f"{op.layer.data} at position {position}")
