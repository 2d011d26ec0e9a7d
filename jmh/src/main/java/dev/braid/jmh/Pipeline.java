package dev.braid.jmh;

import dev.braid.CallOptions;
import dev.braid.Connection;
import dev.braid.BraidException;
import dev.braid.Procedure;
import dev.braid.ReplyHandler;

import java.nio.ByteBuffer;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Keeps {@code depth} calls in flight on a connection: {@link #next()} waits for a free slot, then starts a
 * call whose completion frees the slot. One {@code next()} is one call, so ops/s is calls/s.
 * Used by one benchmark thread at a time.
 */
final class Pipeline {
    private final Connection connection;
    private final int depth;
    private final Semaphore free;
    private final ByteBuffer args = ByteBuffer.allocateDirect(BraidFixture.PAYLOAD);
    private final AtomicReference<Throwable> failure = new AtomicReference<>();
    /** One handler for every call: the reply path allocates nothing. Runs on the client's I/O thread. */
    private final ReplyHandler handler = new ReplyHandler() {
        @Override
        public void onReply(final Procedure procedure, final int serial, final ByteBuffer payload) {
            free.release();
        }

        @Override
        public void onFailure(final Procedure procedure, final int serial, final BraidException error) {
            failure.compareAndSet(null, error);
            free.release();
        }
    };

    Pipeline(final Connection connection, final int depth) {
        this.connection = connection;
        this.depth = depth;
        this.free = new Semaphore(depth);
    }

    int next() throws InterruptedException {
        free.acquire();
        final Throwable t = failure.get();
        if (t != null) {
            throw new IllegalStateException("a pipelined call failed", t);
        }
        connection.callAsync(BraidFixture.ECHO, args.clear(), CallOptions.DEFAULT, handler);
        return depth;
    }

    /** Waits until every call started has completed (bounded). */
    void drain() throws InterruptedException {
        if (!free.tryAcquire(depth, 30, TimeUnit.SECONDS)) {
            throw new IllegalStateException((depth - free.availablePermits()) + " pipelined calls still outstanding after 30 s");
        }
        free.release(depth);
    }
}
