package dev.braid.internal.concurrent;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * Bounded many-producer many-consumer queue (Dmitry Vyukov's sequence-numbered ring), lock-free and
 * allocation-free after construction. Used for the buffer pool's free lists, recycled call records and event-loop task queues.
 *
 * <p>Memory ordering: a producer writes the element (plain) and then publishes the slot by a release
 * store of its sequence; a consumer acquires the sequence before it reads the element, and releases the
 * slot for the next lap with another release store. The head and tail counters are claimed with CAS.
 */
public final class MpmcArrayQueue<E> {
    private static final VarHandle SEQUENCES = MethodHandles.arrayElementVarHandle(long[].class);
    private static final VarHandle ELEMENTS = MethodHandles.arrayElementVarHandle(Object[].class);
    private static final VarHandle HEAD;
    private static final VarHandle TAIL;

    static {
        try {
            final MethodHandles.Lookup lookup = MethodHandles.lookup();
            HEAD = lookup.findVarHandle(MpmcArrayQueue.class, "head", long.class);
            TAIL = lookup.findVarHandle(MpmcArrayQueue.class, "tail", long.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final long[] sequences;
    private final Object[] elements;
    private final int mask;
    // head and tail are written by different threads; padding keeps them off one cache line.
    @SuppressWarnings("unused") private long p01, p02, p03, p04, p05, p06, p07;
    private volatile long tail;
    @SuppressWarnings("unused") private long p11, p12, p13, p14, p15, p16, p17;
    private volatile long head;
    @SuppressWarnings("unused") private long p21, p22, p23, p24, p25, p26, p27;

    public MpmcArrayQueue(final int requestedCapacity) {
        final int capacity = Math.max(2, Integer.highestOneBit(Math.max(1, requestedCapacity - 1)) << 1);
        sequences = new long[capacity];
        elements = new Object[capacity];
        mask = capacity - 1;
        for (int i = 0; i < capacity; i++) {
            sequences[i] = i;
        }
    }

    public int capacity() {
        return elements.length;
    }

    /** Returns false if the queue is full. */
    public boolean offer(final E e) {
        long t = (long) TAIL.getVolatile(this);
        while (true) {
            final int index = (int) t & mask;
            final long seq = (long) SEQUENCES.getAcquire(sequences, index);
            final long diff = seq - t;
            if (diff == 0) {
                if (TAIL.compareAndSet(this, t, t + 1)) {
                    ELEMENTS.set(elements, index, e);
                    SEQUENCES.setRelease(sequences, index, t + 1);
                    return true;
                }
                t = (long) TAIL.getVolatile(this);
            } else if (diff < 0) {
                return false;
            } else {
                t = (long) TAIL.getVolatile(this);
            }
        }
    }

    /** Whether the queue looked empty at some instant during the call (exact only when no one offers or polls). */
    public boolean isEmpty() {
        return (long) HEAD.getVolatile(this) == (long) TAIL.getVolatile(this);
    }

    /** Returns null if the queue is empty. */
    @SuppressWarnings("unchecked")
    public E poll() {
        long h = (long) HEAD.getVolatile(this);
        while (true) {
            final int index = (int) h & mask;
            final long seq = (long) SEQUENCES.getAcquire(sequences, index);
            final long diff = seq - (h + 1);
            if (diff == 0) {
                if (HEAD.compareAndSet(this, h, h + 1)) {
                    final E e = (E) ELEMENTS.get(elements, index);
                    ELEMENTS.set(elements, index, null);
                    SEQUENCES.setRelease(sequences, index, h + mask + 1);
                    return e;
                }
                h = (long) HEAD.getVolatile(this);
            } else if (diff < 0) {
                return null;
            } else {
                h = (long) HEAD.getVolatile(this);
            }
        }
    }
}
