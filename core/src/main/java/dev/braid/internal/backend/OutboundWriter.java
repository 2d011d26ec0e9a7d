package dev.braid.internal.backend;

import dev.braid.spi.ConnectionHandler;

import java.io.IOException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * A connection's writer context: who may call {@link ConnectionHandler#gatherOutbound} and
 * {@link ConnectionHandler#onOutboundWritten} right now, and the gather / write / advance loop they run. A
 * backend subclasses it with its one system call, {@link #write}.
 *
 * <h2>The writer flag</h2>
 * The writer context is whichever thread holds {@code writing}: usually the backend's I/O thread, sometimes
 * a thread writing through ({@link #flushThrough}: a latency-sensitive frame written by the thread that
 * produced it, instead of waking the I/O thread). Taking it is a CAS false → true (volatile: it acquires what
 * the last holder did); giving it back is a volatile store, not a plain release, because the holder reads
 * {@code flushWanted} right after and that read must not move before the store.
 * <p>A thread that finds the flag taken sets {@code flushWanted} (volatile) and leaves: the holder, after
 * giving the flag back, reads {@code flushWanted} and writes again. Each side writes its own variable, then
 * reads the other's, so one of them always sees the other: no flush request is lost, and a burst of them
 * costs one writer.
 *
 * <h2>Write-through and its fence</h2>
 * {@link #flushThrough} writes on the calling thread only while write-through is open. {@link #closeThrough}
 * (any thread) shuts it for good and waits for a write-through in progress to end, so that afterwards only
 * the I/O thread writes: a backend calls it before anything it does not control may close the socket's
 * descriptor (a descriptor number closed under a writing thread can be reused by another socket).
 * {@code throughClosed} is volatile, written before the fence takes the flag, and read by a writer after it
 * took the flag, so a write-through either ended before the fence took the flag or sees the fence.
 * {@link #takeForGood} takes the flag and never gives it back: the close's last flush then runs with
 * {@link #writeHeld}, and nobody writes after it.
 *
 * <h2>Results</h2>
 * {@link #DRAINED} (the handler had nothing more), {@link #SOCKET_FULL} (the socket took less than it was
 * offered: wait until it is writable), {@link #MORE} (the byte budget is used up: the I/O thread should go
 * on), {@link #BUSY} (another thread holds the flag and will write what this call wanted), {@link #REFUSED}
 * (write-through is shut: hand the flush to the I/O thread). An {@code IOException} or
 * {@code RuntimeException} from the system call or the handler is thrown after the flag is given back, with
 * the gather array cleared; the backend then closes the connection.
 */
public abstract class OutboundWriter {
    public static final int DRAINED = 0;
    public static final int SOCKET_FULL = 1;
    public static final int MORE = 2;
    public static final int BUSY = 3;
    public static final int REFUSED = 4;

    /**
     * Most a thread other than the I/O thread writes in one go: enough for its own frame and what was queued
     * with it, without turning an application thread into the connection's writer for long.
     */
    public static final long WRITE_THROUGH_BUDGET = 256 * 1024;
    /** Buffers per gathering write (the engine's batch is at most 64 frames as well). */
    public static final int GATHER = 64;

    private static final VarHandle WRITING;

    static {
        try {
            WRITING = MethodHandles.lookup().findVarHandle(OutboundWriter.class, "writing", boolean.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final ConnectionHandler handler;
    /** Used by the holder of {@code writing} only. */
    private final ByteBuffer[] gather = new ByteBuffer[GATHER];
    @SuppressWarnings("unused") // accessed through WRITING
    private volatile boolean writing;
    /**
     * The thread holding {@code writing}, written by that thread only (plain: set after taking the flag,
     * cleared before giving it back). A thread can therefore read itself here only while it holds the flag,
     * which is all {@link #closeThrough} asks.
     */
    private Thread holder;
    private volatile boolean flushWanted;
    private volatile boolean throughClosed;
    /** {@link #takeForGood} has the flag: it is never given back. */
    private volatile boolean heldForGood;

    protected OutboundWriter(final ConnectionHandler handler) {
        this.handler = handler;
    }

    /**
     * The system call: writes from {@code srcs[0, count)} in order, advancing each buffer's position by what
     * was taken from it (never past a buffer that was not finished), without blocking unless the backend's
     * sockets block. Called by the holder of the writer flag only.
     *
     * @return bytes written; fewer than offered when the socket is full (0 when it took nothing)
     */
    protected abstract long write(ByteBuffer[] srcs, int count) throws IOException;

    /**
     * The backend's I/O thread (or any thread that may wait for the socket): writes until the handler has
     * nothing more, the socket is full or {@code byteBudget} bytes went out, then again while another thread
     * asked meanwhile. Returns {@link #BUSY} when another thread holds the flag (it writes for this call).
     */
    public final int flush(final long byteBudget) throws IOException {
        return flush(byteBudget, false);
    }

    /**
     * Another thread writes through: as {@link #flush}, unless write-through is shut ({@link #REFUSED}).
     * Whatever is not {@link #DRAINED} is the I/O thread's to finish: the caller hands it a flush.
     */
    public final int flushThrough(final long byteBudget) throws IOException {
        return throughClosed ? REFUSED : flush(byteBudget, true);
    }

    private int flush(final long byteBudget, final boolean through) throws IOException {
        flushWanted = true;
        int result = BUSY;
        while (flushWanted && WRITING.compareAndSet(this, false, true)) {
            flushWanted = false;
            holder = Thread.currentThread();
            try {
                if (through && throughClosed) {
                    return REFUSED; // the I/O thread's flush, which the caller now asks for, writes it all
                }
                result = writeBatches(byteBudget);
            } finally {
                holder = null;
                WRITING.setVolatile(this, false); // volatile, not release: the flushWanted read after it must stay after it
            }
            if (result != DRAINED) {
                return result; // the caller arranges the next pass, which also serves any request made meanwhile
            }
        }
        return result;
    }

    /**
     * Any thread: shuts write-through for good and returns once no thread writes through any more. The I/O
     * thread still writes with {@link #flush}. Called by the holder itself (a callback from inside
     * {@code gatherOutbound} that closes), it returns at once: no other thread can be writing then.
     */
    public final void closeThrough() {
        throughClosed = true;
        if (holder == Thread.currentThread()) {
            return;
        }
        while (!WRITING.compareAndSet(this, false, true)) {
            if (heldForGood) {
                return; // the close has it: nobody else writes any more
            }
            Thread.onSpinWait();
        }
        WRITING.setVolatile(this, false);
    }

    /** Whether write-through is still open (it may close right after). */
    public final boolean throughOpen() {
        return !throughClosed;
    }

    /**
     * Any thread that will write no more except with {@link #writeHeld}: takes the flag for good, waiting
     * for a writer on another thread to finish its batch (never for long: only blocking backends write while
     * the socket is full, and those must not call this while their writer may block).
     */
    public final void takeForGood() {
        throughClosed = true;
        while (!WRITING.compareAndSet(this, false, true)) {
            Thread.onSpinWait();
        }
        heldForGood = true;
    }

    /** The holder after {@link #takeForGood}: a last, best-effort write of what the handler still has. */
    public final int writeHeld(final long byteBudget) throws IOException {
        return writeBatches(byteBudget);
    }

    /**
     * Holder of the flag: gathers and writes batches until the handler has nothing more, the socket takes
     * less than offered, or at least {@code byteBudget} bytes were written.
     */
    private int writeBatches(final long byteBudget) throws IOException {
        try {
            long total = 0;
            while (true) {
                final int n = handler.gatherOutbound(gather);
                if (n == 0) {
                    return DRAINED;
                }
                long offered = 0;
                for (int i = 0; i < n; i++) {
                    offered += gather[i].remaining();
                }
                final long written = write(gather, n);
                Arrays.fill(gather, 0, n, null);
                handler.onOutboundWritten(written); // may release the buffers written in full: none is touched after
                if (written < offered) {
                    return SOCKET_FULL;
                }
                total += written;
                if (total >= byteBudget) {
                    return MORE;
                }
            }
        } catch (IOException | RuntimeException e) {
            Arrays.fill(gather, null);
            throw e;
        }
    }

    /**
     * For system calls that do not move the buffers' positions (a native {@code writev}): advances each of
     * {@code srcs[0, count)} by what the kernel took from it, in order, never past a buffer's limit.
     */
    protected static void advance(final ByteBuffer[] srcs, final int count, final long written) {
        long left = written;
        for (int i = 0; i < count && left > 0; i++) {
            final ByteBuffer b = srcs[i];
            final int k = (int) Math.min(left, b.remaining());
            b.position(b.position() + k);
            left -= k;
        }
    }
}
