package dev.braid.internal.wire;

import dev.braid.ProtocolException;
import dev.braid.buffer.BufferPool;
import dev.braid.buffer.PooledBuffer;
import dev.braid.internal.wire.WireTesting.Chunking;
import dev.braid.internal.wire.WireTesting.CollectingSink;
import dev.braid.internal.wire.WireTesting.FrameSpec;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.RandomDistribution;
import net.jqwik.api.Tuple;
import net.jqwik.api.statistics.Statistics;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.SplittableRandom;

import static dev.braid.internal.wire.FrameHeader.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

/**
 * Properties of {@link FrameDecoder} driven the way a backend drives it: reads of random sizes into
 * {@link FrameDecoder#inboundBuffer()}, each followed by {@link FrameDecoder#decode}.
 */
class FrameDecoderPropertyTest {
    /** Small enough that "the pool never allocates more than max + read buffer" means something. */
    private static final int MAX = 1 << 20;
    /** Stream packets are at most ~256 KiB; go a little beyond so that frames span several size classes. */
    private static final int MAX_PAYLOAD = 300_000;

    /** jqwik's default biases numbers and sizes towards small ones; frame sizes should spread evenly. */
    private static final RandomDistribution UNIFORM = RandomDistribution.uniform();

    private static final int[][] LEGAL_TYPE_STATUS = {
            {TYPE_CALL, STATUS_OK},
            {TYPE_REPLY, STATUS_OK}, {TYPE_REPLY, STATUS_ERROR},
            {TYPE_MESSAGE, STATUS_OK},
            {TYPE_STREAM, STATUS_OK}, {TYPE_STREAM, STATUS_ERROR}, {TYPE_STREAM, STATUS_CONTINUE},
            {TYPE_STREAM_HOLE, STATUS_CONTINUE}};

    // ------------------------------------------------------------------ (a) valid frames round-trip

    @Property(tries = 400)
    void validFramesComeOutIdenticalAndInOrder(@ForAll("frameLists") final List<FrameSpec> specs,
                                               @ForAll("readBufferSizes") final int readBufferSize,
                                               @ForAll("chunkings") final Chunking chunking) {
        final BufferPool pool = new BufferPool();
        final List<byte[]> wire = new ArrayList<>();
        for (FrameSpec f : specs) {
            wire.add(f.encode(pool));
        }
        final FrameDecoder d = new FrameDecoder(pool, MAX, readBufferSize);
        final ByteBuffer readBuffer = d.inboundBuffer();
        final boolean[] usedDirectPath = new boolean[1];
        final CollectingSink sink = new CollectingSink();
        try {
            WireTesting.feed(d, WireTesting.concat(wire), chunking.sizes(), sink, () -> {
                if (d.inboundBuffer() != readBuffer) {
                    usedDirectPath[0] = true;
                }
            });
            assertThat(d.hasPartialFrame()).isFalse();
            assertThat(d.partialBytes()).isZero();
        } finally {
            d.close();
        }

        assertThat(sink.frames).as("frames decoded").hasSize(specs.size());
        for (int i = 0; i < specs.size(); i++) {
            final FrameSpec expected = specs.get(i);
            final byte[] actual = sink.frames.get(i);
            final ByteBuffer h = ByteBuffer.wrap(actual);
            assertThat(h.getInt(LENGTH_OFFSET)).as("frame %d length", i).isEqualTo(expected.length());
            assertThat(h.getInt(PROG_OFFSET)).as("frame %d prog", i).isEqualTo(expected.prog());
            assertThat(h.getInt(VERS_OFFSET)).as("frame %d vers", i).isEqualTo(expected.vers());
            assertThat(h.getInt(PROC_OFFSET)).as("frame %d proc", i).isEqualTo(expected.proc());
            assertThat(h.getInt(TYPE_OFFSET)).as("frame %d type", i).isEqualTo(expected.type());
            assertThat(h.getInt(SERIAL_OFFSET)).as("frame %d serial", i).isEqualTo(expected.serial());
            assertThat(h.getInt(STATUS_OFFSET)).as("frame %d status", i).isEqualTo(expected.status());
            WireTesting.assertSameBytes(Arrays.copyOfRange(actual, PAYLOAD_OFFSET, actual.length), expected.payload());
        }
        assertThat(pool.outstanding()).as("pooled buffers outstanding").isZero();

        final int readCapacity = readBuffer.capacity();
        Statistics.label("path").collect(usedDirectPath[0] ? "some frame filled directly" : "gathered only");
        final long total = wire.stream().mapToLong(w -> w.length).sum();
        Statistics.label("bytes per try").collect(total < 10_000 ? "< 10 KB" : total < 300_000 ? "10-300 KB" : ">= 300 KB");
        Statistics.label("largest frame vs read buffer").collect(
                specs.stream().anyMatch(f -> f.length() > readCapacity / 2) ? "> half" : "<= half");
        Statistics.label("path").coverage(c -> c.check("some frame filled directly").percentage(p -> p >= 10));
        Statistics.label("path").coverage(c -> c.check("gathered only").percentage(p -> p >= 10));
    }

    // ------------------------------------------------------------------ (b) garbage in: ProtocolException or frames, nothing else

    @Property(tries = 1000)
    void arbitraryBytesDecodeOrFailWithProtocolExceptionOnly(@ForAll("fuzzInputs") final FuzzInput input,
                                                            @ForAll("readBufferSizes") final int readBufferSize,
                                                            @ForAll("chunkings") final Chunking chunking) {
        final BufferPool pool = warmPool(readBufferSize);
        final long allocatedBefore = pool.allocatedBytes();
        final String outcome = assertTimeoutPreemptively(Duration.ofSeconds(20), () -> {
            final FrameDecoder d = new FrameDecoder(pool, MAX, readBufferSize);
            final int readCapacity = d.inboundBuffer().capacity();
            final int[] frames = new int[1];
            final FrameDecoder.FrameSink sink = frame -> {
                try {
                    final ByteBuffer b = frame.byteBuffer();
                    final int length = b.getInt(LENGTH_OFFSET);
                    assertThat(length).isBetween(HEADER_LENGTH, MAX);
                    assertThat(b.position()).isZero();
                    assertThat(b.limit()).isEqualTo(length);
                    FrameDecoder.checkHeader(b, 0, length); // a delivered frame has a legal header
                    frames[0]++;
                } finally {
                    frame.release();
                }
                return true;
            };
            final Runnable invariants = () -> {
                // the sink releases every frame, so the decoder holds its read buffer and at most one partial frame
                final long out = pool.outstanding();
                if (out < 1 || out > 2) {
                    throw new AssertionError("decoder holds " + out + " buffers");
                }
                final ByteBuffer in = d.inboundBuffer();
                if (in.capacity() != readCapacity && (in.capacity() > MAX || in.limit() > MAX)) {
                    throw new AssertionError("a frame buffer of " + in.capacity() + " bytes for max " + MAX);
                }
                final long grown = pool.allocatedBytes() - allocatedBefore;
                if (grown > (long) MAX + readBufferSize) {
                    throw new AssertionError("pool grew by " + grown + " bytes, more than max message " + MAX
                            + " + read buffer " + readBufferSize);
                }
            };
            String result;
            try {
                WireTesting.feed(d, input.bytes(), chunking.sizes(), sink, invariants);
                result = "accepted";
            } catch (ProtocolException e) {
                assertThat(e.getMessage()).isNotBlank();
                result = "ProtocolException";
            } finally {
                d.close();
            }
            return result + (frames[0] > 0 ? " after frames" : "");
        });
        assertThat(pool.outstanding()).as("pooled buffers outstanding").isZero();
        Statistics.label("outcome").collect(outcome);
        Statistics.label("input").collect(input.kind());
    }

    /**
     * A pool that has already lent and taken back a buffer of every size class up to {@link #MAX} (and a
     * second one of the read buffer's class), as a pool in service has. Without this, the buffers that the
     * pool keeps for reuse after each release would count in allocatedBytes, and a few frames of different
     * size classes would add up past the bound although the decoder never held more than one at a time.
     */
    private static BufferPool warmPool(final int readBufferSize) {
        final BufferPool pool = new BufferPool();
        final List<PooledBuffer> held = new ArrayList<>();
        for (int size = 512; size <= MAX; size <<= 1) {
            held.add(pool.acquire(size));
        }
        held.add(pool.acquire(readBufferSize));
        held.forEach(PooledBuffer::release);
        return pool;
    }

    /** Input bytes and how they were made (printed instead of the bytes when a property fails). */
    record FuzzInput(String kind, String how, byte[] bytes) {
        @Override
        public String toString() {
            return how + ", " + bytes.length + " bytes: "
                    + HexFormat.of().formatHex(bytes, 0, Math.min(bytes.length, 96))
                    + (bytes.length > 96 ? "..." : "");
        }
    }

    // ------------------------------------------------------------------ generators

    @Provide
    Arbitrary<List<FrameSpec>> frameLists() {
        return validFrames().list().ofMinSize(1).ofMaxSize(8).withSizeDistribution(UNIFORM);
    }

    static Arbitrary<FrameSpec> validFrames() {
        final List<Tuple.Tuple2<Integer, Arbitrary<Integer>>> lengths = List.of(
                Tuple.of(50, Arbitraries.integers().between(0, 600).withDistribution(UNIFORM)),
                Tuple.of(25, Arbitraries.integers().between(600, 40_000).withDistribution(UNIFORM)),
                Tuple.of(25, Arbitraries.integers().between(40_000, MAX_PAYLOAD).withDistribution(UNIFORM)));
        final Arbitrary<Integer> payloadLength = Arbitraries.frequencyOf(lengths);
        final Arbitrary<Integer> any = Arbitraries.integers();
        return Combinators.combine(Arbitraries.of(LEGAL_TYPE_STATUS), any, any, any, any, payloadLength,
                Arbitraries.longs()).as((ts, prog, vers, proc, serial, length, seed) -> {
                    final int type = ts[0];
                    final byte[] payload = WireTesting.randomBytes(seed, type == TYPE_STREAM_HOLE ? 12 : length);
                    return new FrameSpec(prog, vers, proc, type, type == TYPE_MESSAGE ? 0 : serial, ts[1], payload);
                });
    }

    @Provide
    Arbitrary<Integer> readBufferSizes() {
        // the pool rounds these up to 512, 8192, 32768 and 131072 bytes
        return Arbitraries.of(56, 4096, 32_768, 131_072);
    }

    @Provide
    Arbitrary<Chunking> chunkings() {
        return Combinators.combine(Arbitraries.of(1, 3, 28, 100, 1460, 8192, 65_536, Integer.MAX_VALUE),
                Arbitraries.longs()).as(Chunking::new);
    }

    @Provide
    Arbitrary<FuzzInput> fuzzInputs() {
        final Arbitrary<FuzzInput> random = Combinators.combine(Arbitraries.integers().between(0, 4096),
                Arbitraries.longs()).as((n, seed) ->
                new FuzzInput("random", "random bytes (seed " + seed + ")", WireTesting.randomBytes(seed, n)));
        final Arbitrary<FuzzInput> franken = frankenHeaders().list().ofMinSize(1).ofMaxSize(6).map(parts ->
                new FuzzInput("plausible headers", "headers of random fields", WireTesting.concat(parts)));
        final Arbitrary<FuzzInput> mutated = Combinators.combine(validFrames().list().ofMinSize(1).ofMaxSize(4),
                mutations().list().ofMinSize(1).ofMaxSize(6)).as(FrameDecoderPropertyTest::mutate);
        final List<Tuple.Tuple2<Integer, Arbitrary<FuzzInput>>> kinds = List.of(
                Tuple.of(2, random), Tuple.of(3, franken), Tuple.of(5, mutated));
        return Arbitraries.frequencyOf(kinds);
    }

    /** A header whose fields are drawn near the legal values, followed by up to 2000 random bytes. */
    private static Arbitrary<byte[]> frankenHeaders() {
        final List<Tuple.Tuple2<Integer, Arbitrary<Integer>>> lengthWords = List.of(
                Tuple.of(4, Arbitraries.just(-1)), // meaning: the true length of this part
                Tuple.of(2, Arbitraries.integers().between(0, 2 * MAX)),
                Tuple.of(1, Arbitraries.of(0, 27, 28, 29, 40, MAX, MAX + 1, Integer.MAX_VALUE, Integer.MIN_VALUE)));
        return Combinators.combine(Arbitraries.frequencyOf(lengthWords), Arbitraries.integers().between(-1, 8),
                Arbitraries.integers().between(-1, 3), Arbitraries.of(0, 1, -1, 0x99),
                Arbitraries.integers().between(0, 2000), Arbitraries.longs()).as((len, type, status, serial, n, seed) -> {
                    final ByteBuffer b = ByteBuffer.allocate(HEADER_LENGTH + n);
                    Frames.writeHeader(b, len == -1 ? HEADER_LENGTH + n : len, 0x20008086, 1, 1, type, serial, status);
                    b.put(HEADER_LENGTH, WireTesting.randomBytes(seed, n));
                    return b.array();
                });
    }

    enum MutationKind { FLIP_BYTE, SET_HEADER_WORD, SET_ANY_WORD, TRUNCATE, INSERT, DELETE }

    record Mutation(MutationKind kind, double where, int value, long seed) {
    }

    private static Arbitrary<Mutation> mutations() {
        final Arbitrary<Integer> interesting = Arbitraries.oneOf(List.of(
                Arbitraries.of(0, 1, 2, 3, 4, 5, 6, 7, -1, 27, 28, 29, 40, MAX - 1, MAX, MAX + 1, Integer.MAX_VALUE,
                        Integer.MIN_VALUE),
                Arbitraries.integers()));
        return Combinators.combine(Arbitraries.of(MutationKind.class), Arbitraries.doubles().between(0, 1),
                interesting, Arbitraries.longs()).as(Mutation::new);
    }

    private static FuzzInput mutate(final List<FrameSpec> specs, final List<Mutation> mutations) {
        final BufferPool scratch = new BufferPool();
        final List<byte[]> parts = new ArrayList<>();
        final List<Integer> starts = new ArrayList<>();
        int offset = 0;
        for (FrameSpec f : specs) {
            final byte[] w = f.encode(scratch);
            starts.add(offset);
            offset += w.length;
            parts.add(w);
        }
        byte[] b = WireTesting.concat(parts);
        final StringBuilder how = new StringBuilder(specs.toString()).append(" then");
        for (Mutation m : mutations) {
            final SplittableRandom r = new SplittableRandom(m.seed());
            final int pos = (int) (m.where() * b.length);
            switch (m.kind()) {
                case FLIP_BYTE -> {
                    if (b.length > 0) {
                        final int p = Math.min(pos, b.length - 1);
                        b[p] ^= (byte) (m.value() | 1);
                        how.append(" flip@").append(p);
                    }
                }
                case SET_HEADER_WORD -> {
                    final int start = starts.get(Math.floorMod(m.value() ^ (int) m.seed(), starts.size()));
                    final int p = start + 4 * r.nextInt(7);
                    if (p + 4 <= b.length) {
                        ByteBuffer.wrap(b).putInt(p, m.value());
                        how.append(" word@").append(p).append('=').append(m.value());
                    }
                }
                case SET_ANY_WORD -> {
                    if (b.length >= 4) {
                        final int p = Math.min(pos, b.length - 4);
                        ByteBuffer.wrap(b).putInt(p, m.value());
                        how.append(" word@").append(p).append('=').append(m.value());
                    }
                }
                case TRUNCATE -> {
                    b = Arrays.copyOf(b, pos);
                    how.append(" truncate@").append(pos);
                }
                case INSERT -> {
                    final byte[] ins = WireTesting.randomBytes(m.seed(), r.nextInt(1, 64));
                    final byte[] nb = new byte[b.length + ins.length];
                    System.arraycopy(b, 0, nb, 0, pos);
                    System.arraycopy(ins, 0, nb, pos, ins.length);
                    System.arraycopy(b, pos, nb, pos + ins.length, b.length - pos);
                    b = nb;
                    how.append(" insert@").append(pos).append('+').append(ins.length);
                }
                case DELETE -> {
                    final int n = Math.min(b.length - pos, r.nextInt(1, 64));
                    final byte[] nb = new byte[b.length - n];
                    System.arraycopy(b, 0, nb, 0, pos);
                    System.arraycopy(b, pos + n, nb, pos, b.length - pos - n);
                    b = nb;
                    how.append(" delete@").append(pos).append('-').append(n);
                }
            }
        }
        if (scratch.outstanding() != 0) {
            throw new AssertionError("encoding leaked: " + scratch);
        }
        return new FuzzInput("mutated frames", how.toString(), b);
    }
}
