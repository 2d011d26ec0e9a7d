package dev.braid.spi;

import dev.braid.BlockingOperationException;

/**
 * Marks the threads on which a backend runs its I/O (event loops, loom's reader and writer threads), so the
 * engine can refuse a blocking wait there with {@link BlockingOperationException} instead of freezing the
 * loop until a timeout.
 *
 * <p><b>Threads.</b> {@link #markCurrent} is called by a backend once, on the I/O thread itself, before it
 * calls into the engine from that thread; the mark lives as long as the thread. {@link #isIoThread()} and
 * {@link #checkBlockingAllowed} may be called from any thread and read only the calling thread's mark
 * (a {@link ThreadLocal} holding one shared string per backend: no per-thread cache, nothing to clean up).
 */
public final class IoThreads {
    private static final ThreadLocal<String> MARK = new ThreadLocal<>();

    private IoThreads() {
    }

    /**
     * Marks the calling thread as an I/O thread of {@code backend} (its name, for messages). Called by the
     * backend on the thread itself.
     *
     * @param backend the backend's name, for messages
     */
    public static void markCurrent(final String backend) {
        MARK.set(backend);
    }

    /**
     * Whether the calling thread is a backend's I/O thread.
     *
     * @return true on an I/O thread
     */
    public static boolean isIoThread() {
        return MARK.get() != null;
    }

    /**
     * Throws if the calling thread is an I/O thread: {@code operation} would block it.
     *
     * @param operation the blocking method, as the user wrote it (for example {@code "Connection.call"})
     * @throws BlockingOperationException naming the operation and the thread
     */
    public static void checkBlockingAllowed(final String operation) {
        final String backend = MARK.get();
        if (backend != null) {
            throw new BlockingOperationException(operation + " would block the " + backend + " I/O thread "
                    + Thread.currentThread().getName() + " (called from a non-blocking handler, a reply handler, "
                    + "a future continuation or a listener running there): use the asynchronous form or move "
                    + "the work to another executor");
        }
    }
}
