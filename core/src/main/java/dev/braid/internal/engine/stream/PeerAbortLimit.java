package dev.braid.internal.engine.stream;

import java.time.Duration;

/**
 * A server's count of the streams its peer aborted ({@code BraidConfig.maxPeerStreamAbortsPerWindow} per
 * {@code peerStreamAbortWindow}): braid's bound on HTTP/2's "rapid reset" (CVE-2023-44487), a peer opening and
 * aborting streams in a loop. A fixed window, as Netty's {@code Http2MaxRstFrameListener}: it starts at the
 * first abort counted and lasts the configured time; the first abort after it starts the next window, counted
 * as one. So no interval of one window holds more than twice the limit, and a peer that stays under the limit
 * in every window is never refused. Counting costs two fields and a clock read per abort, nothing per packet.
 *
 * <p>Threads: the connection's reader only (aborts arrive as STREAM packets), so the fields are plain.
 */
final class PeerAbortLimit {
    private final int max;
    private final long windowNanos;
    /** Reader-owned: when the current window started ({@code System.nanoTime}); valid once {@link #count} > 0. */
    private long windowStart;
    /** Reader-owned: aborts counted in the current window. */
    private long count;

    /**
     * @param max    aborts allowed per window; 0: no limit
     * @param window the window, more than zero
     */
    PeerAbortLimit(final int max, final Duration window) {
        this.max = max;
        this.windowNanos = window.toNanos();
    }

    /**
     * Reader: the peer aborted a stream that was open here, at {@code now} ({@code System.nanoTime}).
     *
     * @return whether this abort is one more than the limit allows within the window
     */
    boolean aborted(final long now) {
        if (max == 0) {
            return false;
        }
        if (count == 0 || now - windowStart >= windowNanos) {
            windowStart = now;
            count = 1;
        } else {
            count++;
        }
        return count > max;
    }

    /** {@return aborts counted in the current window} Reader. */
    long count() {
        return count;
    }

    /** {@return when the current window started ({@code System.nanoTime})} Reader. */
    long windowStart() {
        return windowStart;
    }

    /** {@return the limit and its window, as the error names them} */
    String describe() {
        return "limit maxPeerStreamAbortsPerWindow = " + max + " per peerStreamAbortWindow = "
                + Duration.ofNanos(windowNanos).toMillis() + " ms";
    }
}
