"""The Python face of hwc: `compile(model, ...)` gives a `Design` that runs at
every level of the pipeline reached so far.

The command line (`compiler/cli.py`) is a thin layer over this module, so that
everything it does can be scripted:

    design = compiler.compile("model.onnx", wbits=4, calib="calib.npz")
    outputs = design.run({"input": x}, level="float")   # the float model
    outputs = design.run({"input": x}, level="int")     # the quantized integer model
    design.write("build/", emit="rom")

Each level is built on first use from a copy of the level before, by that
level's pipeline of `compiler/pipelines.py` (`rom`, `spatial`, `hw`), so that
`hwc-opt -p` reproduces every arrow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from xdsl.dialects.builtin import AnyFloat, ModuleOp, f32
from xdsl.printer import Printer

from compiler.errors import HwcError
from compiler.output import atomic_directory

LEVELS = ("float", "int", "spatial", "rtl")
"""Levels a design can run at, top of the verification ladder first."""

EMIT_LEVELS = ("nn", "rom", "spatial", "hw", "sv")
"""What `write` can stop after; `sv` (the default of `hwc compile`) is the full build."""


@dataclass
class CompileOptions:
    """Options shared by every subcommand (see DESIGN.md, command line)."""

    weights: Path | None = None
    shapes: dict[str, list[int]] = field(default_factory=dict)
    wbits: int = 8
    abits: int = 8
    group_size: int = 0
    layer_wbits: str | dict | list = ""
    smooth: float | None = None
    calib: Path | None = None
    fold: str = "auto"
    target_fps: float | None = None
    target_tps: float | None = None
    clock_mhz: float = 200.0
    max_multipliers: int | None = None
    pad_neurons: bool = True
    rom: str = "logic"
    const_mult: str = "shift-add"
    requant_digits: int = 0
    weight_scales: str = "channel"

    def check(self) -> None:
        """HwcError (one line) for out-of-range options or a missing calibration file."""
        from compiler.pipelines import check_bits, fold_spec, hw_pipeline, quantize_spec
        from compiler.weight_formats import format_overrides

        check_bits(self.wbits, self.abits)
        self.layer_wbits = format_overrides(self.layer_wbits)
        quantize_spec(self.wbits, self.abits, self.group_size, self.layer_wbits, self.requant_digits,
                      self.weight_scales)
        if self.smooth is not None and not 0 <= self.smooth <= 1:
            raise HwcError(f"--smooth {self.smooth}: alpha must be in 0..1")
        fold_spec(self.fold, self.target_fps, self.clock_mhz, self.max_multipliers, self.target_tps)
        if not 0 < self.clock_mhz < float("inf"):
            raise HwcError(f"--clock-mhz {self.clock_mhz}: the clock must be a positive number")
        if self.target_fps is not None and not 0 < self.target_fps < float("inf"):
            raise HwcError(f"--target-fps {self.target_fps}: the target must be a positive number")
        if self.target_tps is not None and not 0 < self.target_tps < float("inf"):
            raise HwcError(f"--target-tps {self.target_tps}: the target must be a positive number")
        hw_pipeline(self.rom, self.const_mult)
        if self.calib is not None and not Path(self.calib).is_file():
            raise HwcError(f"--calib {self.calib}: no such file")


@dataclass
class Design:
    """A compiled model: its IR at each level and an executor per level."""

    model: Path
    options: CompileOptions
    nn_module: ModuleOp
    _executors: dict = field(default_factory=dict)
    _rom_module: ModuleOp | None = None
    _spatial_module: ModuleOp | None = None
    _rtl_build: object | None = None

    @property
    def rom_module(self) -> ModuleOp:
        """The integer module (nn + rom), built from a copy of `nn_module` on first use."""
        if self._rom_module is None:
            from compiler.pipelines import rom_pipeline, run_pipeline

            check_float_inputs(self.nn_module)
            module = self.nn_module.clone()
            options = self.options
            run_pipeline(module, rom_pipeline(options.wbits, options.abits, options.calib, options.group_size,
                                              options.layer_wbits, options.smooth, options.requant_digits,
                                              options.weight_scales))
            self._rom_module = module
        return self._rom_module

    @property
    def is_decoder(self) -> bool:
        """Whether the model reads token ids: its chip is then the token-by-token step
        graph (`sequence-to-stream`), one token a frame."""
        from compiler.calibration import token_vocabularies
        from compiler.ir import main_function

        return bool(token_vocabularies(main_function(self.nn_module)))

    def vocabulary(self) -> int:
        """A language model's vocabulary: the rows of the table its token ids index."""
        from compiler.calibration import token_vocabularies
        from compiler.ir import main_function

        vocabularies = token_vocabularies(main_function(self.nn_module))
        if not vocabularies:
            raise HwcError("this model does not read token ids")
        return next(iter(vocabularies.values()))

    @property
    def spatial_module(self) -> ModuleOp:
        """The folded dataflow graph, built from a copy of `rom_module` on first use
        (of a decoder: of its step graph, the K/V caches on chip)."""
        if self._spatial_module is None:
            from compiler.pipelines import run_pipeline, spatial_pipeline, step_pipeline

            module = self.rom_module.clone()
            options = self.options
            if self.is_decoder:
                run_pipeline(module, step_pipeline())
            if options.target_tps is not None and not self.is_decoder:
                raise HwcError("--target-tps is a decoder's tokens/s; this model does not read token ids "
                               "(use --target-fps)")
            run_pipeline(module, spatial_pipeline(options.fold, options.target_fps, options.clock_mhz,
                                                  options.max_multipliers, options.target_tps,
                                                  pad=options.pad_neurons))
            self._spatial_module = module
        return self._spatial_module

    def rtl_build(self, directory: Path | None = None, simulate: bool = True, optimize: bool = False):
        """The design lowered to hardware, exported by CIRCT into `directory` (`rtl/`,
        `rom/`), linted, and (with `simulate`) built into a Verilator simulator
        (with `optimize`, one for long runs: `compiler.rtl.build_rtl`).
        Without a directory it goes to a private temporary folder, once per design."""
        from compiler.rtl import build_rtl, lower_to_hw

        if directory is not None:
            return build_rtl(lower_to_hw(self.spatial_module, self.options.rom, self.options.const_mult),
                             Path(directory), simulate=simulate, optimize=optimize)
        if self._rtl_build is None:
            import tempfile

            folder = Path(tempfile.mkdtemp(prefix="hwc-rtl-"))
            self._rtl_build = build_rtl(lower_to_hw(self.spatial_module, self.options.rom, self.options.const_mult),
                                        folder)
        return self._rtl_build

    def report(self) -> dict:
        """The design report (per layer and whole design) of the spatial level."""
        from compiler.report import build_report

        return build_report(self.spatial_module, self.options.clock_mhz)

    def executor(self, level: str):
        if level not in LEVELS:
            raise HwcError(f"level '{level}' is not available; choose one of {', '.join(LEVELS)}")
        if level not in self._executors:
            from compiler.executor import FloatExecutor, IntExecutor, SpatialExecutor

            if level == "float":
                self._executors[level] = FloatExecutor(self.nn_module)
            elif level == "int":
                self._executors[level] = IntExecutor(self.rom_module)
            elif level == "spatial":
                self._executors[level] = SpatialExecutor(self.spatial_module)
            else:
                from compiler.rtl import RtlExecutor

                self._executors[level] = RtlExecutor(self.executor("spatial"), self.rtl_build())
        return self._executors[level]

    @property
    def input_names(self) -> list[str]:
        return list(self.executor("float").input_names)

    @property
    def output_names(self) -> list[str]:
        return list(self.executor("float").output_names)

    def input_shapes(self) -> dict[str, tuple[int, ...]]:
        """The inputs' shapes in the IR (batch axis included, usually 1)."""
        return dict(self.executor("float").plan.ir_input_shapes)

    def run(self, inputs: dict[str, np.ndarray] | np.ndarray, level: str = "float",
            trace: Path | None = None) -> dict[str, np.ndarray]:
        """Run inputs (any number of samples stacked on axis 0) at `level`; at the
        `rtl` level, `trace` (a .fst or .vcd file) receives the simulation's waveform.
        A decoder runs on its chip token by token at the spatial and rtl levels
        (`run_on_chip`)."""
        if level in ("spatial", "rtl") and self.is_decoder:
            if trace is not None:
                raise HwcError("--trace: not yet for a language model's chip")
            return self.run_on_chip(inputs, level)
        executor = self.executor(level)
        if trace is not None:
            from compiler.rtl import RtlExecutor

            if level != "rtl":
                raise HwcError(f"--trace writes the waveform of the Verilator simulation: it needs --level rtl, "
                               f"not {level}")
            executor = RtlExecutor(self.executor("spatial"), self.rtl_build(), trace_file=Path(trace))
        if isinstance(inputs, np.ndarray):
            if len(executor.input_names) != 1:
                raise HwcError(
                    f"the model has {len(executor.input_names)} inputs; give them by name"
                )
            inputs = {executor.input_names[0]: inputs}
        return executor.run(inputs)

    def run_on_chip(self, inputs: dict[str, np.ndarray] | np.ndarray, level: str) -> dict[str, np.ndarray]:
        """Whole sequences of token ids ([samples, T]) through the chip one token a frame,
        from empty caches: every position's logits, as the integer level gives them."""
        name, output = self.input_names[0], self.output_names[0]
        ids = inputs if isinstance(inputs, np.ndarray) else inputs.get(name)
        if ids is None:
            raise HwcError(f"the model's input is '{name}'")
        ids = np.asarray(ids)
        if ids.dtype.kind not in "iu":
            raise HwcError(f"input '{name}': token ids must be integers, got {ids.dtype}")
        spatial = self.executor("spatial")
        rows = ids.reshape(ids.shape[0], -1)
        if level == "rtl":
            from compiler.llm_rtl import ChipSimulation

            chip = ChipSimulation(spatial, self.rtl_build())
            ints = np.stack([chip.logits([int(t) for t in row]).logits for row in rows])
        else:
            token, position = spatial.input_names
            sequences = []
            for row in rows:
                spatial.states.reset()
                sequences.append(np.stack([
                    spatial.run_int({token: np.array([[int(t)]]), position: np.array([p])})[output].reshape(-1)
                    for p, t in enumerate(row)]))
            spatial.states.reset()
            ints = np.stack(sequences)
        whole = self.executor("int")  # the whole sequence's output port: its scale and host op
        return whole.dequantize_outputs({output: ints.reshape(ints.shape[0], *whole.host.port(output).nn_shape[1:])})

    def generate(self, prompt: list[int], max_new_tokens: int, level: str = "float", context: int = 0,
                 end_token: int | None = None, progress=None) -> list[int]:
        """Greedy decoding of a causal transformer one token at a time, with its K/V
        caches (`compiler.generate`): the `max_new_tokens` ids that follow `prompt`
        (fewer if `end_token` comes first). `context` (default: the exported
        sequence length) is the caches' capacity."""
        if level not in LEVELS:
            raise HwcError(f"level '{level}' is not available; choose one of {', '.join(LEVELS)}")
        if context and level in ("spatial", "rtl"):
            raise HwcError(f"generate --level {level}: the chip's context is the exported sequence length; "
                           "--context applies to the float and int levels")
        if level == "rtl":
            return self.generate_on_chip(prompt, max_new_tokens, end_token)
        key = ("generator", level, context)
        if key not in self._executors:
            from compiler.generate import ChipGenerator, Generator

            if level == "spatial":
                self._executors[key] = ChipGenerator(self.executor("spatial"))
            else:
                module = self.nn_module if level == "float" else self.rom_module
                self._executors[key] = Generator(module, context, integer=level == "int")
        return self._executors[key].generate(prompt, max_new_tokens, end_token, progress).tokens

    def generate_on_chip(self, prompt: list[int], max_new_tokens: int, end_token: int | None = None) -> list[int]:
        """`generate` on the chip's Verilator simulation (`compiler.llm_rtl`): the chip
        generates `max_new_tokens`; the host keeps them up to `end_token`."""
        from compiler.llm_rtl import ChipSimulation

        if not self.is_decoder:
            raise HwcError("generate: this model does not read token ids")
        if max_new_tokens < 1:
            raise HwcError(f"--max-new-tokens {max_new_tokens}: must be at least 1")
        tokens = ChipSimulation(self.executor("spatial"), self.rtl_build()).generate(prompt, max_new_tokens).tokens
        if end_token is not None and end_token in tokens:
            tokens = tokens[:tokens.index(end_token) + 1]
        return tokens

    def write(self, directory: Path, emit: str = "nn") -> list[Path]:
        """Write the IR of every level up to `emit`, each beside its weights, atomically.

        `nn`: model.nn.mlir + weights.safetensors (the float weights);
        `rom`: also model.rom.mlir + rom.safetensors (the ROM image: the ROM
        contents only, as the smallest numpy integer dtype holding each width);
        `spatial`: also model.spatial.mlir + spatial.safetensors (its ROMs, some
        re-ordered for the streams) and report.json; `hw`: also model.hw.mlir
        (CIRCT hw/comb/seq, one module per PE, every weight a constant);
        `sv`: also rtl/*.sv + rtl/filelist.f exported by CIRCT and linted by
        Verilator, and rom/*.hex for `--rom memory`.
        Afterwards the modules read their weights from the written files.
        """
        if emit not in EMIT_LEVELS:
            raise HwcError(f"--emit {emit} is not available; choose one of {', '.join(EMIT_LEVELS)}")
        directory = Path(directory)
        files = [("model.nn.mlir", "weights.safetensors", self.nn_module)]
        level = EMIT_LEVELS.index(emit)
        if level >= EMIT_LEVELS.index("rom"):
            files.append(("model.rom.mlir", "rom.safetensors", self.rom_module))
        if level >= EMIT_LEVELS.index("spatial"):
            files.append(("model.spatial.mlir", "spatial.safetensors", self.spatial_module))
        extra = []
        with atomic_directory(directory) as staging:
            for ir_name, weights_name, module in files:
                _write_level(module, staging / ir_name, staging / weights_name)
            if level >= EMIT_LEVELS.index("spatial"):
                from compiler.report import write_report

                write_report(self.report(), staging / "report.json")
                extra.append(directory / "report.json")
            if level >= EMIT_LEVELS.index("hw"):
                extra += self._write_hardware(staging, directory, emit)
            if level >= EMIT_LEVELS.index("spatial"):
                from compiler.report_html import write_report_html

                extra.append(directory / write_report_html(staging, self.model.stem).name)
        for _, weights_name, module in files:
            _point_at(module, directory / weights_name)
        return [directory / name for ir_name, weights_name, _ in files for name in (ir_name, weights_name)] + extra


    def _write_hardware(self, staging: Path, directory: Path, emit: str) -> list[Path]:
        """model.hw.mlir, and for `sv` the exported rtl/ and rom/ (paths as they will be)."""
        from compiler.rtl import build_rtl, lower_to_hw

        lowering = lower_to_hw(self.spatial_module, self.options.rom, self.options.const_mult)
        if emit == "hw":
            (staging / "model.hw.mlir").write_text(str(lowering.module) + "\n")
            return [directory / "model.hw.mlir"]
        build = build_rtl(lowering, staging, simulate=False)
        (staging / "model.hw.mlir").write_text(build.hw_text + "\n")
        written = [directory / "model.hw.mlir", directory / "rtl" / "filelist.f"]
        written += [directory / path.relative_to(staging) for path in build.files]
        if (staging / "rom").is_dir():
            written += sorted(directory / "rom" / p.name for p in (staging / "rom").iterdir())
        from compiler.flows import write_flows

        return written + write_flows(self, build, staging, directory)


def check_float_inputs(module: ModuleOp) -> None:
    """HwcError (one line) when a graph input is neither float32 nor token ids an
    embedding table reads: the integer levels quantize float32 inputs and take
    token ids as they are, but not other integers or float64 yet."""
    from compiler.executor.host import port_names
    from compiler.ir import main_function

    from compiler.calibration import token_vocabularies

    function = main_function(module)
    args = function.body.block.args
    vocabularies = token_vocabularies(function)
    for name, arg in zip(port_names(function.arg_attrs, len(args), "input"), args):
        element = arg.type.get_element_type()
        if name in vocabularies:
            continue
        if not isinstance(element, AnyFloat):
            raise HwcError(f"input '{name}' holds {element} integers that no embedding table reads: only "
                           "the float level supports such inputs; use --level float (or --emit nn)")
        if element != f32:
            raise HwcError(f"input '{name}' holds {element} values: the integer levels quantize float32 "
                           "graphs only; use --level float (or --emit nn)")


def _write_level(module: ModuleOp, ir_path: Path, weights_path: Path) -> None:
    """Save the tensors `module` uses to `weights_path` and print it to `ir_path`."""
    from compiler.weights import save_store

    save_store(module, weights_path, relative_to=ir_path.parent)
    with open(ir_path, "w") as f:
        Printer(stream=f).print_op(module)
        f.write("\n")


def _point_at(module: ModuleOp, weights_path: Path) -> None:
    """Make `module` read its weights from `weights_path` (absolute, so it survives the rename)."""
    from xdsl.dialects.builtin import StringAttr

    from compiler.weights import open_store
    from dialects.nn import WEIGHT_STORE_ATTR

    module.attributes[WEIGHT_STORE_ATTR] = StringAttr(open_store(weights_path).name)


def compile(model: str | Path, options: CompileOptions | None = None, **kwargs) -> Design:
    """Import `model` (an .onnx file) and build it as far as the pipeline reaches."""
    from compiler.frontend import import_onnx
    from compiler.pipelines import FLOAT_PIPELINE, run_pipeline

    options = options or CompileOptions(**kwargs)
    options.check()
    model = Path(model)
    module = import_onnx(model, weights=options.weights, shapes=options.shapes or None)
    run_pipeline(module, FLOAT_PIPELINE)
    return Design(model=model, options=options, nn_module=module)


def load_inputs(path: Path, input_names: list[str]) -> dict[str, np.ndarray]:
    """Read `--input`: an .npz keyed by input name, or an .npy for a one-input model."""
    from compiler.boundary import load_arrays

    path = Path(path)
    kind, arrays = load_arrays(path, "--input")
    if kind == "npy":
        if len(input_names) != 1:
            raise HwcError(
                f"{path}: the model has {len(input_names)} inputs "
                f"({', '.join(input_names)}); give them in an .npz keyed by name"
            )
        return {input_names[0]: arrays}
    missing = [name for name in input_names if name not in arrays]
    extra = [name for name in arrays if name not in input_names]
    if missing or extra:
        raise HwcError(
            f"{path}: keys {sorted(arrays)} do not match the model's inputs {input_names}"
            + (f" (missing {missing})" if missing else "")
            + (f" (unknown {extra})" if extra else "")
        )
    return arrays
