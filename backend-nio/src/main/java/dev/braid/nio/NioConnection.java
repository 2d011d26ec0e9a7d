package dev.braid.nio;

import dev.braid.ConnectionClosedException;
import dev.braid.spi.ConnectionHandler;
import dev.braid.spi.SystemProperties;
import dev.braid.spi.Transport;

import java.io.IOException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.SocketChannel;

/**
 * One socket on one {@link NioEventLoop}. The reader is the loop thread; the writer is whichever thread
 * holds {@link #writing}.
 *
 * <h2>Writing: the caller writes when it can (write-through)</h2>
 * A latency-sensitive frame produced on another thread ({@link #requestUrgentFlush()}: a call with no
 * other call in flight, the answer to the only call being served) is written by that thread itself
 * when nobody else is writing and the socket is not known to be full (an idle loop would need a wake-up,
 * a context switch; a busy one would get to it only after the rest of its round): it takes {@link #writing} with a
 * CAS (acquire), gathers one batch from the handler and writes it without blocking, then releases the flag
 * (a volatile store, not a release: the holder's read of {@link #flushWanted} after it must not be
 * reordered before it, or both sides could miss each other).
 * That saves the hand-off to the loop (a task, a selector wake-up and a context switch) on the latency
 * path. Whatever it could not finish (socket full, or more than one batch) goes to the loop as a flush
 * request, as every flush did before. The loop writes under the same flag, so the handler's writer side
 * ({@code gatherOutbound}, {@code onOutboundWritten}) always has one thread at a time, and the flag's
 * acquire/release orders one writer's state before the next one's.
 * <p>A writer that finds the flag taken sets {@link #flushWanted} and leaves; the holder checks it after
 * releasing the flag (each side stores its variable, volatile, then reads the other's: one of them
 * always sees the other) and writes again, so no
 * request is lost. Interest in OP_WRITE and {@link #writeInterest} are changed on the loop thread only;
 * while it is set, other threads leave writing to the loop. {@link #closeNow()} takes the flag for good,
 * so no thread writes into a closed (or reused) socket and the handler sees no writer call after
 * {@code onClosed}.
 *
 * <p>{@link Transport} methods may be called from any thread: other calls from another thread become tasks
 * on the loop. {@link #close} records the first reason with a CAS and always closes in a task, so a handler
 * that closes from inside a callback is never re-entered.
 */
final class NioConnection implements Transport {
    private static final VarHandle CLOSE_REASON;
    private static final VarHandle WRITING;
    /** Whether threads other than the loop may write (on by default; -Dbraid.nio.writeThrough=false). */
    static final boolean WRITE_THROUGH = SystemProperties.booleanValue("braid.nio.writeThrough", true);
    private static final int MAX_READS_PER_EVENT = 16;
    private static final int GATHER = 64;

    static {
        try {
            CLOSE_REASON = MethodHandles.lookup().findVarHandle(NioConnection.class, "closeReason", Throwable.class);
            WRITING = MethodHandles.lookup().findVarHandle(NioConnection.class, "writing", boolean.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    final NioEventLoop loop;
    final SocketChannel channel;
    final ConnectionHandler handler;
    SelectionKey key;
    private final SocketAddress local;
    private final SocketAddress remote;
    @SuppressWarnings("unused") // accessed through CLOSE_REASON
    private volatile Throwable closeReason;
    /** Held by the thread that writes (see the class comment). Taken for good by {@link #closeNow()}. */
    @SuppressWarnings("unused") // accessed through WRITING
    private volatile boolean writing;
    /** A writer found {@link #writing} taken: its holder writes again after releasing it. */
    private volatile boolean flushWanted;
    /** OP_WRITE is armed: the socket was full. Written by the loop thread only. */
    private volatile boolean writeInterest;
    /** Loop-thread state. */
    volatile boolean closed;
    boolean flushQueued;
    boolean readSuspended;
    private int readSuspends;
    private final ByteBuffer[] gather = new ByteBuffer[GATHER];
    final Runnable flushTask = this::queueFlush;
    private final Runnable closeTask = this::closeNow;
    private final Runnable resumeTask = this::resumeNow;

    NioConnection(final NioEventLoop loop, final SocketChannel channel, final ConnectionHandler handler) throws IOException {
        this.loop = loop;
        this.channel = channel;
        this.handler = handler;
        this.local = channel.getLocalAddress();
        this.remote = channel.getRemoteAddress();
    }

    // ------------------------------------------------------------------ Transport (any thread)

    @Override
    public void requestFlush() {
        if (loop.inLoop()) {
            queueFlush(); // after this round of reads: replies produced while decoding leave in one write
        } else {
            loop.execute(flushTask);
        }
    }

    @Override
    public void requestUrgentFlush() {
        if (loop.inLoop()) {
            queueFlush();
        } else if (WRITE_THROUGH && !writeInterest && !closed) {
            writeThrough();
        } else {
            loop.execute(flushTask);
        }
    }

    /** Another thread writes what it can now (one batch) and leaves the rest to the loop. */
    private void writeThrough() {
        flushWanted = true;
        while (flushWanted && WRITING.compareAndSet(this, false, true)) {
            flushWanted = false;
            final int result;
            try {
                result = writeBatches(CALLER_WRITE_BUDGET);
            } finally {
                WRITING.setVolatile(this, false); // volatile, not release: the flushWanted read after it must not move before it
            }
            if (result != DRAINED) {
                loop.execute(flushTask); // socket full (the loop arms OP_WRITE) or past the budget
                return;
            }
        }
    }

    private void queueFlush() {
        if (!flushQueued && !closed) {
            flushQueued = true;
            loop.flushQueue.add(this);
        }
    }

    @Override
    public void setReadSuspended(final boolean suspended) {
        if (suspended) {
            if (loop.inLoop()) {
                suspendNow();
            } else {
                loop.execute(this::suspendNow);
            }
        } else {
            loop.execute(resumeTask); // always a task: never re-enter the handler from inside onInbound
        }
    }

    /** Suspensions are counted: reading resumes when every suspension got its resume. Loop thread. */
    private void suspendNow() {
        if (closed) {
            return;
        }
        if (++readSuspends == 1) {
            readSuspended = true;
            key.interestOps(key.interestOps() & ~SelectionKey.OP_READ);
        }
    }

    /** A resume that overtook its suspend leaves the count at -1 until the suspend arrives: no action either way. */
    private void resumeNow() {
        if (closed || --readSuspends != 0 || !readSuspended) {
            return;
        }
        readSuspended = false;
        handler.onInbound(0);
        if (!readSuspended && !closed && key.isValid()) {
            key.interestOps(key.interestOps() | SelectionKey.OP_READ);
        }
    }

    @Override
    public void close(final Throwable reason) {
        if (CLOSE_REASON.compareAndSet(this, null, reason)) {
            loop.execute(closeTask);
        }
    }

    boolean closeRequested() {
        return closeReason != null;
    }

    @Override
    public SocketAddress localAddress() {
        return local;
    }

    @Override
    public SocketAddress remoteAddress() {
        return remote;
    }

    @Override
    public String backendName() {
        return "nio";
    }

    // ------------------------------------------------------------------ loop thread

    void onReadable() {
        try {
            for (int i = 0; i < MAX_READS_PER_EVENT && !readSuspended && !closeRequested(); i++) {
                final ByteBuffer buf = handler.inboundBuffer();
                final int room = buf.remaining();
                final int n = channel.read(buf);
                if (n > 0) {
                    handler.onInbound(n);
                    if (flushQueued) {
                        flush(); // answers this read produced leave now, not after the rest of the round's reads
                    }
                    if (n < room) {
                        break; // the socket is most likely drained
                    }
                } else if (n < 0) {
                    handler.onInputClosed();
                    close(new ConnectionClosedException(ConnectionClosedException.Reason.PEER_CLOSED,
                            String.valueOf(remote), null));
                    return;
                } else {
                    break;
                }
            }
        } catch (IOException | RuntimeException e) {
            close(e); // a failure in one connection's engine closes that connection, never the loop
        }
    }

    private static final int DRAINED = 0;
    private static final int SOCKET_FULL = 1;
    private static final int MORE = 2;
    private static final int FAILED = 3;
    /**
     * Most a thread other than the loop writes in one go: enough for its own frame and what was queued
     * with it, without turning an application thread into the connection's writer for long.
     */
    private static final long CALLER_WRITE_BUDGET = 256 * 1024;

    /**
     * Holder of {@link #writing}: gathers and writes batches until the handler has nothing more (DRAINED),
     * the socket takes less than offered (SOCKET_FULL), at least {@code byteBudget} bytes were written (MORE)
     * or the connection fails (FAILED).
     */
    private int writeBatches(final long byteBudget) {
        try {
            long total = 0;
            while (true) {
                final int n = handler.gatherOutbound(gather);
                if (n == 0) {
                    return DRAINED;
                }
                final long written = channel.write(gather, 0, n);
                handler.onOutboundWritten(written);
                final boolean full = gather[n - 1].hasRemaining();
                for (int k = 0; k < n; k++) {
                    gather[k] = null;
                }
                if (full) {
                    return SOCKET_FULL;
                }
                total += written;
                if (total >= byteBudget) {
                    return MORE;
                }
            }
        } catch (IOException | RuntimeException e) {
            java.util.Arrays.fill(gather, null);
            close(e);
            return FAILED;
        }
    }

    /** Loop thread: writes as much as the socket takes; arms OP_WRITE if it stops taking. */
    void flush() {
        flushQueued = false;
        if (closed) {
            return;
        }
        flushWanted = true;
        while (flushWanted && WRITING.compareAndSet(this, false, true)) {
            flushWanted = false;
            final int result;
            try {
                result = writeBatches(Long.MAX_VALUE);
            } finally {
                WRITING.setVolatile(this, false); // volatile, not release: the flushWanted read after it must not move before it
            }
            if (result == FAILED) {
                return;
            }
            final boolean full = result == SOCKET_FULL;
            if (full != writeInterest && key.isValid()) {
                writeInterest = full;
                key.interestOps(full ? key.interestOps() | SelectionKey.OP_WRITE : key.interestOps() & ~SelectionKey.OP_WRITE);
            }
            if (full) {
                return; // OP_WRITE brings the loop back; requests made meanwhile are served then
            }
        }
    }

    void closeNow() {
        if (closed) {
            return;
        }
        while (!WRITING.compareAndSet(this, false, true)) { // a writer on another thread finishes its batch first
            Thread.onSpinWait();
        }
        // The flag stays taken: from here on nobody else writes.
        if (!(closeReason instanceof IOException)) {
            writeBatches(Long.MAX_VALUE); // best effort, without blocking: answers already produced (an ERROR
                                             // reply, replies before a protocol error) leave before the socket closes
        }
        closed = true;
        if (key != null) {
            key.cancel();
        }
        try {
            channel.close();
        } catch (IOException e) {
            // closing anyway
        }
        loop.forget(this);
        handler.onClosed(closeReason);
    }
}
