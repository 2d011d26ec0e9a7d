package dev.braid.internal.backend;

import dev.braid.spi.ConnectionHandler;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * One connection's reading on/off, as the engine asks for it with {@code Transport.setReadSuspended}, applied
 * on the connection's reader context. The engine calls it on edges only (reading off when its first reason
 * to stop reading appears, on when the last one goes), so this is an idempotent switch, not a count: the
 * last request wins, and repeating one changes nothing.
 *
 * <p><b>The resume promise.</b> When the engine paused, it stopped decoding too, and it may hold frames it has
 * already received. So after an "on" the reader context calls {@link ConnectionHandler#onInbound onInbound(0)}
 * before it reads again, even when the "off" before it never took effect (both came while an apply was on
 * its way), and never from inside another handler call (always from {@link #apply}, a task of its own).
 *
 * <h2>Threads</h2>
 * <ul>
 *   <li>{@link #request}: any thread. It records the request in {@code suspendWanted} (and, for "off",
 *       {@code resumeOwed}), both volatile, then claims {@code applyPending} with a volatile
 *       {@code getAndSet}; only the claimer schedules {@link #apply}.</li>
 *   <li>{@link #apply}, {@link #suspendNow}, {@link #isSuspended}: the reader context only. {@code apply}
 *       clears {@code applyPending} (volatile) <em>before</em> it reads the request, so a request made after
 *       that read finds the flag clear and schedules another apply: none is lost (each side writes its
 *       variable, then reads the other's).</li>
 *   <li>A backend whose reader is a thread of its own (loom) skips the tasks: it waits while
 *       {@link #isSuspendWanted()} and calls {@link #takeResumeOwed()} before each read.</li>
 * </ul>
 */
public final class ReadSuspension {
    /** What a backend does to its socket when reading stops and starts again. Reader context. */
    public interface Reads {
        /** Stop reading from the socket (drop read interest). */
        void stopReading();

        /**
         * Read again. Called after the owed {@code onInbound(0)}, only while reading is still wanted; a backend
         * may deliver bytes it held back before it re-arms the socket (and must stop if that suspends again).
         */
        void startReading();
    }

    private static final VarHandle APPLY_PENDING;
    private static final VarHandle RESUME_OWED;

    static {
        try {
            final MethodHandles.Lookup l = MethodHandles.lookup();
            APPLY_PENDING = l.findVarHandle(ReadSuspension.class, "applyPending", boolean.class);
            RESUME_OWED = l.findVarHandle(ReadSuspension.class, "resumeOwed", boolean.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final ConnectionHandler handler;
    private final Reads reads;
    /** The last request: true = reading off. */
    private volatile boolean suspendWanted;
    /** An "on" came since the last {@code onInbound(0)}: the next one is owed (set by every "on"). */
    @SuppressWarnings("unused") // accessed through RESUME_OWED
    private volatile boolean resumeOwed;
    /** An {@link #apply} is scheduled and has not started reading the request yet. */
    @SuppressWarnings("unused") // accessed through APPLY_PENDING
    private volatile boolean applyPending;
    /** Reader context: reading is off at the socket (what was last applied). */
    private boolean suspended;

    public ReadSuspension(final ConnectionHandler handler, final Reads reads) {
        this.handler = handler;
        this.reads = reads;
    }

    /**
     * Records "reading off" ({@code suspend}) or "reading on". Any thread.
     *
     * @return true if the caller must run {@link #apply} on the reader context (as a task: never inline from
     *         inside a handler call); false if an apply is already on its way and will see this request
     */
    public boolean request(final boolean suspend) {
        if (suspend) {
            suspendWanted = true;
        } else {
            suspendWanted = false;
            resumeOwed = true;
        }
        return !(boolean) APPLY_PENDING.getAndSet(this, true);
    }

    /**
     * Reader context: "reading off" asked on the reader context itself takes effect at once (so no further
     * read is handed to the engine after it), without calling the handler.
     */
    public void suspendNow() {
        suspendWanted = true;
        if (!suspended) {
            suspended = true;
            reads.stopReading();
        }
    }

    /**
     * Reader context, as a task of its own: brings the socket in line with the last request. After an "off",
     * calls {@code onInbound(0)} once, then starts reading unless the engine suspended again meanwhile.
     */
    public void apply() {
        APPLY_PENDING.setVolatile(this, false); // before reading the request: a later request schedules again
        if (suspendWanted) {
            if (!suspended) {
                suspended = true;
                reads.stopReading();
            }
            return;
        }
        suspended = false;
        if ((boolean) RESUME_OWED.getAndSet(this, false)) {
            handler.onInbound(0); // may suspend again (suspendNow, on this context)
        }
        if (!suspended && !suspendWanted) {
            reads.startReading();
        }
    }

    /** Reader context: reading is off at the socket. */
    public boolean isSuspended() {
        return suspended;
    }

    /** Any thread: the last request was "reading off". */
    public boolean isSuspendWanted() {
        return suspendWanted;
    }

    /**
     * For a reader that is a thread of its own: whether an {@code onInbound(0)} is owed (an "on" came since
     * the last one), clearing it. The caller then calls {@code onInbound(0)} before its next read.
     */
    public boolean takeResumeOwed() {
        return (boolean) RESUME_OWED.getAndSet(this, false);
    }
}
