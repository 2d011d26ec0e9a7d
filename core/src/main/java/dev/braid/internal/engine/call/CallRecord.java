package dev.braid.internal.engine.call;

import dev.braid.Procedure;
import dev.braid.buffer.PooledBuffer;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.time.Duration;
import java.util.concurrent.ScheduledFuture;

/**
 * A client call from creation to completion, as the connection's pending table holds it. Subclasses say
 * how the outcome reaches the caller: {@link FutureCall} (a {@code CompletableFuture}), {@link BlockingCall}
 * (a waiting thread) and {@link HandlerCall} (a {@link dev.braid.ReplyHandler}); the last two are recycled.
 *
 * <h2>Sending states</h2>
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
 * table (reply or close), or the one that dropped it while still queued, so it runs once per use.
 *
 * <h2>Outcome</h2>
 * {@link #completeWithReply} (reader thread, takes the reply frame) and {@link #completeExceptionally}
 * (any thread) race; exactly one wins, as with a future. The loser's frame is released by the caller.
 *
 * <h2>Recycling</h2>
 * A record is reused only after a clean run: answered by the reader, consumed, never queued for a slot
 * and never given a timer. Every other path (timeout, interrupt, cancel, close, queued) leaves it to the
 * garbage collector, because another thread (the timer, the slot queue, a late reply) may still hold it.
 * {@link #reset} then starts a new use with a new serial.
 */
public abstract class CallRecord {
    static final int NEW = 0;
    static final int ADMITTED = 1;
    static final int DONE = 2;
    private static final VarHandle STATE;

    static {
        try {
            STATE = MethodHandles.lookup().findVarHandle(CallRecord.class, "state", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /** The calls of the connection this record belongs to (never the connection class itself). */
    final ClientCalls calls;
    Procedure procedure;
    int serial;
    Duration timeout;
    /** {@code Observation.callStart()} when the call started: 0 if not timed (no observer, no recording). */
    long startNanos;
    /** Bytes of the call's frame, for the observer. */
    int requestBytes;
    /** Owned by this call while NEW; taken by admit() or released by finish(). */
    private PooledBuffer frame;
    @SuppressWarnings("unused") // accessed through STATE
    private volatile int state;
    volatile ScheduledFuture<?> timeoutTask;
    /** Went through the slot queue: a slot-holder may still look at it, so it is never recycled. */
    volatile boolean queued;

    CallRecord(final ClientCalls calls) {
        this.calls = calls;
    }

    /** Starts a use: caller's thread, before the record is published to the pending table. */
    void reset(final Procedure procedure, final int serial, final PooledBuffer frame, final Duration timeout) {
        this.procedure = procedure;
        this.serial = serial;
        this.frame = frame;
        this.requestBytes = dev.braid.internal.wire.Frames.length(frame);
        this.timeout = timeout;
        this.startNanos = 0;
        this.timeoutTask = null;
        this.queued = false;
        STATE.setRelease(this, NEW);
    }

    /**
     * NEW to ADMITTED. Returns the frame to send (ownership passes to the caller), or null if the call was
     * already finished (the frame was released then).
     */
    final PooledBuffer admit() {
        if (!STATE.compareAndSet(this, NEW, ADMITTED)) {
            return null;
        }
        final PooledBuffer f = frame;
        frame = null;
        calls.queuedCalls.decrementAndGet();
        return f;
    }

    /**
     * NEW to DONE, if the call is still queued (never sent): releases its frame. Returns false if it was
     * already sent (or done): a sent call keeps its slot until its reply, however late, comes back.
     */
    final boolean finishIfQueued() {
        if (!STATE.compareAndSet(this, NEW, DONE)) {
            return false;
        }
        cancelTimer();
        calls.queuedCalls.decrementAndGet();
        final PooledBuffer f = frame;
        frame = null;
        f.release();
        return true;
    }

    /** Any state to DONE. Returns the outstanding slot or releases the unsent frame. Once per use. */
    final void finish() {
        cancelTimer();
        final int prev = (int) STATE.getAndSet(this, DONE);
        if (prev == ADMITTED) {
            calls.releaseSlot();
        } else if (prev == NEW) {
            calls.queuedCalls.decrementAndGet();
            final PooledBuffer f = frame;
            frame = null;
            f.release();
        }
    }

    private void cancelTimer() {
        final ScheduledFuture<?> t = timeoutTask;
        if (t != null) {
            t.cancel(false);
        }
    }

    /** Whether the call's frame went to the writer (it left NEW by admission). */
    final boolean wasSent() {
        return (int) STATE.getVolatile(this) != NEW; // admitted before its frame is queued, so before any reply
    }

    /**
     * Reader thread: the call's OK reply. Ownership of {@code reply} passes to this record if it returns
     * true; on false (the call was already completed: timed out, cancelled) the caller releases it.
     */
    abstract boolean completeWithReply(PooledBuffer reply);

    /** Any thread: the call failed. Returns false if it was already completed. */
    abstract boolean completeExceptionally(Throwable error);

    /**
     * Reader thread: the server answered with an ERROR. Returns false if the call was already completed.
     * Like {@link #completeExceptionally}; a kind that recycles its record after a reply overrides it.
     */
    boolean completeWithRemoteError(final dev.braid.BraidException error) {
        return completeExceptionally(error);
    }

    /** Whether a timer enforces this call's timeout ({@code false}: its waiting caller keeps the time). */
    boolean timedByTimer() {
        return true;
    }

    /** Whether an outcome has been set (or the caller gave up). */
    abstract boolean isCompleted();

    @Override
    public String toString() {
        return "call " + procedure + " serial " + Integer.toUnsignedString(serial);
    }
}
