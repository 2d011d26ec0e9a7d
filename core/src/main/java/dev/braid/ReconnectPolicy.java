package dev.braid;

import java.time.Duration;

/**
 * How a {@link ReconnectingConnection} retries after it lost its connection: exponential backoff with
 * jitter and a cap. Attempt {@code n} (1 for the first after a loss) waits
 * {@code min(maxBackoff, initialBackoff * multiplier^(n-1))}, less a random part of up to {@code jitter}
 * of it (so many clients of one restarted server do not all come back in the same instant), then connects
 * and says HELLO again. A successful attempt starts the count again at 1.
 *
 * <p>Immutable; any thread.
 *
 * @param initialBackoff the wait before the first attempt, &gt; 0
 * @param maxBackoff     the cap on any wait, &ge; initialBackoff
 * @param multiplier     growth per failed attempt, &ge; 1
 * @param jitter         the share of each wait that is random, in [0, 1]: 0.2 waits 80 to 100 % of it
 * @param maxAttempts    attempts in a row before giving up (the connection then closes for good and every
 *                       parked call fails); 0 for no limit
 * @param retryFirstConnect whether the first connection is retried like a lost one. false (the default):
 *                       {@link Braid#connectReconnecting} connects once, and throws if it cannot (a wrong
 *                       address or a server that is down is reported at once). true: it returns at once, in
 *                       state {@link ReconnectingConnection.State#RECONNECTING}, and connects in the
 *                       background, the first attempt at once and the next ones after the backoff above (up
 *                       to {@code maxAttempts} in all); calls made meanwhile wait as during a reconnection
 *                       (for a server that starts after its clients)
 */
public record ReconnectPolicy(Duration initialBackoff, Duration maxBackoff, double multiplier, double jitter,
                              int maxAttempts, boolean retryFirstConnect) {

    /** 100 ms doubling up to 10 s, 20 % jitter, no limit on attempts; the first connection is not retried. */
    public static final ReconnectPolicy DEFAULT = new ReconnectPolicy(Duration.ofMillis(100), Duration.ofSeconds(10),
            2.0, 0.2, 0);

    /**
     * A policy that does not retry the first connection ({@code retryFirstConnect} false).
     *
     * @param initialBackoff the wait before the first attempt, &gt; 0
     * @param maxBackoff     the cap on any wait, &ge; initialBackoff
     * @param multiplier     growth per failed attempt, &ge; 1
     * @param jitter         the share of each wait that is random, in [0, 1]
     * @param maxAttempts    attempts in a row before giving up; 0 for no limit
     * @throws BraidException CONFIG naming the value out of range
     */
    public ReconnectPolicy(final Duration initialBackoff, final Duration maxBackoff, final double multiplier,
                           final double jitter, final int maxAttempts) {
        this(initialBackoff, maxBackoff, multiplier, jitter, maxAttempts, false);
    }

    /**
     * This policy, with the first connection retried or not.
     *
     * @param retry whether {@link Braid#connectReconnecting} retries the first connection (see above)
     * @return the new policy
     */
    public ReconnectPolicy withRetryFirstConnect(final boolean retry) {
        return new ReconnectPolicy(initialBackoff, maxBackoff, multiplier, jitter, maxAttempts, retry);
    }

    /**
     * Checks the values.
     *
     * @throws BraidException CONFIG naming the value out of range
     */
    public ReconnectPolicy {
        if (initialBackoff == null || initialBackoff.isNegative() || initialBackoff.isZero()) {
            throw new BraidException(BraidException.Category.CONFIG, "initialBackoff = " + initialBackoff + " must be > 0");
        }
        if (maxBackoff == null || maxBackoff.compareTo(initialBackoff) < 0) {
            throw new BraidException(BraidException.Category.CONFIG, "maxBackoff = " + maxBackoff
                    + " must be >= initialBackoff = " + initialBackoff);
        }
        if (!(multiplier >= 1.0) || Double.isInfinite(multiplier)) {
            throw new BraidException(BraidException.Category.CONFIG, "multiplier = " + multiplier + " must be >= 1");
        }
        if (!(jitter >= 0.0 && jitter <= 1.0)) {
            throw new BraidException(BraidException.Category.CONFIG, "jitter = " + jitter + " must be in [0, 1]");
        }
        if (maxAttempts < 0) {
            throw new BraidException(BraidException.Category.CONFIG, "maxAttempts = " + maxAttempts + " must be >= 0");
        }
    }

    /**
     * The wait before attempt {@code attempt}, with its jitter drawn from {@code random}.
     *
     * @param attempt the attempt, from 1
     * @param random  a uniform value in [0, 1)
     * @return the wait in nanoseconds
     */
    public long backoffNanos(final int attempt, final double random) {
        final double base = Math.min((double) maxBackoff.toNanos(),
                initialBackoff.toNanos() * Math.pow(multiplier, Math.max(0, attempt - 1)));
        return (long) (base * (1.0 - jitter * random));
    }
}
