package dev.braid.jcstress;

import dev.braid.buffer.BufferPool;
import dev.braid.buffer.PooledBuffer;

/**
 * Buffers for the queue tests: real {@link PooledBuffer}s (the queues link them through their own field),
 * taken from one pool in each test state's constructor and given back by its arbiter, so the pool recycles
 * them across the millions of states a run makes.
 */
final class Buffers {
    private static final BufferPool POOL = new BufferPool();

    private Buffers() {
    }

    /** A buffer whose first int is 0 (a recycled one may hold a value from its last test). */
    static PooledBuffer fresh() {
        final PooledBuffer b = POOL.acquire(16);
        b.byteBuffer().putInt(0, 0);
        return b;
    }

    /** 0 for null, else the 1-based position of {@code b} among {@code known} (-1 for a stranger). */
    static int id(final PooledBuffer b, final PooledBuffer... known) {
        if (b == null) {
            return 0;
        }
        for (int i = 0; i < known.length; i++) {
            if (b == known[i]) {
                return i + 1;
            }
        }
        return -1;
    }

    static void release(final PooledBuffer... buffers) {
        for (PooledBuffer b : buffers) {
            b.release();
        }
    }
}
