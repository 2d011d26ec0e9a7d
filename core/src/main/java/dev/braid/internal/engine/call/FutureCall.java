package dev.braid.internal.engine.call;

import dev.braid.Reply;
import dev.braid.buffer.PooledBuffer;

import java.util.concurrent.CompletableFuture;

/** A call whose outcome is a {@link CompletableFuture} (the convenient API; allocates per call). Never recycled. */
public final class FutureCall extends CallRecord {
    public final Future future = new Future(this);

    FutureCall(final ClientCalls calls) {
        super(calls);
    }

    @Override
    boolean completeWithReply(final PooledBuffer reply) {
        final ReplyImpl r = new ReplyImpl(procedure, serial, reply);
        return future.complete(r); // false: the caller releases the frame; r is never seen by anyone
    }

    @Override
    boolean completeExceptionally(final Throwable error) {
        return future.completeExceptionally(error);
    }

    @Override
    boolean isCompleted() {
        return future.isDone();
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
