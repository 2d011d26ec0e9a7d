package dev.braid;

import java.time.Duration;

/**
 * Options for opening a stream. Immutable.
 *
 * @param waitForSlot how long {@code openStream} may wait for a free stream slot when the connection has
 *                    {@code maxConcurrentStreams} open; zero fails at once with {@link LimitExceededException}
 * @param timeout     timeout of the opening call; {@code null} uses the connection's default
 */
public record StreamOptions(Duration waitForSlot, Duration timeout) {
    /** No wait for a slot, the connection's default timeout. */
    public static final StreamOptions DEFAULT = new StreamOptions(Duration.ZERO, null);

    /**
     * Checks the options.
     *
     * @param waitForSlot how long to wait for a slot, zero or more
     * @param timeout timeout of the opening call, or null for the default
     */
    public StreamOptions {
        if (waitForSlot == null || waitForSlot.isNegative()) {
            throw new IllegalArgumentException("waitForSlot must be >= 0: " + waitForSlot);
        }
    }

    /**
     * Options that wait for a free slot.
     *
     * @param d how long {@code openStream} may wait for a free stream slot
     * @return the options, with the default opening timeout
     */
    public static StreamOptions waitForSlot(final Duration d) {
        return new StreamOptions(d, null);
    }
}
