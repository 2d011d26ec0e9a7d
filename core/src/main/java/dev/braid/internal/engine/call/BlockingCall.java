package dev.braid.internal.engine.call;

import dev.braid.BraidException;
import dev.braid.CallTimeoutException;
import dev.braid.buffer.PooledBuffer;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.locks.LockSupport;

/**
 * A call whose caller waits for it on its own thread ({@code Connection.call}). Recycled: no allocation per
 * call on the clean path.
 *
 * <p><b>Threads.</b> The caller's thread starts the call and waits in {@link #await}; the reader thread
 * (or a closing thread) sets the outcome. {@code outcome} goes from PENDING to exactly one of REPLIED or
 * FAILED (set by the completer, which then unparks the waiter) or ABANDONED (set by the waiter when it
 * gives up: timeout or interrupt). The completer writes {@link #reply} / {@link #error} before its CAS
 * (release); the waiter reads them after seeing the outcome (acquire).
 *
 * <p><b>Waiting.</b> The waiter first spins for {@code braid.callSpinNanos} (default 0: none): on a
 * machine with cores to spare that saves a park/unpark (a context switch each) on a fast reply. Then it
 * parks, up to its deadline.
 */
public final class BlockingCall extends CallRecord {
    static final int PENDING = 0;
    static final int REPLIED = 1;
    static final int FAILED = 2;
    static final int ABANDONED = 3;
    static final long SPIN_NANOS = Long.getLong("braid.callSpinNanos", 0);
    private static final VarHandle OUTCOME;

    static {
        try {
            OUTCOME = MethodHandles.lookup().findVarHandle(BlockingCall.class, "outcome", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    @SuppressWarnings("unused") // accessed through OUTCOME
    private volatile int outcome;
    private PooledBuffer reply;
    private Throwable error;
    private Thread waiter;

    BlockingCall(final ClientCalls calls) {
        super(calls);
    }

    /** Caller's thread, before the record is published. */
    void prepare() {
        waiter = Thread.currentThread();
        reply = null;
        error = null;
        OUTCOME.setRelease(this, PENDING);
    }

    @Override
    boolean completeWithReply(final PooledBuffer frame) {
        reply = frame;
        final Thread w = waiter; // before the CAS: after it the waiter may recycle this record for another call
        if (OUTCOME.compareAndSet(this, PENDING, REPLIED)) {
            LockSupport.unpark(w);
            return true;
        }
        reply = null;
        return false;
    }

    @Override
    boolean completeExceptionally(final Throwable t) {
        error = t;
        final Thread w = waiter; // before the CAS, as above
        if (OUTCOME.compareAndSet(this, PENDING, FAILED)) {
            LockSupport.unpark(w);
            return true;
        }
        return false;
    }

    @Override
    boolean isCompleted() {
        return (int) OUTCOME.getVolatile(this) != PENDING;
    }

    /**
     * Caller's thread: waits for the outcome. Returns the reply frame (ownership passes to the caller) or
     * throws the failure. On timeout or interrupt the call is abandoned: a late reply is then released and
     * counted by the reader.
     */
    public PooledBuffer await() {
        final long timeoutNanos = timeout.isZero() ? 0 : timeout.toNanos();
        final long start = System.nanoTime();
        if (SPIN_NANOS > 0) {
            while ((int) OUTCOME.getAcquire(this) == PENDING && System.nanoTime() - start < SPIN_NANOS) {
                Thread.onSpinWait();
            }
        }
        while ((int) OUTCOME.getAcquire(this) == PENDING) {
            if (Thread.interrupted()) {
                if (giveUp()) {
                    calls.ended(this, dev.braid.BraidObserver.CallOutcome.CANCELLED);
                    Thread.currentThread().interrupt();
                    throw new BraidException(BraidException.Category.CANCELLED, "interrupted while waiting for "
                            + this);
                }
                Thread.currentThread().interrupt();
                break; // the outcome arrived meanwhile
            }
            if (timeoutNanos == 0) {
                LockSupport.park(this);
            } else {
                final long left = timeoutNanos - (System.nanoTime() - start);
                if (left <= 0) {
                    if (giveUp()) {
                        calls.ended(this, dev.braid.BraidObserver.CallOutcome.TIMEOUT);
                        throw new CallTimeoutException(procedure, serial, timeout);
                    }
                    break;
                }
                LockSupport.parkNanos(this, left);
            }
        }
        if ((int) OUTCOME.getAcquire(this) == REPLIED) {
            final PooledBuffer r = reply;
            reply = null;
            return r;
        }
        throw ClientCalls.unwrap(error);
    }

    /** The waiter stops waiting. False if an outcome arrived first (use it). */
    private boolean giveUp() {
        calls.abandon(this); // a queued call leaves at once; a sent one keeps its slot until its reply
        return OUTCOME.compareAndSet(this, PENDING, ABANDONED);
    }

    @Override
    boolean timedByTimer() {
        return false; // the waiter keeps the time in await()
    }

    /** Whether the record may be reused after the caller consumed its outcome. */
    boolean recyclable() {
        return !queued; // no timer ever sees a blocking call: its waiter keeps the time
    }
}
