package dev.braid.jmh;

import dev.braid.BraidException;
import dev.braid.CallOptions;
import dev.braid.Connection;
import dev.braid.TypedReplyHandler;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;

/**
 * {@link Pipeline} for typed calls: keeps {@code depth} typed calls to {@link BraidFixture#TYPED} in flight,
 * one {@link TypedReplyHandler} for all of them, each call carrying its slot's request object as its
 * attachment (the per-call context the handler checks its reply against). One benchmark thread at a time.
 */
final class TypedPipeline {
    private final Connection connection;
    private final int depth;
    private final AtomicInteger inFlight = new AtomicInteger();
    private final AtomicReference<Throwable> failure = new AtomicReference<>();
    private final Sample[] slots;
    private int next;
    private volatile Thread waiter;
    private final TypedReplyHandler<Sample> handler = new TypedReplyHandler<>() {
        @Override
        public void onReply(final int serial, final Sample reply, final Object attachment) {
            if (reply.value != ((Sample) attachment).value + 1) {
                failure.compareAndSet(null, new IllegalStateException("reply " + reply.value + " to request "
                        + ((Sample) attachment).value));
            }
            done();
        }

        @Override
        public void onFailure(final int serial, final BraidException error, final Object attachment) {
            failure.compareAndSet(null, error);
            done();
        }
    };

    TypedPipeline(final Connection connection, final int depth) {
        this.connection = connection;
        this.depth = depth;
        this.slots = new Sample[depth * 2];
        for (int i = 0; i < slots.length; i++) {
            slots[i] = new Sample();
            slots[i].id = i;
        }
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
            throw new IllegalStateException("a typed pipelined call failed", t);
        }
        // 2 x depth request objects in rotation: one is never reused while its call can still be in flight
        final Sample request = slots[next];
        next = (next + 1) % slots.length;
        request.value++;
        inFlight.incrementAndGet();
        connection.callAsync(BraidFixture.TYPED, request, CallOptions.DEFAULT, handler, request);
        return depth;
    }

    void drain() {
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (inFlight.get() > 0) {
            if (System.nanoTime() - deadline > 0) {
                throw new IllegalStateException(inFlight.get() + " typed calls still outstanding after 30 s");
            }
            LockSupport.parkNanos(1_000_000);
        }
    }
}
