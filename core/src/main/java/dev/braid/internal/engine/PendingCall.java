package dev.braid.internal.engine;

import dev.braid.Procedure;
import dev.braid.Reply;
import dev.braid.buffer.PooledBuffer;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ScheduledFuture;

/**
 * A client call from creation to completion. It is the future the caller holds.
 *
 * <h2>States</h2>
 * <pre>
 *   NEW ──admit()──▶ ADMITTED ──finish()──▶ DONE
 *    └──────────────finish()──────────────▶ DONE
 * </pre>
 * NEW: waiting for an outstanding-call slot; the call owns its encoded {@link #frame}. ADMITTED: holds a
 * slot; the frame went to the writer. DONE: answered, timed out, cancelled or failed. Transitions are
 * atomic ({@code state}, VarHandle CAS / getAndSet), so exactly one of admit() and finish() takes the frame
 * out of NEW, and a slot is returned exactly once.
 *
 * <p>Who calls {@link #finish()}: only the thread that removed this call from the connection's pending
 * table (reply, timeout, cancel or close), so it runs exactly once; that thread then completes the future.
 */
final class PendingCall extends CompletableFuture<Reply> {
    static final int NEW = 0;
    static final int ADMITTED = 1;
    static final int DONE = 2;
    private static final VarHandle STATE;

    static {
        try {
            STATE = MethodHandles.lookup().findVarHandle(PendingCall.class, "state", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    final ClientConnection connection;
    final Procedure procedure;
    final int serial;
    final Duration timeout;
    /** Owned by this call while NEW; taken by admit() or released by finish(). */
    private PooledBuffer frame;
    @SuppressWarnings("unused") // accessed through STATE
    private volatile int state;
    volatile ScheduledFuture<?> timeoutTask;

    PendingCall(final ClientConnection connection, final Procedure procedure, final int serial,
                final PooledBuffer frame, final Duration timeout) {
        this.connection = connection;
        this.procedure = procedure;
        this.serial = serial;
        this.frame = frame;
        this.timeout = timeout;
    }

    /**
     * NEW to ADMITTED. Returns the frame to send (ownership passes to the caller), or null if the call was
     * already finished (the frame was released then).
     */
    PooledBuffer admit() {
        if (!STATE.compareAndSet(this, NEW, ADMITTED)) {
            return null;
        }
        final PooledBuffer f = frame;
        frame = null;
        connection.queuedCalls.decrementAndGet();
        return f;
    }

    /**
     * NEW to DONE, if the call is still queued (never sent): releases its frame. Returns false if it was
     * already sent (or done): a sent call keeps its slot until its reply, however late, comes back.
     */
    boolean finishIfQueued() {
        if (!STATE.compareAndSet(this, NEW, DONE)) {
            return false;
        }
        final ScheduledFuture<?> t = timeoutTask;
        if (t != null) {
            t.cancel(false);
        }
        connection.queuedCalls.decrementAndGet();
        final PooledBuffer f = frame;
        frame = null;
        f.release();
        return true;
    }

    /** Any state to DONE. Returns the outstanding slot or releases the unsent frame. Exactly once. */
    void finish() {
        final ScheduledFuture<?> t = timeoutTask;
        if (t != null) {
            t.cancel(false);
        }
        final int prev = (int) STATE.getAndSet(this, DONE);
        if (prev == ADMITTED) {
            connection.releaseSlot();
        } else if (prev == NEW) {
            connection.queuedCalls.decrementAndGet();
            final PooledBuffer f = frame;
            frame = null;
            f.release();
        }
    }

    /** Whether the call's frame went to the writer (it left NEW by admission). */
    boolean wasSent() {
        return (int) STATE.getVolatile(this) != NEW; // admitted before its frame is queued, so before any reply
    }

    @Override
    public boolean cancel(final boolean mayInterruptIfRunning) {
        final boolean cancelled = super.cancel(mayInterruptIfRunning);
        if (cancelled) {
            connection.abandon(this);
        }
        return cancelled;
    }

    @Override
    public String toString() {
        return "call " + procedure + " serial " + Integer.toUnsignedString(serial);
    }
}
