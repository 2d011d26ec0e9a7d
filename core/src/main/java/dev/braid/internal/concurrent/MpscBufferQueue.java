package dev.braid.internal.concurrent;

import dev.braid.buffer.PooledBuffer;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * Unbounded multi-producer single-consumer FIFO of {@link PooledBuffer}s, intrusive (it links buffers
 * through a field of their own) and therefore allocation-free.
 *
 * <p><b>Threads.</b> {@link #offer} may be called by any thread. {@link #poll}, {@link #peek} and
 * {@link #isEmpty()} must be called by one consumer thread at a time (the connection's writer).
 *
 * <p><b>How.</b> Producers push onto a lock-free stack ({@code head}, CAS; a release publish of the
 * buffer's contents and its link). The consumer takes the whole stack at once with an acquiring
 * {@code getAndSet(null)} and reverses it into a private FIFO chain, so producers and the consumer never
 * touch the same node and the stack cannot suffer ABA. Each producer's buffers come out in the order that
 * producer offered them.
 *
 * <p><b>Ownership.</b> {@link #offer} hands the buffer to the queue; {@link #poll} hands it to the caller.
 */
public final class MpscBufferQueue {
    private static final VarHandle HEAD;

    static {
        try {
            HEAD = MethodHandles.lookup().findVarHandle(MpscBufferQueue.class, "head", PooledBuffer.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    @SuppressWarnings("unused") // accessed through HEAD
    private volatile PooledBuffer head;
    /** Consumer-private FIFO chain. */
    private PooledBuffer chain;

    /** Any thread. The queue owns {@code buffer} from now on. */
    public void offer(final PooledBuffer buffer) {
        PooledBuffer h;
        do {
            h = (PooledBuffer) HEAD.getVolatile(this);
            ((QueueLink) buffer).next = h; // PooledBuffer does not inherit the package-private link
        } while (!HEAD.compareAndSet(this, h, buffer));
    }

    /** Consumer only. The caller owns the returned buffer. */
    public PooledBuffer poll() {
        PooledBuffer b = chain;
        if (b == null) {
            b = takeAll();
            if (b == null) {
                return null;
            }
        }
        final QueueLink link = b;
        chain = (PooledBuffer) link.next;
        link.next = null;
        return b;
    }

    /** Consumer only: the next buffer without removing it (still owned by the queue). */
    public PooledBuffer peek() {
        if (chain == null) {
            chain = takeAll();
        }
        return chain;
    }

    /** Consumer only. */
    public boolean isEmpty() {
        return chain == null && HEAD.getVolatile(this) == null;
    }

    /**
     * Any thread: whether producers have offered something the consumer has not taken yet (a volatile read
     * of the shared stack; buffers the consumer already took into its private chain are not seen).
     */
    public boolean isEmptyVolatile() {
        return HEAD.getVolatile(this) == null;
    }

    private PooledBuffer takeAll() {
        PooledBuffer stack = (PooledBuffer) HEAD.getAndSet(this, null);
        PooledBuffer fifo = null;
        while (stack != null) {
            final QueueLink link = stack;
            final PooledBuffer n = (PooledBuffer) link.next;
            link.next = fifo;
            fifo = stack;
            stack = n;
        }
        return fifo;
    }
}
