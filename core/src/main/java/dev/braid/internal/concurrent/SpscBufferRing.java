package dev.braid.internal.concurrent;

import dev.braid.buffer.PooledBuffer;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * Bounded single-producer single-consumer ring of {@link PooledBuffer}s: a stream's outbound packets, from
 * the application thread that writes the stream to the connection's writer thread.
 *
 * <p><b>Threads.</b> {@link #offer}, {@link #offerPair} by one producer thread at a time; {@link #poll},
 * {@link #peek} by one consumer thread at a time. {@link #size()} and {@link #isEmpty()} from either (a snapshot).
 *
 * <p><b>Memory ordering.</b> The producer stores the element (plain), then publishes it with a release
 * store of {@code tail}; the consumer reads {@code tail} with acquire before it reads the element. The
 * consumer clears the slot (plain), then frees it with a release store of {@code head}; the producer reads
 * {@code head} with acquire before reusing the slot. Each side caches the other's index and re-reads it only
 * when the cache says the ring is full (producer) or empty (consumer). Counters are padded apart: they are
 * written by different threads.
 *
 * <p><b>Ownership.</b> {@code offer} moves the buffer into the ring; {@code poll} moves it out to the caller.
 */
public final class SpscBufferRing {
    private static final VarHandle HEAD;
    private static final VarHandle TAIL;
    private static final VarHandle SLOTS = MethodHandles.arrayElementVarHandle(PooledBuffer[].class);

    static {
        try {
            final MethodHandles.Lookup l = MethodHandles.lookup();
            HEAD = l.findVarHandle(SpscBufferRing.class, "head", long.class);
            TAIL = l.findVarHandle(SpscBufferRing.class, "tail", long.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final PooledBuffer[] slots;
    private final int mask;
    @SuppressWarnings("unused") private long p01, p02, p03, p04, p05, p06, p07;
    /** Next slot to fill; written by the producer. */
    private volatile long tail;
    private long headCache; // producer's view of head
    @SuppressWarnings("unused") private long p11, p12, p13, p14, p15, p16, p17;
    /** Next slot to take; written by the consumer. */
    private volatile long head;
    private long tailCache; // consumer's view of tail
    @SuppressWarnings("unused") private long p21, p22, p23, p24, p25, p26, p27;

    public SpscBufferRing(final int requestedCapacity) {
        if (requestedCapacity < 1 || requestedCapacity > 1 << 20) {
            throw new IllegalArgumentException("capacity " + requestedCapacity + " out of range [1, 2^20]");
        }
        int capacity = 1;
        while (capacity < requestedCapacity) {
            capacity <<= 1;
        }
        slots = new PooledBuffer[capacity];
        mask = slots.length - 1;
    }

    public int capacity() {
        return slots.length;
    }

    /** Producer. Returns false (and keeps ownership with the caller) when the ring is full. */
    public boolean offer(final PooledBuffer b) {
        final long t = (long) TAIL.getOpaque(this);
        if (t - headCache >= slots.length) {
            headCache = (long) HEAD.getAcquire(this);
            if (t - headCache >= slots.length) {
                return false;
            }
        }
        SLOTS.set(slots, (int) t & mask, b);
        TAIL.setRelease(this, t + 1);
        return true;
    }

    /**
     * Producer: offers two buffers that the consumer must see together (a frame's header and its payload):
     * both slots are filled before one release store of {@code tail} publishes them, so the consumer sees
     * neither or both. Returns false (ownership stays with the caller) when fewer than two slots are free.
     */
    public boolean offerPair(final PooledBuffer first, final PooledBuffer second) {
        final long t = (long) TAIL.getOpaque(this);
        if (t + 1 - headCache >= slots.length) {
            headCache = (long) HEAD.getAcquire(this);
            if (t + 1 - headCache >= slots.length) {
                return false;
            }
        }
        SLOTS.set(slots, (int) t & mask, first);
        SLOTS.set(slots, (int) (t + 1) & mask, second);
        TAIL.setRelease(this, t + 2);
        return true;
    }

    /** Consumer. Returns null when empty. */
    public PooledBuffer poll() {
        final long h = (long) HEAD.getOpaque(this);
        if (h >= tailCache) {
            tailCache = (long) TAIL.getAcquire(this);
            if (h >= tailCache) {
                return null;
            }
        }
        final int i = (int) h & mask;
        final PooledBuffer b = (PooledBuffer) SLOTS.get(slots, i);
        SLOTS.set(slots, i, null);
        HEAD.setRelease(this, h + 1);
        return b;
    }

    /** Consumer: the next buffer without taking it, or null. */
    public PooledBuffer peek() {
        final long h = (long) HEAD.getOpaque(this);
        if (h >= tailCache) {
            tailCache = (long) TAIL.getAcquire(this);
            if (h >= tailCache) {
                return null;
            }
        }
        return (PooledBuffer) SLOTS.get(slots, (int) h & mask);
    }

    /**
     * Either thread: a snapshot. Volatile reads, so that it can serve as the second half of a Dekker-style
     * check (publish a flag, then look at the ring) on any platform, not only where acquire happens to fence.
     */
    public int size() {
        final long h = (long) HEAD.getVolatile(this);
        final long t = (long) TAIL.getVolatile(this);
        return (int) Math.max(0, t - h);
    }

    /** Either thread: whether every slot is taken (volatile reads, see {@link #size()}). */
    public boolean isFullVolatile() {
        return size() >= slots.length;
    }

    public boolean isEmpty() {
        return size() == 0;
    }
}
