package dev.braid.testing;

import java.time.Duration;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.BooleanSupplier;
import java.util.function.LongSupplier;
import java.util.function.Supplier;

/**
 * Waiting in tests: for a condition, never for a length of time. A test that sleeps and then asserts
 * bets that the machine did the work within the sleep; on a loaded machine it loses the bet (a false
 * failure), and on a fast one it wastes the time. Here a test states what it waits for, and the wait
 * ends as soon as it holds. The timeout is only a bound on a hang, far above what the condition needs
 * even on a loaded 2-core machine, so no GC pause or busy neighbour can reach it; a test that fails on
 * it names what it waited for and what it saw last.
 *
 * <p>The condition is polled (1 ms at first, backing off to 10 ms), so it must be cheap; it may act (write
 * more data until a ring is full, say) where acting once more is harmless. An exception or an assertion error thrown by the condition ends the wait at once: a condition
 * can thus fail fast when what it waits for can no longer happen (a connection that closed, a thread that
 * died), by asserting that first.
 *
 * <p>What cannot be waited for is a "never": that something does not happen can only be shown after a
 * point where it would have happened if it were going to. Tests find such a point in the system itself (a
 * task run on the connection's event loop after the one that would have misbehaved, a counter showing the
 * state was reached, the backend closed), not in a sleep; {@link #during} then watches such a property for a
 * short while, which can only give a fault more chances to show.
 */
public final class Await {
    /** How long a condition may take by default before the test fails. */
    public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(30);

    private Await() {
    }

    /** Waits until {@code condition} holds, at most {@link #DEFAULT_TIMEOUT}; fails naming {@code what}. */
    public static void until(final String what, final BooleanSupplier condition) {
        until(what, DEFAULT_TIMEOUT, condition, null);
    }

    /** Waits until {@code condition} holds, at most {@code timeout}; fails naming {@code what}. */
    public static void until(final String what, final Duration timeout, final BooleanSupplier condition) {
        until(what, timeout, condition, null);
    }

    /**
     * Waits until {@code condition} holds, at most {@link #DEFAULT_TIMEOUT}; on failure the message names
     * {@code what} and the last value of {@code observed} (the state the condition looks at).
     */
    public static void until(final String what, final BooleanSupplier condition, final Supplier<?> observed) {
        until(what, DEFAULT_TIMEOUT, condition, observed);
    }

    /** As {@link #until(String, BooleanSupplier, Supplier)}, with a timeout of its own. */
    public static void until(final String what, final Duration timeout, final BooleanSupplier condition,
                             final Supplier<?> observed) {
        final long start = System.nanoTime();
        long pause = 1;
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() - start > timeout.toNanos()) {
                if (condition.getAsBoolean()) { // the last look, after the deadline: it may have come true meanwhile
                    return;
                }
                throw new AssertionError("timed out after " + describe(timeout) + " waiting until " + what
                        + (observed == null ? "" : "; last seen: " + observed.get()));
            }
            sleep(pause);
            pause = Math.min(pause * 2, 10);
        }
    }

    /**
     * Checks that {@code invariant} holds at every look for {@code window}, failing at the first look where
     * it does not. This is for "never" properties (memory stays bounded, a call stays unanswered) once a
     * test has reached, by waiting on a condition, the state where a fault would show: the window only
     * gives a fault more chances to be seen. On a loaded machine the window sees less, so the test may
     * miss a fault, but it never fails because of the load.
     */
    public static void during(final String what, final Duration window, final BooleanSupplier invariant,
                              final Supplier<?> observed) {
        final long start = System.nanoTime();
        do {
            if (!invariant.getAsBoolean()) {
                throw new AssertionError("no longer true after " + TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start)
                        + " ms: " + what + (observed == null ? "" : "; seen: " + observed.get()));
            }
            sleep(1);
        } while (System.nanoTime() - start < window.toNanos());
    }

    /**
     * Waits for {@code future} as long as {@code progress} (a counter of work done: bytes moved, say) keeps
     * changing, and fails when it has not changed for {@code stall}. For long transfers, whose time depends on
     * the machine's load far more than any bound would allow for (32 GiB of streams took 40 s on an idle
     * 2-core machine, 8.5 minutes on a loaded one): a bound on progress, not on time. Returns the future's
     * value; its failure is rethrown as an {@link AssertionError}.
     */
    public static <T> T whileProgressing(final String what, final Future<T> future, final LongSupplier progress,
                                         final Duration stall) {
        long last = progress.getAsLong();
        long lastChange = System.nanoTime();
        while (true) {
            try {
                return future.get(100, TimeUnit.MILLISECONDS);
            } catch (TimeoutException e) {
                final long now = progress.getAsLong();
                if (now != last) {
                    last = now;
                    lastChange = System.nanoTime();
                } else if (System.nanoTime() - lastChange > stall.toNanos()) {
                    throw new AssertionError("no progress for " + describe(stall) + " waiting until " + what
                            + "; progress stuck at " + now);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError("interrupted while waiting until " + what, e);
            } catch (ExecutionException e) {
                throw new AssertionError(what + " failed", e.getCause());
            }
        }
    }

    private static String describe(final Duration d) {
        return d.toMillis() % 1000 == 0 ? d.toSeconds() + " s" : d.toMillis() + " ms";
    }

    private static void sleep(final long millis) {
        try {
            TimeUnit.MILLISECONDS.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted while waiting (the test's timeout?)", e);
        }
    }
}
