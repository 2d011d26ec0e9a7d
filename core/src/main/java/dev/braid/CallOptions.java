package dev.braid;

import java.time.Duration;

/**
 * Per-call options. Immutable.
 *
 * @param timeout how long to wait for the reply; {@code null} uses the connection's default, zero means none
 */
public record CallOptions(Duration timeout) {
    /** The connection's defaults. */
    public static final CallOptions DEFAULT = new CallOptions(null);

    /**
     * Options with this timeout.
     *
     * @param timeout how long to wait for the reply; zero means no timeout
     * @return the options
     */
    public static CallOptions timeout(final Duration timeout) {
        if (timeout.isNegative()) {
            throw new IllegalArgumentException("negative timeout: " + timeout);
        }
        return new CallOptions(timeout);
    }
}
