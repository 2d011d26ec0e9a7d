package dev.braid.internal.engine;

import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Where protocol violations and limit refusals caused by peers are logged: at WARNING (an operator sees
 * them at the default level), with the connection (and so the peer's address), and rate-limited per
 * runtime so that a peer, or many, cannot flood the log: at most {@link #PER_SECOND} lines a second; the
 * next line allowed says how many were suppressed meanwhile. Logger {@code dev.braid.peer}; a second instance
 * on {@code dev.braid.connection} logs connections closed by an internal error, each line with its stack trace.
 *
 * <p><b>Threads.</b> Any thread; lock-free (one CAS per allowed line on the window start).
 */
final class PeerErrorLog {
    static final int PER_SECOND = 10;
    private static final long SECOND = 1_000_000_000L;

    private final Logger log;

    private final AtomicLong windowStart = new AtomicLong(System.nanoTime());
    private final AtomicLong inWindow = new AtomicLong();
    private final AtomicLong suppressed = new AtomicLong();

    /** Peers' faults, on {@code dev.braid.peer}. */
    PeerErrorLog() {
        this(System.getLogger("dev.braid.peer"));
    }

    PeerErrorLog(final Logger log) {
        this.log = log;
    }

    /** Logs {@code message} about {@code connection} unless the rate is exceeded (then counts it). */
    void log(final Object connection, final String message) {
        log(connection, message, null);
    }

    /**
     * Logs {@code message} about {@code connection}, with {@code error}'s stack trace when not null, unless the
     * rate is exceeded (then counts it).
     */
    void log(final Object connection, final String message, final Throwable error) {
        if (!log.isLoggable(Level.WARNING)) {
            return;
        }
        final long now = System.nanoTime();
        final long start = windowStart.get();
        if (now - start >= SECOND && windowStart.compareAndSet(start, now)) {
            inWindow.set(0);
        }
        if (inWindow.incrementAndGet() > PER_SECOND) {
            suppressed.incrementAndGet();
            return;
        }
        final long skipped = suppressed.getAndSet(0);
        final String line = connection + ": " + message
                + (skipped > 0 ? " (" + skipped + " similar lines suppressed: at most " + PER_SECOND + " a second)" : "");
        if (error != null) {
            log.log(Level.WARNING, line, error);
        } else {
            log.log(Level.WARNING, line);
        }
    }
}
