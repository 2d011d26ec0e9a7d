package dev.braid.stress;

import dev.braid.BraidConfig;

import java.util.Locale;

/**
 * The memory bound docs/design.md §8 ("Memory bound") gives for one side of one connection, computed from
 * that side's configuration:
 *
 * <pre>
 *   received: streams × the largest window (initialStreamWindow, or maxStreamWindow with window auto-tuning)
 *             of packet cost, × 4 in pooled memory at worst (tiny packets)
 *   queued to send: streams × 8 ring packets × the pooled buffer of one maximal frame
 *   plus the connection's read buffer
 * </pre>
 *
 * A maximal frame is {@code min(maxStreamPacket, window - 28) + 28} bytes (a packet must fit the peer's
 * window). The pool's own retention (free buffers it keeps for reuse, {@link #poolRetention()}) is not data
 * held by streams but shows in the pool's and the JVM's figures, so the scenarios add it to the bound and
 * say so. Mirrors of the pool's size classes and retention rule are kept here (dev.braid.buffer.BufferPool
 * keeps them private); change both together.
 */
record StreamBound(int streams, long window, int frame, int readBuffer) {
    private static final int HEADER = 28;
    private static final int RING_PACKETS = 8;
    private static final int[] POOL_CLASSES = {512, 2_048, 8_192, 32_768, 131_072, 270_336, 1_048_576, 4_194_304};
    private static final long POOL_RETAINED_PER_CLASS = 16L << 20;

    /** The bound for {@code streams} open streams when both sides use {@code cfg}. */
    static StreamBound of(final BraidConfig cfg, final int streams) {
        final int payload = Math.min(cfg.maxStreamPacket(), cfg.initialStreamWindow() - HEADER);
        final long window = cfg.windowAutoTuning() && cfg.extensions()
                ? Math.max(cfg.initialStreamWindow(), cfg.maxStreamWindow()) : cfg.initialStreamWindow();
        return new StreamBound(streams, window, payload + HEADER, cfg.readBufferSize());
    }

    /** Received data: window cost × streams, × 4 for the pool's rounding at worst. */
    long receivedPooled() {
        return 4L * streams * window;
    }

    /** Data queued to send: 8 ring packets per stream, each in the pool buffer a maximal frame takes. */
    long sendQueuedPooled() {
        return (long) streams * RING_PACKETS * poolClass(frame);
    }

    /** What one side may hold for its streams, per design.md. */
    long side() {
        return receivedPooled() + sendQueuedPooled() + readBuffer;
    }

    static long poolClass(final int bytes) {
        for (int c : POOL_CLASSES) {
            if (bytes <= c) {
                return c;
            }
        }
        return (bytes + 4095L) & ~4095L;
    }

    /** Most bytes a default {@code BufferPool} keeps free for reuse (all classes full). */
    static long poolRetention() {
        long sum = 0;
        for (int c : POOL_CLASSES) {
            sum += Math.min(8192, Math.max(2, POOL_RETAINED_PER_CLASS / c)) * c;
        }
        return sum;
    }

    String describe() {
        return String.format(Locale.ROOT, "%d streams x (4 x %d B window + 8 x %d B ring packets) + %d B read buffer"
                + " = %s per side, + pool retention %s", streams, window, poolClass(frame), readBuffer,
                Memory.mib(side()), Memory.mib(poolRetention()));
    }
}
