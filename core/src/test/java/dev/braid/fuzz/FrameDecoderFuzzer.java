package dev.braid.fuzz;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import dev.braid.ProtocolException;
import dev.braid.buffer.BufferPool;
import dev.braid.internal.wire.FrameDecoder;
import dev.braid.internal.wire.FrameHeader;

import java.nio.ByteBuffer;

/**
 * Jazzer target: {@link FrameDecoder} fed arbitrary bytes the way a backend feeds it (reads of fuzzed sizes
 * into {@link FrameDecoder#inboundBuffer()}, a decode after each, pauses by the sink and resumes), with a
 * fuzzed maximum message and read buffer size.
 *
 * <p>Oracles (a violation is a finding): the only exception is {@link ProtocolException}; every frame handed
 * out is whole (position 0, limit = its length word, header valid); the inbound buffer always has room; the
 * bytes in frames plus the partial frame add up to the bytes fed; after {@link FrameDecoder#close()} no
 * pooled buffer is outstanding.
 *
 * <p>Run by {@link JazzerRunsTest} (a short run in every build, a long one on request), or alone:
 * {@code java -cp <test classpath> com.code_intelligence.jazzer.Jazzer --target_class=dev.braid.fuzz.FrameDecoderFuzzer}.
 * One thread (Jazzer's).
 */
public final class FrameDecoderFuzzer {
    private static final BufferPool POOL = new BufferPool(1 << 20, false);

    private FrameDecoderFuzzer() {
    }

    public static void fuzzerTestOneInput(final FuzzedDataProvider data) {
        final int maxMessage = data.consumeInt(FrameHeader.HEADER_LENGTH, 1 << 20);
        final int readBufferSize = data.consumeInt(2 * FrameHeader.HEADER_LENGTH, 1 << 17);
        final int pauseEvery = data.consumeInt(0, 8); // 0: never pause
        final int[] chunks = new int[data.consumeInt(1, 8)];
        for (int i = 0; i < chunks.length; i++) {
            chunks[i] = data.consumeInt(1, 70_000);
        }
        final byte[] input = data.consumeRemainingAsBytes();

        final long before = POOL.outstanding();
        final FrameDecoder d = new FrameDecoder(POOL, maxMessage, readBufferSize);
        final long[] framed = new long[1];
        final int[] count = new int[1];
        final FrameDecoder.FrameSink sink = frame -> {
            try {
                final ByteBuffer f = frame.byteBuffer();
                if (f.position() != 0 || f.limit() != f.getInt(0) || f.limit() < FrameHeader.HEADER_LENGTH
                        || f.limit() > maxMessage) {
                    throw new AssertionError("frame handed out with position " + f.position() + ", limit "
                            + f.limit() + ", length word " + f.getInt(0) + " (max " + maxMessage + ")");
                }
                FrameDecoder.checkHeader(f, 0, f.limit()); // throws ProtocolException: a finding here
                framed[0] += f.limit();
            } finally {
                frame.release();
            }
            return pauseEvery == 0 || ++count[0] % pauseEvery != 0;
        };
        long fed = 0;
        try {
            int off = 0;
            for (int i = 0; off < input.length; i++) {
                final ByteBuffer in = d.inboundBuffer();
                if (!in.hasRemaining()) {
                    throw new AssertionError("inboundBuffer() has no room after " + fed + " bytes");
                }
                final int n = Math.min(Math.min(chunks[i % chunks.length], in.remaining()), input.length - off);
                in.put(input, off, n);
                off += n;
                fed += n;
                while (!d.decode(sink)) { // paused: the backend resumes with a decode of what it has
                    // each round hands out at least one frame, so this ends
                }
            }
            if (framed[0] + d.partialBytes() != fed) {
                throw new AssertionError(fed + " bytes fed, but " + framed[0] + " in frames and "
                        + d.partialBytes() + " partial");
            }
        } catch (ProtocolException expected) {
            // the connection would close
        } finally {
            d.close();
        }
        if (POOL.outstanding() != before) {
            throw new AssertionError((POOL.outstanding() - before) + " pooled buffers leaked by the decoder");
        }
    }
}
