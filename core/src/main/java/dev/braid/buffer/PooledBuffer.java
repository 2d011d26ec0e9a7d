package dev.braid.buffer;

import dev.braid.internal.concurrent.QueueLink;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * A direct, big-endian buffer lent by a {@link BufferPool}.
 *
 * <p><b>Ownership.</b> A pooled buffer has exactly one owner at a time: the code that acquired it, or the
 * code it was explicitly handed to by an API whose javadoc says the ownership moves. The owner releases it
 * exactly once with {@link #release()}; a second release throws {@link IllegalStateException} so a bug
 * shows up where it happens instead of as corrupted data elsewhere. After release the buffer must not be
 * touched: the pool hands the same memory to the next acquirer.
 *
 * <p><b>Position and limit</b> of {@link #byteBuffer()} belong to the owner. The pool resets them
 * ({@code position = 0, limit = capacity}) when the buffer is acquired.
 *
 * <p><b>Threads.</b> A buffer is not thread-safe. Handing it from one thread to another must go through
 * a happens-before edge (a queue, a future, a volatile write), which every braid queue provides.
 */
@SuppressWarnings("exports") // QueueLink is internal on purpose: final here, so users never see more than its name
public final class PooledBuffer extends QueueLink {
    static final int FREE = 0;
    static final int IN_USE = 1;

    private static final VarHandle STATE;

    static {
        try {
            final MethodHandles.Lookup lookup = MethodHandles.lookup();
            STATE = lookup.findVarHandle(PooledBuffer.class, "state", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final BufferPool pool;
    private final ByteBuffer buffer;
    /** Index of the pool's size class, or -1 for a buffer larger than the largest class (not retained). */
    final int sizeClass;
    @SuppressWarnings("unused") // accessed through STATE
    private volatile int state;
    /** Owner's: the read-only view {@link #readOnlyView} lends, made once per offset and reused. */
    private ByteBuffer view;
    private int viewOffset = -1;

    /** For buffers {@link BufferPool#wrap wrapping the caller's memory}: run on release instead of recycling. */
    private final Runnable onRelease;

    PooledBuffer(final BufferPool pool, final int sizeClass, final ByteBuffer memory) {
        this.pool = pool;
        this.sizeClass = sizeClass;
        this.buffer = memory.clear().order(ByteOrder.BIG_ENDIAN);
        this.state = FREE;
        this.onRelease = null;
    }

    /** A buffer over memory the caller owns, lent at once (see {@link BufferPool#wrap}). */
    PooledBuffer(final BufferPool pool, final ByteBuffer memory, final Runnable onRelease) {
        this.pool = pool;
        this.sizeClass = -1;
        this.buffer = memory;
        this.state = IN_USE;
        this.onRelease = onRelease;
    }

    /**
     * The direct memory, big-endian. Valid only while the caller owns this buffer; do not keep the
     * reference, or any slice or duplicate of it, past {@link #release()}.
     *
     * @return the buffer
     */
    public ByteBuffer byteBuffer() {
        return buffer;
    }

    /**
     * A read-only view of {@code length} bytes from absolute {@code offset}, with position 0: the same view
     * object each time for the same offset (rewound), so lending a payload allocates nothing after the
     * buffer's first use. Valid only while the caller owns this buffer, like {@link #byteBuffer()}; a second
     * call repositions the view the first call returned.
     *
     * @param offset where the view starts, an absolute index
     * @param length how many bytes it shows
     * @return the view
     */
    public ByteBuffer readOnlyView(final int offset, final int length) {
        ByteBuffer v = view;
        if (v == null || viewOffset != offset) {
            v = buffer.duplicate().clear().slice(offset, buffer.capacity() - offset).asReadOnlyBuffer(); // once per offset
            view = v;
            viewOffset = offset;
        }
        v.limit(length).position(0);
        return v;
    }

    /** {@return the capacity in bytes (at least what was asked of the pool)} */
    public int capacity() {
        return buffer.capacity();
    }

    /**
     * The pool this buffer returns to.
     *
     * @return the pool
     */
    public BufferPool pool() {
        return pool;
    }

    /**
     * Returns the buffer to its pool. Must be called exactly once by the current owner.
     *
     * @throws IllegalStateException if the buffer was already released
     */
    public void release() {
        if (!STATE.compareAndSet(this, IN_USE, FREE)) {
            throw new IllegalStateException("pooled buffer released twice (capacity " + capacity() + ")");
        }
        if (onRelease != null) {
            pool.releasedWrapped(this, onRelease);
            return;
        }
        pool.recycle(this);
    }

    /** Called by the pool when it lends the buffer out. */
    void markAcquired() {
        if (!STATE.compareAndSet(this, FREE, IN_USE)) {
            throw new IllegalStateException("pooled buffer handed out while in use");
        }
        buffer.clear();
    }

    /**
     * True while the buffer is lent out; for diagnostics and tests.
     *
     * @return whether it is lent out
     */
    public boolean isInUse() {
        return (int) STATE.getVolatile(this) == IN_USE;
    }
}
