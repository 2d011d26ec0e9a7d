package dev.braid.internal.backend;

import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A warning log that writes at most {@link #PER_SECOND} lines a second and counts the rest, so that an
 * attacker (or a failing resource, such as exhausted descriptors or memory) cannot turn a loop into a log
 * flood. The first line of each second carries the stack trace of its throwable; the count of lines left
 * out is appended to the next line written.
 *
 * <p><b>Threads.</b> Any thread: the window and the counters are atomics; two threads at a window's edge may
 * both write, which only lets one more line through.
 */
public final class RateLimitedLog {
    /** Lines written per second, at most. */
    public static final int PER_SECOND = 10;
    private static final long SECOND = 1_000_000_000L;

    private final Logger log;
    private final AtomicLong windowStart = new AtomicLong(System.nanoTime());
    private final AtomicLong inWindow = new AtomicLong();
    private final AtomicLong suppressed = new AtomicLong();

    /**
     * A rate-limited log writing to {@code log}.
     *
     * @param log where the lines go
     */
    public RateLimitedLog(final Logger log) {
        this.log = log;
    }

    /**
     * Writes {@code message} at WARNING unless {@link #PER_SECOND} lines were written this second (then counts
     * it). The throwable's stack trace is written with the first line of each second only.
     *
     * @param message the line, naming the peer or the socket it concerns
     * @param error what failed, or null
     */
    public void warn(final String message, final Throwable error) {
        if (!log.isLoggable(Level.WARNING)) {
            return;
        }
        final long now = System.nanoTime();
        final long start = windowStart.get();
        if (now - start >= SECOND && windowStart.compareAndSet(start, now)) {
            inWindow.set(0);
        }
        final long n = inWindow.incrementAndGet();
        if (n > PER_SECOND) {
            suppressed.incrementAndGet();
            return;
        }
        final long skipped = suppressed.getAndSet(0);
        final String line = message + (error != null && n > 1 ? ": " + error : "")
                + (skipped > 0 ? " (" + skipped + " similar lines suppressed: at most " + PER_SECOND + " a second)" : "");
        if (n == 1 && error != null) {
            log.log(Level.WARNING, line, error);
        } else {
            log.log(Level.WARNING, line);
        }
    }
}
