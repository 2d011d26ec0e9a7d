package dev.braid.jmh;

import dev.braid.BraidException;
import dev.braid.CallOptions;
import dev.braid.Connection;
import dev.braid.Procedure;
import dev.braid.ReplyHandler;

import java.nio.ByteBuffer;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;

/**
 * Keeps {@code depth} calls in flight on a connection: {@link #next()} waits for a free slot, then starts a
 * call whose completion frees the slot. One {@code next()} is one call, so ops/s is calls/s. Used by one
 * benchmark thread at a time.
 *
 * <p>The window is a counter and a park/unpark of the one waiting thread, not a {@code Semaphore}: a
 * semaphore allocates a queue node each time its caller blocks, which would show in {@code -prof gc} as
 * the benchmark's allocation rather than braid's.
 */
final class Pipeline {
    private final Connection connection;
    private final int depth;
    private final AtomicInteger inFlight = new AtomicInteger();
    private volatile Thread waiter;
    private final ByteBuffer args = ByteBuffer.allocateDirect(BraidFixture.PAYLOAD);
    private final AtomicReference<Throwable> failure = new AtomicReference<>();
    /** One handler for every call: the reply path allocates nothing. Runs on the client's I/O thread (the fixture's DIRECT_CALLBACKS). */
    private final ReplyHandler handler = new ReplyHandler() {
        @Override
        public void onReply(final Procedure procedure, final int serial, final ByteBuffer payload) {
            done();
        }

        @Override
        public void onFailure(final Procedure procedure, final int serial, final BraidException error) {
            failure.compareAndSet(null, error);
            done();
        }
    };

    Pipeline(final Connection connection, final int depth) {
        this.connection = connection;
        this.depth = depth;
    }

    private void done() {
        inFlight.decrementAndGet();
        final Thread w = waiter;
        if (w != null) {
            LockSupport.unpark(w);
        }
    }

    int next() {
        if (inFlight.get() >= depth) {
            waiter = Thread.currentThread();
            while (inFlight.get() >= depth) {
                LockSupport.parkNanos(this, 1_000_000);
            }
            waiter = null;
        }
        final Throwable t = failure.get();
        if (t != null) {
            throw new IllegalStateException("a pipelined call failed", t);
        }
        inFlight.incrementAndGet();
        connection.callAsync(BraidFixture.ECHO, args.clear(), CallOptions.DEFAULT, handler);
        return depth;
    }

    /** Waits until every call started has completed (bounded). */
    void drain() {
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (inFlight.get() > 0) {
            if (System.nanoTime() - deadline > 0) {
                throw new IllegalStateException(inFlight.get() + " pipelined calls still outstanding after 30 s");
            }
            LockSupport.parkNanos(1_000_000);
        }
    }
}
