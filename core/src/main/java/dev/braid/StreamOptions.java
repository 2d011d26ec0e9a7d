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
    public static final StreamOptions DEFAULT = new StreamOptions(Duration.ZERO, null);

    public StreamOptions {
        if (waitForSlot == null || waitForSlot.isNegative()) {
            throw new IllegalArgumentException("waitForSlot must be >= 0: " + waitForSlot);
        }
    }

    public static StreamOptions waitForSlot(final Duration d) {
        return new StreamOptions(d, null);
    }
}
