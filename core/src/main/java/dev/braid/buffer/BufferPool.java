package dev.braid.buffer;

import dev.braid.internal.concurrent.MpmcArrayQueue;
import dev.braid.spi.SystemProperties;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

/**
 * A pool of direct, big-endian buffers in a few size classes, shared by I/O threads and application
 * threads without locks.
 *
 * <p>Each size class keeps its free buffers in a bounded lock-free queue. {@link #acquire(int)} takes one
 * (or allocates a new one when the class is empty); {@link PooledBuffer#release()} puts it back (or drops it
 * for the garbage collector when the class already retains its maximum). There is no thread-local cache, so
 * the pool suits virtual threads: a buffer released by one thread is immediately reusable by any other, and
 * a million short-lived threads retain nothing.
 *
 * <p>Requests larger than the largest class get a one-off buffer of exactly the requested size (rounded up
 * to 4 KiB); it is counted like the others but not retained after release.
 *
 * <p>The pool counts buffers out and back: {@link #outstanding()} is exact whenever no acquire or release
 * is running. Every braid test ends by asserting it is zero. With {@code trackLeaks} on, the pool also
 * records where each outstanding buffer was acquired, for {@link #describeLeaks()}.
 */
public final class BufferPool {
    /** Size classes. The 270,336-byte class holds a full libvirt stream packet (262,120 + 28 bytes). */
    private static final int[] CLASS_SIZES = {512, 2_048, 8_192, 32_768, 131_072, 270_336, 1_048_576, 4_194_304};

    /** Largest one-off buffer: the largest int that is a multiple of 4 KiB (one-offs are rounded up to 4 KiB). */
    private static final int MAX_CAPACITY = Integer.MAX_VALUE & ~4095;

    /** Default total bytes each size class may keep (at most; see {@link #trimIfIdle}). */
    public static final long DEFAULT_RETAINED_BYTES_PER_CLASS = 16L * 1024 * 1024;

    /**
     * What each size class keeps once the pool is idle (issue 11 §1.6): {@link #trimIfIdle} drops free buffers
     * beyond it. With the minimum of two buffers per class, an idle pool retains at most about 15 MiB
     * (1 MiB in each of the six smaller classes, two buffers of 1 MiB and two of 4 MiB), down from up to 16 MiB
     * per class (128 MiB) after a flood.
     */
    public static final long IDLE_RETAINED_BYTES_PER_CLASS = 1L << 20;

    /** How often a braid trims its own pool ({@link #trimIfIdle}), in seconds. */
    public static final long IDLE_TRIM_PERIOD_SECONDS = 10;

    private final MpmcArrayQueue<PooledBuffer>[] free;
    private final LongAdder acquired = new LongAdder();
    private final LongAdder released = new LongAdder();
    private final AtomicLong allocatedBytes = new AtomicLong();
    private final AtomicLong allocations = new AtomicLong();
    private final Map<PooledBuffer, Throwable> leakTraces;
    private final Allocator allocator;
    /** Most bytes {@link #allocatedBytes} may reach (lent out and retained); Long.MAX_VALUE: no budget. */
    private final long maxAllocatedBytes;

    /**
     * Where a pool's memory comes from: {@link #DIRECT} ({@code ByteBuffer.allocateDirect}) unless the pool
     * was built with another. An allocator may refuse by throwing (an {@link OutOfMemoryError}, as the JDK
     * does when direct memory is exhausted, or a runtime exception); the pool then counts nothing and the
     * acquire throws the same. Tests use this to make one allocation fail where a real server would run out
     * of memory. Called on whichever thread acquires; must be thread-safe.
     */
    @FunctionalInterface
    public interface Allocator {
        /**
         * New memory for a pooled buffer.
         *
         * @param capacity the capacity wanted, in bytes
         * @return a direct buffer of exactly {@code capacity} bytes, position 0, limit = capacity
         */
        ByteBuffer allocate(int capacity);
    }

    /** The default allocator: {@code ByteBuffer.allocateDirect}. */
    public static final Allocator DIRECT = ByteBuffer::allocateDirect;

    /** A pool with the default retention and no leak tracking. */
    public BufferPool() {
        this(DEFAULT_RETAINED_BYTES_PER_CLASS, SystemProperties.booleanValue("braid.pool.trackLeaks", false));
    }

    /**
     * A pool with the default retention that holds at most {@code maxAllocatedBytes} of direct memory, lent
     * out and retained together. An acquire that would go beyond it first drops the free buffers the pool
     * retains, then fails with a {@link dev.braid.LimitExceededException} naming {@code maxPooledBytes}.
     *
     * @param maxAllocatedBytes the budget in bytes, at least 1
     * @throws IllegalArgumentException if the budget is below 1
     */
    public BufferPool(final long maxAllocatedBytes) {
        this(DEFAULT_RETAINED_BYTES_PER_CLASS, SystemProperties.booleanValue("braid.pool.trackLeaks", false),
                DIRECT, maxAllocatedBytes);
    }

    /**
     * A pool that keeps up to {@code retainedBytesPerClass} bytes of free buffers in each size class.
     *
     * @param retainedBytesPerClass how many bytes of free buffers each size class may keep (at least 2
     *                              buffers per class are always kept)
     * @param trackLeaks            record the acquiring stack of every outstanding buffer (slow; for tests)
     */
    public BufferPool(final long retainedBytesPerClass, final boolean trackLeaks) {
        this(retainedBytesPerClass, trackLeaks, DIRECT);
    }

    /**
     * A pool that keeps up to {@code retainedBytesPerClass} bytes of free buffers in each size class and takes
     * its memory from {@code allocator}.
     *
     * @param retainedBytesPerClass how many bytes of free buffers each size class may keep (at least 2
     *                              buffers per class are always kept)
     * @param trackLeaks            record the acquiring stack of every outstanding buffer (slow; for tests)
     * @param allocator             where new memory comes from (see {@link Allocator})
     * @throws NullPointerException if {@code allocator} is null
     */
    public BufferPool(final long retainedBytesPerClass, final boolean trackLeaks, final Allocator allocator) {
        this(retainedBytesPerClass, trackLeaks, allocator, Long.MAX_VALUE);
    }

    /**
     * A pool with every setting given.
     *
     * @param retainedBytesPerClass how many bytes of free buffers each size class may keep (at least 2
     *                              buffers per class are always kept)
     * @param trackLeaks            record the acquiring stack of every outstanding buffer (slow; for tests)
     * @param allocator             where new memory comes from (see {@link Allocator})
     * @param maxAllocatedBytes     most direct memory the pool may hold, lent out and retained (see
     *                              {@link #BufferPool(long)}); {@code Long.MAX_VALUE} for no budget
     * @throws NullPointerException     if {@code allocator} is null
     * @throws IllegalArgumentException if a size is negative or the budget below 1
     */
    @SuppressWarnings({"unchecked", "rawtypes"})
    public BufferPool(final long retainedBytesPerClass, final boolean trackLeaks, final Allocator allocator,
                      final long maxAllocatedBytes) {
        if (maxAllocatedBytes < 1) {
            throw new IllegalArgumentException("maxAllocatedBytes must be >= 1: " + maxAllocatedBytes);
        }
        this.maxAllocatedBytes = maxAllocatedBytes;
        this.allocator = java.util.Objects.requireNonNull(allocator, "allocator");
        if (retainedBytesPerClass < 0) {
            throw new IllegalArgumentException("retainedBytesPerClass must be >= 0: " + retainedBytesPerClass);
        }
        free = new MpmcArrayQueue[CLASS_SIZES.length];
        for (int i = 0; i < CLASS_SIZES.length; i++) {
            final long count = Math.min(8192, Math.max(2, retainedBytesPerClass / CLASS_SIZES[i]));
            free[i] = new MpmcArrayQueue<>((int) count);
        }
        leakTraces = trackLeaks ? new ConcurrentHashMap<>() : null;
    }

    /**
     * The capacity a buffer of {@code capacity} bytes should grow to: the next size class above it, or four
     * times it beyond the largest class (never past {@code Integer.MAX_VALUE} rounded down to 4 KiB). Growing
     * by classes keeps every step within about four times what it replaces.
     *
     * @param capacity a current capacity, at least 0
     * @return the next capacity, larger than {@code capacity} unless it is already the largest possible
     */
    public static int nextCapacity(final int capacity) {
        for (int size : CLASS_SIZES) {
            if (size > capacity) {
                return size;
            }
        }
        return (int) Math.min(MAX_CAPACITY, 4L * capacity);
    }

    /**
     * Largest capacity served from a retained size class.
     *
     * @return the size in bytes
     */
    public static int largestClassSize() {
        return CLASS_SIZES[CLASS_SIZES.length - 1];
    }

    /**
     * Lends a buffer of at least {@code minCapacity} bytes, position 0, limit = capacity. The caller owns it
     * and must {@link PooledBuffer#release() release} it exactly once (or hand it to an API that says it
     * takes ownership).
     *
     * @param minCapacity the smallest capacity wanted, in bytes
     * @return the buffer, now owned by the caller
     */
    public PooledBuffer acquire(final int minCapacity) {
        if (minCapacity < 0) {
            throw new IllegalArgumentException("negative capacity: " + minCapacity);
        }
        if (minCapacity > MAX_CAPACITY) { // rounding it up to 4 KiB would overflow
            throw new IllegalArgumentException("capacity " + minCapacity + " exceeds the largest buffer the pool "
                    + "can lend (" + MAX_CAPACITY + " bytes)");
        }
        final int cls = sizeClassOf(minCapacity);
        PooledBuffer b = null;
        if (cls >= 0) {
            b = free[cls].poll();
            if (b == null) {
                b = allocate(cls, CLASS_SIZES[cls]);
            }
        } else {
            b = allocate(-1, (minCapacity + 4095) & ~4095);
        }
        b.markAcquired();
        acquired.increment();
        if (leakTraces != null) {
            leakTraces.put(b, new Throwable("acquired here (capacity " + b.capacity() + ")"));
        }
        return b;
    }

    /**
     * Lends {@code memory} as a pooled buffer without copying it: memory the caller owns (a direct buffer of
     * its own, a mapped file region) handed to an API that takes a {@link PooledBuffer}. It is counted in
     * {@link #outstanding()} like any buffer lent out; its {@link PooledBuffer#release() release} (exactly
     * once, by whoever owns it then) runs {@code onRelease} instead of recycling anything, on the releasing
     * thread, and the memory is the caller's again from then on. {@code onRelease} must not block; an
     * exception it throws is logged, not propagated. The buffer's position and limit are the caller's until
     * it hands the buffer over. Any thread.
     *
     * @param memory the caller's memory to lend, not copied
     * @param onRelease run once when the buffer is released, handing the memory back to the caller
     * @return a pooled buffer over {@code memory}, counted as outstanding until released
     * @throws NullPointerException if {@code memory} or {@code onRelease} is null
     */
    public PooledBuffer wrap(final ByteBuffer memory, final Runnable onRelease) {
        java.util.Objects.requireNonNull(memory, "memory");
        java.util.Objects.requireNonNull(onRelease, "onRelease");
        final PooledBuffer b = new PooledBuffer(this, memory, onRelease);
        acquired.increment();
        if (leakTraces != null) {
            leakTraces.put(b, new Throwable("wrapped here (" + memory.remaining() + " bytes of the caller's memory)"));
        }
        return b;
    }

    /** A wrapped buffer was released: count it back and tell its owner. */
    void releasedWrapped(final PooledBuffer b, final Runnable onRelease) {
        if (leakTraces != null) {
            leakTraces.remove(b);
        }
        released.increment();
        try {
            onRelease.run();
        } catch (RuntimeException | Error e) {
            System.getLogger("dev.braid.buffer").log(System.Logger.Level.WARNING,
                    "the release callback of a wrapped buffer failed", e);
        }
    }

    void recycle(final PooledBuffer b) {
        if (leakTraces != null) {
            leakTraces.remove(b);
        }
        released.increment();
        if (b.sizeClass < 0 || !free[b.sizeClass].offer(b)) {
            allocatedBytes.addAndGet(-b.capacity()); // dropped: the GC frees the memory
        }
    }

    private PooledBuffer allocate(final int cls, final int capacity) {
        reserve(capacity);
        final ByteBuffer memory;
        try {
            memory = allocator.allocate(capacity); // may throw OutOfMemoryError: count only what exists
        } catch (Throwable t) {
            allocatedBytes.addAndGet(-capacity);
            throw t;
        }
        if (!memory.isDirect() || memory.capacity() != capacity) {
            throw new IllegalStateException("the pool's allocator returned " + memory + " for " + capacity
                    + " bytes: it must return a direct buffer of exactly that capacity");
        }
        final PooledBuffer b = new PooledBuffer(this, cls, memory);
        allocations.incrementAndGet();
        return b;
    }

    /**
     * Counts {@code capacity} more bytes against the budget before allocating them; beyond it, drops the
     * free buffers retained and tries once more, then refuses.
     */
    private void reserve(final int capacity) {
        if (allocatedBytes.addAndGet(capacity) <= maxAllocatedBytes) {
            return;
        }
        allocatedBytes.addAndGet(-capacity);
        trim(0);
        final long after = allocatedBytes.addAndGet(capacity);
        if (after > maxAllocatedBytes) {
            allocatedBytes.addAndGet(-capacity);
            throw new dev.braid.LimitExceededException("maxPooledBytes", maxAllocatedBytes, "cannot lend a buffer of "
                    + capacity + " bytes: the pool holds " + (after - capacity) + " bytes of direct memory");
        }
    }

    /**
     * Drops free buffers until each size class retains at most {@code keepBytesPerClass} bytes (at least none),
     * and returns how many bytes it dropped. The pool stops counting them at once; the JDK frees a dropped
     * buffer's direct memory when the garbage collector finds it unreachable (its cleaner runs then), so the
     * process's memory follows at the next GC, not at this call. Any thread.
     *
     * @param keepBytesPerClass bytes of free buffers each class may keep
     * @return the bytes dropped
     */
    public long trim(final long keepBytesPerClass) {
        long dropped = 0;
        for (int i = 0; i < free.length; i++) {
            final long keep = Math.max(0, keepBytesPerClass) / CLASS_SIZES[i];
            final List<PooledBuffer> kept = new ArrayList<>();
            PooledBuffer b;
            while ((b = free[i].poll()) != null) {
                if (kept.size() < keep) {
                    kept.add(b);
                } else {
                    dropped += b.capacity();
                    allocatedBytes.addAndGet(-b.capacity());
                }
            }
            for (PooledBuffer k : kept) {
                if (!free[i].offer(k)) { // released buffers arrived meanwhile: this one goes
                    dropped += k.capacity();
                    allocatedBytes.addAndGet(-k.capacity());
                }
            }
        }
        return dropped;
    }

    /**
     * Drops free buffers beyond {@code keepBytesPerClass} per size class ({@link #trim}) unless the pool has
     * allocated since the last call: a pool that had to grow is busy, one that did not has more retained than
     * its work needs. A braid calls it every {@link #IDLE_TRIM_PERIOD_SECONDS} on its own pool with
     * {@link #IDLE_RETAINED_BYTES_PER_CLASS}, so after a flood its pool is back to its idle size within two
     * periods of quiet (20 s). As {@link #trim} says, the JDK then frees the dropped memory at its next garbage
     * collection. One caller at a time (the braid's timer thread).
     *
     * @param keepBytesPerClass bytes of free buffers each class may keep
     * @return the bytes dropped (0 if the pool allocated since the last call)
     */
    public long trimIfIdle(final long keepBytesPerClass) {
        final long a = allocations.get();
        final boolean grew = a != allocationsAtLastTrim;
        allocationsAtLastTrim = a;
        return grew ? 0 : trim(keepBytesPerClass);
    }

    /** {@link #allocations} at the last {@link #trimIfIdle}; its one caller's. */
    private volatile long allocationsAtLastTrim = -1;

    /**
     * The budget: most direct memory this pool may hold, lent out and retained.
     *
     * @return bytes, {@code Long.MAX_VALUE} when there is none
     */
    public long maxAllocatedBytes() {
        return maxAllocatedBytes;
    }

    private static int sizeClassOf(final int capacity) {
        for (int i = 0; i < CLASS_SIZES.length; i++) {
            if (capacity <= CLASS_SIZES[i]) {
                return i;
            }
        }
        return -1;
    }

    /**
     * Buffers lent out and not yet released. Exact when no acquire or release is in progress.
     *
     * @return the count
     */
    public long outstanding() {
        return acquired.sum() - released.sum();
    }

    /**
     * Direct bytes this pool currently holds, lent out or retained.
     *
     * @return the bytes
     */
    public long allocatedBytes() {
        return allocatedBytes.get();
    }

    /**
     * How many buffers the pool has ever allocated (a measure of how well it recycles).
     *
     * @return the count
     */
    public long allocations() {
        return allocations.get();
    }

    /**
     * With leak tracking on, where each outstanding buffer was acquired; otherwise an explanation.
     *
     * @return one throwable per outstanding buffer, its stack the acquiring one
     */
    public List<Throwable> describeLeaks() {
        if (leakTraces == null) {
            return List.of(new Throwable("leak tracking is off: construct the pool with trackLeaks=true or "
                    + "run with -Dbraid.pool.trackLeaks=true"));
        }
        return new ArrayList<>(leakTraces.values());
    }

    @Override
    public String toString() {
        return "BufferPool{outstanding=" + outstanding() + ", allocatedBytes=" + allocatedBytes()
                + ", allocations=" + allocations() + '}';
    }
}
