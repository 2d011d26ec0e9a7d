package dev.braid.internal.engine.call;

import dev.braid.Reply;
import dev.braid.buffer.PooledBuffer;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.CompletableFuture;

/**
 * A call whose outcome is a {@link CompletableFuture} (the convenient API; allocates per call). Never recycled.
 *
 * <p>The outcome is decided on the completing thread (a CAS on {@code decided}: exactly one of reply and
 * failure wins) and the future completed through {@link Callbacks}, so its dependent stages run on the
 * callback executor. A reply that finds the future cancelled by then is released and counted as late. An
 * internal call (HELLO, a stream's opening) may ask for {@link Callbacks#DIRECT}: its stages are braid's own
 * and never block.
 */
public final class FutureCall extends CallRecord {
    private static final VarHandle DECIDED;

    static {
        try {
            DECIDED = MethodHandles.lookup().findVarHandle(FutureCall.class, "decided", boolean.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    public final Future future = new Future(this);
    private final Callbacks callbacks;
    @SuppressWarnings("unused") // accessed through DECIDED
    private volatile boolean decided;

    FutureCall(final ClientCalls calls, final Callbacks callbacks) {
        super(calls);
        this.callbacks = callbacks;
    }

    @Override
    boolean completeWithReply(final PooledBuffer reply) {
        if (future.isDone() || !DECIDED.compareAndSet(this, false, true)) {
            return false; // cancelled or failed: the caller releases the frame and counts it late
        }
        final ReplyImpl r = new ReplyImpl(procedure, serial, reply);
        if (callbacks.direct()) {
            if (!future.complete(r)) { // cancelled just now
                r.close();
                calls.lateReply();
            }
            return true;
        }
        callbacks.execute(() -> {
            if (!future.complete(r)) { // cancelled while the task waited: nobody will see r
                r.close();
                calls.lateReply();
            }
        });
        return true;
    }

    @Override
    boolean completeExceptionally(final Throwable error) {
        if (future.isDone() || !DECIDED.compareAndSet(this, false, true)) {
            return false;
        }
        callbacks.fail(future, error);
        return true;
    }

    @Override
    boolean isCompleted() {
        return (boolean) DECIDED.getVolatile(this) || future.isDone();
    }

    /** The future the caller holds: cancelling it drops the call if it was not sent yet. */
    public static final class Future extends CompletableFuture<Reply> {
        private final FutureCall call;

        Future(final FutureCall call) {
            this.call = call;
        }

        @Override
        public boolean cancel(final boolean mayInterruptIfRunning) {
            final boolean cancelled = super.cancel(mayInterruptIfRunning);
            if (cancelled) {
                call.calls.abandon(call);
                call.calls.ended(call, dev.braid.BraidObserver.CallOutcome.CANCELLED);
            }
            return cancelled;
        }

        @Override
        public String toString() {
            return call + " " + super.toString();
        }
    }
}
