package dev.braid.internal.engine.stream;

/**
 * The per-stream window one side of a connection grants now ({@link #current}), the same for each of its
 * streams, and the largest it ever granted on the connection ({@link #limit}): a receiver admits up to the
 * limit, because packets sent under a window that has since shrunk may still arrive.
 *
 * <p><b>Threads.</b> Written by the connection's reader only (the {@link WindowTuner}); read on any thread
 * (volatile fields). {@code limit} is raised before {@code current}, so a reader of both never sees a current
 * window above the limit.
 */
final class ReceiveWindow {
    private volatile long current;
    private volatile long limit;

    ReceiveWindow(final long initial) {
        this.current = initial;
        this.limit = initial;
    }

    /** The window granted to each stream now. */
    long current() {
        return current;
    }

    /** The largest window granted on this connection so far: what a receiver admits. */
    long limit() {
        return limit;
    }

    /** Reader: grants {@code window} from now on. */
    void set(final long window) {
        if (window > limit) {
            limit = window;
        }
        current = window;
    }
}
