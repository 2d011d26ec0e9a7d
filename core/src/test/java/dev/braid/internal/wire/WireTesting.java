package dev.braid.internal.wire;

import dev.braid.buffer.BufferPool;
import dev.braid.buffer.PooledBuffer;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.IntSupplier;

import static dev.braid.internal.wire.FrameHeader.*;
import static org.assertj.core.api.Assertions.assertThat;

/** Shared helpers for the wire tests: hex literals, frame specs, and a simulated backend read loop. */
final class WireTesting {
    private WireTesting() {
    }

    /** Bytes from hex words such as {@code "00 00 00 1c"}; whitespace is ignored. */
    static byte[] hex(final String... words) {
        return HexFormat.of().parseHex(String.join("", words).replaceAll("\\s+", ""));
    }

    /** Compares byte arrays without printing them whole (frames can be hundreds of KB). */
    static void assertSameBytes(final byte[] actual, final byte[] expected) {
        final int mismatch = Arrays.mismatch(actual, expected);
        if (mismatch >= 0) {
            throw new AssertionError("bytes differ at offset " + mismatch + " (actual " + actual.length
                    + " bytes, expected " + expected.length + ")");
        }
    }

    static String toHex(final byte[] b) {
        final StringBuilder sb = new StringBuilder();
        for (int i = 0; i < b.length; i += 4) {
            sb.append(String.format("%4d: ", i))
                    .append(HexFormat.ofDelimiter(" ").formatHex(b, i, Math.min(b.length, i + 4))).append('\n');
        }
        return sb.toString();
    }

    /** The bytes between position 0 and the limit of {@code frame}, copied. Does not release it. */
    static byte[] bytesOf(final PooledBuffer frame) {
        final ByteBuffer b = frame.byteBuffer();
        final byte[] out = new byte[b.limit()];
        b.get(0, out);
        return out;
    }

    /** One frame to encode: header fields and payload. */
    record FrameSpec(int prog, int vers, int proc, int type, int serial, int status, byte[] payload) {

        int length() {
            return HEADER_LENGTH + payload.length;
        }

        /** Encodes with claim / commit and returns the wire bytes; the pooled buffer is released. */
        byte[] encode(final BufferPool pool) {
            final PooledBuffer b = Frames.claim(pool, payload.length);
            try {
                b.byteBuffer().put(payload);
                Frames.commit(b, prog, vers, proc, type, serial, status);
                return bytesOf(b);
            } finally {
                b.release();
            }
        }

        @Override
        public boolean equals(final Object o) {
            return o instanceof FrameSpec f && prog == f.prog && vers == f.vers && proc == f.proc
                    && type == f.type && serial == f.serial && status == f.status && Arrays.equals(payload, f.payload);
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(payload) * 31 + serial;
        }

        @Override
        public String toString() { // payloads can be 300 KB: never print them
            return typeName(type) + "/" + statusName(status) + " prog 0x" + Integer.toHexString(prog) + " vers "
                    + vers + " proc " + proc + " serial " + Integer.toUnsignedString(serial) + " payload "
                    + payload.length + " bytes";
        }
    }

    /** Deterministic pseudo-random bytes, so that generators can shrink a seed and a length instead of an array. */
    static byte[] randomBytes(final long seed, final int length) {
        final byte[] b = new byte[length];
        final SplittableRandom r = new SplittableRandom(seed);
        for (int i = 0; i < length; i += 8) {
            long v = r.nextLong();
            for (int j = i; j < Math.min(length, i + 8); j++) {
                b[j] = (byte) v;
                v >>>= 8;
            }
        }
        return b;
    }

    static byte[] concat(final List<byte[]> parts) {
        int n = 0;
        for (byte[] p : parts) {
            n += p.length;
        }
        final byte[] out = new byte[n];
        int off = 0;
        for (byte[] p : parts) {
            System.arraycopy(p, 0, out, off, p.length);
            off += p.length;
        }
        return out;
    }

    /** How a simulated socket splits the byte stream: read sizes drawn from [1, maxChunk]. */
    record Chunking(int maxChunk, long seed) {
        @Override
        public String toString() {
            return "reads of 1.." + maxChunk + " bytes (seed " + seed + ")";
        }

        IntSupplier sizes() {
            final SplittableRandom r = new SplittableRandom(seed);
            return () -> maxChunk == 1 ? 1 : r.nextInt(maxChunk) + 1;
        }
    }

    /**
     * Simulates a backend: copies at most {@code inboundBuffer().remaining()} bytes per read (never fewer
     * than one: the decoder promises room), then decodes. Every iteration consumes at least one input byte,
     * so the loop ends after at most {@code in.length} reads.
     *
     * @param afterStep called after each decode, for invariants (may be null)
     */
    static void feed(final FrameDecoder decoder, final byte[] in, final IntSupplier chunkSizes,
                     final FrameDecoder.FrameSink sink, final Runnable afterStep) {
        int off = 0;
        while (off < in.length) {
            final ByteBuffer dst = decoder.inboundBuffer();
            if (!dst.hasRemaining()) { // plain check: this loop runs millions of times in the properties
                throw new AssertionError("no room in inboundBuffer() at input offset " + off);
            }
            final int n = Math.min(Math.min(dst.remaining(), chunkSizes.getAsInt()), in.length - off);
            dst.put(in, off, n);
            off += n;
            decoder.decode(sink);
            if (afterStep != null) {
                afterStep.run();
            }
        }
    }

    /** A sink that copies each frame's bytes, releases the frame, and keeps going. */
    static final class CollectingSink implements FrameDecoder.FrameSink {
        final List<byte[]> frames = new ArrayList<>();

        @Override
        public boolean onFrame(final PooledBuffer frame) {
            try {
                final ByteBuffer b = frame.byteBuffer();
                assertThat(b.position()).as("frame position").isZero();
                assertThat(b.limit()).as("frame limit = length word").isEqualTo(b.getInt(LENGTH_OFFSET));
                frames.add(bytesOf(frame));
            } finally {
                frame.release();
            }
            return true;
        }
    }
}
