"""The sliding-window unit (`spatial.swu`) in hardware.

`generate_swu(op, ctx)` builds one `hw.module` that turns an [H, W, C] pixel
stream (`L_in` lanes, `L_in | C`) into the [OH, OW, KH·KW·C] stream of its
windows in (kh, kw, c) order (`L_out` lanes, `L_out | KH·KW·C`), with strides,
dilations and asymmetric padding (a padding position reads `pad_value`). A 1-D
stream [W, C] is the 2-D case [W, 1, C] with a (KW, 1) kernel: one "row" per
pixel, which keeps the line buffer at its smallest.

Microarchitecture (`SwuGeometry` holds the numbers):

* **Line buffer**: a circular buffer of `rows` = (KH-1)·dil_h + 1 + stride_h
  image rows (W·C elements each), stored as words of one input beat. The input
  side writes beat after beat at a global counter modulo the buffer size, so a
  frame's row 0 lands wherever the previous frame ended (`frame_slot` tracks
  it); frames follow one another with no gap. The buffer is RAM (`seq.firmem`,
  one bank per read chunk of a word, combinational reads) unless it is tiny or
  a word holds a number of chunks that is no power of two (then one register
  per word): a register per word would cost a simulator an address compare
  per word every cycle (SqueezeNet's first max pool at 64x64 buffers 9,920 words).
* **Credit between the sides**: `avail` counts the pixels of the output side's
  current frame that are fully written (it goes past H·W when the input runs
  into the next frame, and drops by H·W when the output side finishes one).
  Window (oh, ow) may be emitted once `avail >= NEED[oh] + NEED_COL[ow]` (its
  last real pixel in raster order is written); the input may write pixel `avail`
  only while it does not overwrite a row that window row `oh` still reads
  (`avail < LIMIT[oh]`, LIMIT = first real row of the window row · W + rows · W).
  The `stride_h` extra rows let the input fill the next window row while the
  current one is still being emitted, so neither side waits within a frame.
  A frame's last window also waits for all H·W pixels (rows or columns that no
  window reads must be counted in before `avail` drops by H·W).
* **Output**: counters (window beat j, ow, oh); per output lane a table indexed
  by j gives its offset in the buffer relative to the window's top-left corner
  and its (kh, kw) position, whose padding bit comes from per-row/per-column
  masks of the window position. One output register stage, loaded when empty
  or when its beat leaves; `valid` is a register, `in0_ready` depends on
  registers only.

Timing when never stalled: one input beat and one output beat per cycle. Within
a frame neither side waits for the other, but at a frame boundary the next
frame's first window row needs (KH-1)·dil_h+1 rows while the input may run only
`rows` rows past the window row being emitted, so a frame takes the larger of
its input beats, its output beats and the line buffer's period
(`SWUOp.nominal_ii`, `dialects.spatial.line_buffer`); the first output beat
leaves `SWUOp.nominal_latency()` cycles after the first input beat (the `avail`
register and the output register).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from xdsl.dialects import hw

from compiler.hw.bits import unsigned_bits, width_of
from compiler.hw.builder import ModuleBuilder
from compiler.hw.context import GeneratorContext
from compiler.hw.memories import REGISTER_BANK_DEPTH
from dialects.circt import FirMemOp, FirMemReadPortOp, FirMemType, FirMemWritePortOp, address_width
from dialects.spatial import SWUOp, stream_of


@dataclass(frozen=True)
class SwuGeometry:
    """Everything about a sliding window that the hardware needs, as 2-D
    (a 1-D window is [W, 1] with kernel (KW, 1)). All tables are plain ints."""

    height: int
    width: int
    channels: int
    kernel: tuple[int, int]
    strides: tuple[int, int]
    pads: tuple[int, int, int, int]  # top, left, bottom, right
    dilations: tuple[int, int]
    lanes_in: int
    lanes_out: int

    @classmethod
    def of(cls, op: SWUOp) -> SwuGeometry:
        source, target = stream_of(op.input), stream_of(op.output)
        frame = source.frame
        kernel, strides = op.kernel.get_values(), op.strides.get_values()
        pads, dilations = op.pads.get_values(), op.dilations.get_values()
        if len(frame) == 2:  # [W, C]: rows of one pixel each
            return cls(frame[0], 1, frame[1], (kernel[0], 1), (strides[0], 1),
                       (pads[0], 0, pads[1], 0), (dilations[0], 1),
                       source.lanes.data, target.lanes.data)
        if len(frame) != 3:
            raise ValueError(f"spatial.swu: {len(frame) - 1}-D windows are not supported in hardware")
        return cls(frame[0], frame[1], frame[2], (kernel[0], kernel[1]), (strides[0], strides[1]),
                   (pads[0], pads[1], pads[2], pads[3]), (dilations[0], dilations[1]),
                   source.lanes.data, target.lanes.data)

    # ------------------------------------------------------------------ sizes

    @property
    def out_height(self) -> int:
        span = (self.kernel[0] - 1) * self.dilations[0] + 1
        return (self.height + self.pads[0] + self.pads[2] - span) // self.strides[0] + 1

    @property
    def out_width(self) -> int:
        span = (self.kernel[1] - 1) * self.dilations[1] + 1
        return (self.width + self.pads[1] + self.pads[3] - span) // self.strides[1] + 1

    @property
    def window_elements(self) -> int:
        return self.kernel[0] * self.kernel[1] * self.channels

    @property
    def beats_per_pixel(self) -> int:
        return self.channels // self.lanes_in

    @property
    def beats_per_window(self) -> int:
        return self.window_elements // self.lanes_out

    @property
    def buffer_rows(self) -> int:
        """Rows of the line buffer: the window's row span plus one stride."""
        return (self.kernel[0] - 1) * self.dilations[0] + 1 + self.strides[0]

    @property
    def buffer_words(self) -> int:
        return self.buffer_rows * self.width * self.beats_per_pixel

    @property
    def buffer_elements(self) -> int:
        return self.buffer_rows * self.width * self.channels

    @property
    def frame_pixels(self) -> int:
        return self.height * self.width

    # ------------------------------------------------------------------ per window row / column

    def _first_row(self, oh: int) -> int:
        return oh * self.strides[0] - self.pads[0]

    def _first_col(self, ow: int) -> int:
        return ow * self.strides[1] - self.pads[1]

    def need_row(self) -> list[int]:
        """Per oh: W · (the last real input row the window row reads, clamped)."""
        last = [self._first_row(oh) + (self.kernel[0] - 1) * self.dilations[0]
                for oh in range(self.out_height)]
        return [min(max(r, 0), self.height - 1) * self.width for r in last]

    def need_col(self) -> list[int]:
        """Per ow: 1 + the last real input column the window reads (clamped)."""
        last = [self._first_col(ow) + (self.kernel[1] - 1) * self.dilations[1]
                for ow in range(self.out_width)]
        return [min(max(c, 0), self.width - 1) + 1 for c in last]

    def write_limit(self) -> list[int]:
        """Per oh: the input may write pixel p (of the output side's frame) while
        p < this (it then overwrites only rows above the window row's first)."""
        return [max(self._first_row(oh), 0) * self.width + self.buffer_rows * self.width
                for oh in range(self.out_height)]

    def row_slot(self) -> list[int]:
        """Per oh: (first row of the window row) modulo the buffer rows."""
        return [self._first_row(oh) % self.buffer_rows for oh in range(self.out_height)]

    def col_base(self) -> list[int]:
        """Per ow: (first column · C) modulo the buffer elements."""
        return [(self._first_col(ow) * self.channels) % self.buffer_elements
                for ow in range(self.out_width)]

    def row_real_mask(self) -> list[int]:
        """Per oh: bit kh set when window row kh lies inside the image."""
        return [sum(1 << kh for kh in range(self.kernel[0])
                    if 0 <= self._first_row(oh) + kh * self.dilations[0] < self.height)
                for oh in range(self.out_height)]

    def col_real_mask(self) -> list[int]:
        """Per ow: bit kw set when window column kw lies inside the image."""
        return [sum(1 << kw for kw in range(self.kernel[1])
                    if 0 <= self._first_col(ow) + kw * self.dilations[1] < self.width)
                for ow in range(self.out_width)]

    # ------------------------------------------------------------------ per output lane

    def lane_position(self, beat: int, lane: int) -> tuple[int, int, int]:
        """(kh, kw, c) of lane `lane` of window beat `beat`."""
        element = beat * self.lanes_out + lane
        position, c = divmod(element, self.channels)
        kh, kw = divmod(position, self.kernel[1])
        return kh, kw, c

    def lane_offset(self, beat: int, lane: int) -> int:
        """The lane's element offset in the buffer from the window's top-left corner."""
        kh, kw, c = self.lane_position(beat, lane)
        return (kh * self.dilations[0] * self.width + kw * self.dilations[1]) * self.channels + c


def generate_swu(op: SWUOp, ctx: GeneratorContext) -> hw.HWModuleOp:
    """The `hw.module` named `ctx.module_name` realising `op` (see the module doc).

    Requires: `op` verifies (lanes divide C on input and KH·KW·C on output).
    Guarantees: ports in the project's order (`in0`, `out0`); output beats are
    exactly the windows of every input frame, frames back to back."""
    geometry = SwuGeometry.of(op)
    width = stream_of(op.input).width
    return _SwuBuilder(ctx.module_name, geometry, width, op.pad_value.value.data).build()


class _SwuBuilder:
    """Writes the SWU's hardware, one concern per method."""

    def __init__(self, name: str, geometry: SwuGeometry, width: int, pad_value: int):
        self.g = geometry
        self.width = width
        self.pad_value = pad_value
        self.b = ModuleBuilder(name)
        self.source = self.b.stream_input("in0", width, geometry.lanes_in)
        self.sink = self.b.stream_output("out0", width, geometry.lanes_out)
        self.avail_bits = unsigned_bits(geometry.frame_pixels + geometry.buffer_rows * geometry.width + 2)
        self.address_bits = unsigned_bits(2 * geometry.buffer_elements)
        self.slot_bits = unsigned_bits(2 * geometry.buffer_rows)

    def build(self) -> hw.HWModuleOp:
        b, g = self.b, self.g
        avail = b.reg("avail", self.avail_bits, reset_value=0)
        frame_slot = b.reg("frame_slot", self.slot_bits, reset_value=0)
        out_valid = b.reg("out_valid", 1, reset_value=0)
        out_data = b.reg("out_data", self.sink.beat_width)

        # Output side: may the current window beat be loaded into the output register?
        load_enable = b.or_(b.not_(out_valid.value), self.sink.ready)
        beat_index = self._counter("win_beat", g.beats_per_window)
        ow = self._counter("win_col", g.out_width)
        oh = self._counter("win_row", g.out_height)
        last_window = b.and_(self._last(ow, g.out_width), self._last(oh, g.out_height))
        need = b.mux(
            last_window,  # a frame ends only when all its pixels are in (some may be unread)
            b.const(g.frame_pixels, self.avail_bits),
            b.add(b.rom_lookup(g.need_row(), self.avail_bits, _value(oh), "need_row"),
                  b.rom_lookup(g.need_col(), self.avail_bits, _value(ow), "need_col"),
                  width=self.avail_bits, signed=False))
        ready_window = b.not_(b.ult(avail.value, need))
        load = b.and_(load_enable, ready_window)
        frame_done = self._advance_window(load, beat_index, ow, oh)

        # Input side.
        limit = b.rom_lookup(g.write_limit(), self.avail_bits, _value(oh), "write_limit")
        in_ready = b.ult(avail.value, limit)
        self.source.set_ready(in_ready)
        accept = b.and_(self.source.valid, in_ready)
        read, pixel_done = self._line_buffer(accept)

        # Credit: pixels written of the output side's frame.
        grown = b.add(avail.value, b.zext(pixel_done, self.avail_bits), width=self.avail_bits, signed=False)
        shrunk = b.sub(grown, b.const(g.frame_pixels, self.avail_bits), width=self.avail_bits, signed=False)
        avail.set_next(b.mux(frame_done, shrunk, grown))
        next_frame_slot = self._mod_add(frame_slot.value, b.const(g.height % g.buffer_rows, self.slot_bits),
                                        g.buffer_rows, self.slot_bits)
        frame_slot.set_next(next_frame_slot, enable=frame_done)

        beat = self._window_beat(read, frame_slot.value, _value(beat_index), _value(ow), _value(oh))
        out_data.set_next(beat, enable=load)
        out_valid.set_next(b.or_(load, b.and_(out_valid.value, b.not_(self.sink.ready))))
        self.sink.set(out_data.value, out_valid.value)
        return b.finish()

    # ------------------------------------------------------------------ control

    def _advance_window(self, load, beat_index, ow, oh):
        """Step (beat, ow, oh) on every loaded beat; returns `frame_done` (the
        frame's last beat loads now)."""
        b, g = self.b, self.g
        beat_last = self._step(beat_index, g.beats_per_window, load)
        ow_last = self._step(ow, g.out_width, b.and_(load, beat_last))
        oh_last = self._step(oh, g.out_height, b.and_(load, beat_last, ow_last))
        return b.and_(load, beat_last, ow_last, oh_last)

    def _counter(self, name: str, count: int):
        """A counter register 0..count-1 (reset to 0), or None when count is 1
        (a constant 0 needs no register)."""
        return self.b.reg(name, unsigned_bits(count), reset_value=0) if count > 1 else None

    def _last(self, register, count: int):
        """High while the counter holds count-1."""
        if register is None:
            return self.b.true()
        return self.b.eq(register.value, self.b.const(count - 1, register.width))

    def _step(self, register, count: int, enable):
        """Connect counter `register` (see `_counter`) to advance on `enable`,
        wrapping after count-1; returns its `last` bit."""
        b = self.b
        last = self._last(register, count)
        if register is None:
            return last
        bits = register.width
        incremented = b.add(register.value, b.const(1, bits), width=bits, signed=False)
        register.set_next(b.mux(last, b.const(0, bits), incremented), enable=enable)
        return last

    def _mod_add(self, value, addend, modulus: int, bits: int):
        """(value + addend) mod modulus for value, addend < modulus, at `bits` bits."""
        b = self.b
        total = b.add(value, addend, width=bits, signed=False)
        return self._reduce(total, modulus, bits)

    def _reduce(self, value, modulus: int, bits: int):
        """value - modulus if value >= modulus, else value (value < 2·modulus)."""
        b = self.b
        modulus_c = b.const(modulus, bits)
        return b.mux(b.ult(value, modulus_c), value, b.sub(value, modulus_c, width=bits, signed=False))

    # ------------------------------------------------------------------ the line buffer

    def _line_buffer(self, accept):
        """The buffer, written beat after beat at a running address on `accept`.
        Returns (read, pixel_done): `read(address)` is the buffer's chunk (see
        `_window_beat`) at chunk index `address`, read combinationally; pixel_done
        is high when the accepted beat completes a pixel."""
        b, g = self.b, self.g
        address = self._counter("write_address", g.buffer_words)
        self._step(address, g.buffer_words, accept)
        channel_beat = self._counter("write_channel_beat", g.beats_per_pixel)
        pixel_last = self._step(channel_beat, g.beats_per_pixel, accept)
        if self._buffer_in_memory():
            read = self._memory_banks(accept, _value(address))
        else:
            read = self._register_words(accept, _value(address))
        return read, b.and_(accept, pixel_last)

    def _chunk(self) -> int:
        """Elements per read: gcd(L_in, L_out) (see `_window_beat`)."""
        return math.gcd(self.g.lanes_in, self.g.lanes_out)

    def _buffer_in_memory(self) -> bool:
        """The buffer is `seq.firmem` RAM when it holds more than
        `REGISTER_BANK_DEPTH` words and an input word holds a power-of-two number
        of chunks (a chunk's word and bank are then bits of its index)."""
        pieces = self.g.lanes_in // self._chunk()
        return self.g.buffer_words > REGISTER_BANK_DEPTH and pieces & (pieces - 1) == 0

    def _memory_banks(self, accept, address):
        """One RAM per chunk of an input word (bank k holds chunk k of every word),
        written at `address` on `accept`, each read combinationally (read latency 0:
        a read sees the words as they were before this clock edge, like the
        registers of `_register_words`). A simulator writes one word a cycle
        instead of testing every register's address, and synthesis maps it to
        LUT-RAM; the values read are the same on every cycle."""
        b, g = self.b, self.g
        pieces = g.lanes_in // self._chunk()
        select_bits = (pieces - 1).bit_length()
        word_bits = address_width(g.buffer_words)
        write_address = b.zext(address, word_bits)  # a counter: more than one word
        banks = []
        for bank, data in enumerate(b.unpack(self.source.data, pieces)):
            name = f"{b.name}_line" + (f"_{bank}" if pieces > 1 else "")
            memory = b._add(FirMemOp(FirMemType(g.buffer_words, width_of(data)), read_latency=0, name=name), name)
            b.block.add_op(FirMemWritePortOp(memory, write_address, data, b.clock, accept))
            banks.append(memory)

        def read(chunk_index):
            word = b.zext(b.extract(chunk_index, select_bits, width_of(chunk_index) - select_bits), word_bits)
            words = [b._add(FirMemReadPortOp(memory, word, b.clock, b.true())) for memory in banks]
            return b.pick(words, b.extract(chunk_index, 0, select_bits)) if pieces > 1 else words[0]

        return read

    def _register_words(self, accept, address):
        """The buffer as one register per word, `line_<i>` loaded when `address`
        is i on `accept`, read through one multiplexer over every chunk."""
        b, g = self.b, self.g
        word_bits = unsigned_bits(g.buffer_words)
        words = []
        for index in range(g.buffer_words):
            word = b.reg(f"line_{index}", self.source.beat_width)
            hit = accept if address is None else b.and_(accept, b.eq(address, b.const(index, word_bits)))
            word.set_next(self.source.data, enable=hit)
            words.append(word.value)
        chunks = [piece for word in words for piece in b.unpack(word, g.lanes_in // self._chunk())]
        if len(chunks) == 1:
            return lambda chunk_index: chunks[0]
        buffer = _array_create(b, chunks)
        return lambda chunk_index: b.array_get(buffer, chunk_index)

    # ------------------------------------------------------------------ the window beat

    def _window_beat(self, read, frame_slot, beat_index, ow, oh):
        """The current window beat, lanes packed (padding lanes hold pad_value).

        The buffer is read in chunks of `chunk` = gcd(L_in, L_out) elements: a
        window's base address is a multiple of C and every chunk of output lanes
        starts at a channel that is a multiple of `chunk` (which divides C), so it
        lies in one input word, aligned. One read per chunk over
        buffer_elements / chunk entries replaces one per lane over every element
        (L_out · buffer_elements cases would make a big, slow-to-compile design)."""
        b, g = self.b, self.g
        chunk = self._chunk()
        chunk_count = g.buffer_elements // chunk

        bits = self.address_bits
        row_slot = b.rom_lookup(g.row_slot(), self.slot_bits, oh, "row_slot")
        window_slot = self._mod_add(frame_slot, row_slot, g.buffer_rows, self.slot_bits)
        row_start = b.mul_const(b.zext(window_slot, bits), g.width * g.channels // chunk, bits)
        col_base = b.rom_lookup([c // chunk for c in g.col_base()], bits, ow, "col_base")
        base = self._reduce(b.add(row_start, col_base, width=bits, signed=False), chunk_count, bits)

        real = self._real_positions(ow, oh)
        pad = b.pack([b.const(self.pad_value, self.width)] * chunk)
        pieces = []
        for first_lane in range(0, g.lanes_out, chunk):
            positions = [g.lane_position(j, first_lane) for j in range(g.beats_per_window)]
            offsets = [g.lane_offset(j, first_lane) // chunk for j in range(g.beats_per_window)]
            offset = b.rom_lookup(offsets, bits, beat_index, f"offset_{first_lane}")
            address = self._reduce(b.add(base, offset, width=bits, signed=False), chunk_count, bits)
            selected = read(address)
            kernel_index = [kh * g.kernel[1] + kw for kh, kw, _ in positions]
            is_real = self._select_bit(real, kernel_index, beat_index)
            pieces.append(b.mux(is_real, selected, pad))
        return b.pack(pieces)

    def _real_positions(self, ow, oh):
        """One bit per kernel position (kh·KW + kw): inside the image."""
        b, g = self.b, self.g
        row_mask = b.rom_lookup(g.row_real_mask(), g.kernel[0], oh, "row_real")
        col_mask = b.rom_lookup(g.col_real_mask(), g.kernel[1], ow, "col_real")
        return [b.and_(b.extract(row_mask, kh, 1), b.extract(col_mask, kw, 1))
                for kh in range(g.kernel[0]) for kw in range(g.kernel[1])]

    def _select_bit(self, bits, indices: list[int], beat_index):
        """bits[indices[beat_index]]: a constant choice when every beat agrees."""
        b = self.b
        distinct = sorted(set(indices))
        if len(distinct) == 1:
            return bits[distinct[0]]
        which = b.rom_lookup([distinct.index(i) for i in indices], unsigned_bits(len(distinct)), beat_index)
        return b.pick([bits[i] for i in distinct], which)


def _value(register):
    """A counter's value, or None for a one-value counter (tables then have one entry)."""
    return register.value if register is not None else None


def _array_create(b: ModuleBuilder, elements):
    """`hw.array_create` whose element i is elements[i] (CIRCT lists the highest
    index first), made once and indexed by every lane (the builder's `pick`
    would make one array per lookup)."""
    return b._add(hw.ArrayCreateOp(*reversed(list(elements))))
