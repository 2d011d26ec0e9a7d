package dev.braid.nio;

import dev.braid.ConnectionClosedException;
import dev.braid.internal.backend.CloseReason;
import dev.braid.internal.backend.OutboundWriter;
import dev.braid.internal.backend.ReadSuspension;
import dev.braid.spi.ConnectionHandler;
import dev.braid.spi.SystemProperties;
import dev.braid.spi.Transport;

import java.io.IOException;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.SocketChannel;

/**
 * One socket on one {@link NioEventLoop}. The reader is the loop thread; the writer is whichever thread
 * holds the {@link OutboundWriter}'s flag: the loop, or a thread writing through. This class holds only the
 * nio system calls (a gathering {@code write}, {@code read}, interest in OP_READ and OP_WRITE); the writer
 * flag, the gather loop, the read switch and the first close reason are core's shared backend code
 * ({@code dev.braid.internal.backend}).
 *
 * <h2>Writing: the caller writes when it can (write-through)</h2>
 * A latency-sensitive frame produced on another thread ({@link #requestUrgentFlush()}: a call with no other
 * call in flight, the answer to the only call being served) is written by that thread itself when nobody
 * else is writing and the socket is not known to be full ({@link #writeInterest}): handing it to the loop
 * would cost a task, a selector wake-up and a context switch on the latency path. The thread writes at most
 * {@link OutboundWriter#WRITE_THROUGH_BUDGET} bytes without blocking and hands whatever is left (socket
 * full, budget used) to the loop as a flush request. The loop writes under the same flag, so the handler's
 * writer side ({@code gatherOutbound}, {@code onOutboundWritten}) always has one thread at a time.
 * Interest in OP_WRITE and {@link #writeInterest} change on the loop thread only; while it is set, other
 * threads leave writing to the loop. {@link #closeNow()} takes the flag for good, so no thread writes into a
 * closed (or reused) socket and the handler sees no writer call after {@code onClosed}.
 * {@code -Dbraid.nio.writeThrough=false} turns write-through off.
 *
 * <h2>Threads</h2>
 * {@link Transport} methods may be called from any thread: other calls from another thread become tasks on
 * the loop. {@link #close} records the first reason and always closes in a task, so a handler that closes
 * from inside a callback is never re-entered. Everything else runs on the loop thread.
 */
final class NioConnection implements Transport, ReadSuspension.Reads {
    /** Whether threads other than the loop may write (on by default; -Dbraid.nio.writeThrough=false). */
    static final boolean WRITE_THROUGH = SystemProperties.booleanValue("braid.nio.writeThrough", true);
    private static final int MAX_READS_PER_EVENT = 16;

    final NioEventLoop loop;
    final SocketChannel channel;
    final ConnectionHandler handler;
    SelectionKey key;
    private final SocketAddress local;
    private final SocketAddress remote;
    private final CloseReason closeReason = new CloseReason();
    private final OutboundWriter writer;
    private final ReadSuspension reads;
    /** OP_WRITE is armed: the socket was full. Written by the loop thread only. */
    private volatile boolean writeInterest;
    /** Set on the loop by {@link #closeNow()}; read by any thread. */
    volatile boolean closed;
    /** Loop thread: this connection is in the loop's flush queue. */
    boolean flushQueued;
    final Runnable flushTask = this::queueFlush;
    private final Runnable closeTask = this::closeNow;
    private final Runnable applyReadsTask = this::applyReads;

    NioConnection(final NioEventLoop loop, final SocketChannel channel, final ConnectionHandler handler) throws IOException {
        this.loop = loop;
        this.channel = channel;
        this.handler = handler;
        this.local = channel.getLocalAddress();
        this.remote = channel.getRemoteAddress();
        this.writer = new OutboundWriter(handler) {
            @Override
            protected long write(final ByteBuffer[] srcs, final int count) throws IOException {
                return channel.write(srcs, 0, count); // non-blocking: takes what fits and moves the positions
            }
        };
        this.reads = new ReadSuspension(handler, this);
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

    /** Another thread writes what it can now (one budget) and leaves the rest to the loop. */
    private void writeThrough() {
        final int result;
        try {
            result = writer.flushThrough(OutboundWriter.WRITE_THROUGH_BUDGET);
        } catch (IOException | RuntimeException e) {
            close(e);
            return;
        }
        if (result != OutboundWriter.DRAINED && result != OutboundWriter.BUSY) {
            loop.execute(flushTask); // socket full (the loop arms OP_WRITE), past the budget, or refused
        }
    }

    private void queueFlush() {
        if (!flushQueued && !closed) {
            flushQueued = true;
            loop.flushQueue.add(this);
        }
    }

    /**
     * The engine's tasks ({@link Transport#execute}): on the connection's event loop, after the tasks handed
     * over before it; never inline; dropped once a close was asked for. (In the instant the whole backend
     * stops, a task that raced the loop's end runs on the thread that handed it over, as every late loop
     * task does, and finds the connection closed.) Any thread.
     */
    @Override
    public void execute(final Runnable task) {
        if (!closeRequested()) {
            loop.execute(task);
        }
    }

    @Override
    public void setReadSuspended(final boolean suspended) {
        if (suspended && loop.inLoop()) {
            if (!closed) {
                reads.suspendNow(); // no further read reaches the engine after it
            }
        } else if (reads.request(suspended)) {
            loop.execute(applyReadsTask); // a resume is always a task: never re-enter the handler from inside onInbound
        }
    }

    /** Loop thread: the read switch catches up with the engine's last request. */
    private void applyReads() {
        if (closed) {
            return;
        }
        try {
            reads.apply();
        } catch (RuntimeException e) {
            close(e); // onInbound(0) failed: as a failed read
        }
    }

    @Override
    public void stopReading() {
        if (key.isValid()) {
            key.interestOps(key.interestOps() & ~SelectionKey.OP_READ);
        }
    }

    @Override
    public void startReading() {
        if (!closed && key.isValid()) {
            key.interestOps(key.interestOps() | SelectionKey.OP_READ);
        }
    }

    @Override
    public void close(final Throwable reason) {
        if (closeReason.offer(reason)) {
            loop.execute(closeTask);
        }
    }

    boolean closeRequested() {
        return closeReason.isSet();
    }

    /** Whether the loop waits for OP_WRITE (the socket was full). Any thread; for tests. */
    boolean writeInterest() {
        return writeInterest;
    }

    @Override
    public SocketAddress localAddress() {
        return local;
    }

    @Override
    public SocketAddress remoteAddress() {
        return remote;
    }

    /**
     * Window auto-tuning's send buffer: {@code SO_SNDBUF} set at once (setsockopt is safe from any thread);
     * a channel already closed, or an option the OS refuses, leaves the old size.
     */
    @Override
    public void setSocketSendBuffer(final int bytes) {
        if (bytes <= 0) {
            return;
        }
        try {
            channel.setOption(java.net.StandardSocketOptions.SO_SNDBUF, bytes);
        } catch (java.io.IOException | RuntimeException e) {
            // closed or refused: the connection goes on with the size it had
        }
    }

    @Override
    public String backendName() {
        return "nio";
    }

    // ------------------------------------------------------------------ loop thread

    void onReadable() {
        try {
            for (int i = 0; i < MAX_READS_PER_EVENT && !reads.isSuspended() && !closeRequested(); i++) {
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
        } catch (Error e) {
            loop.failed(this, e); // an OutOfMemoryError too: this connection only, logged (rate-limited)
        }
    }

    /** Loop thread: writes as much as the socket takes; arms OP_WRITE if it stops taking. */
    void flush() {
        flushQueued = false;
        if (closed) {
            return;
        }
        final int result;
        try {
            result = writer.flush(Long.MAX_VALUE);
        } catch (IOException | RuntimeException e) {
            close(e);
            return;
        }
        if (result == OutboundWriter.BUSY) {
            return; // a thread writing through has the flag: it writes this too, or hands the loop a flush
        }
        final boolean full = result == OutboundWriter.SOCKET_FULL;
        if (full != writeInterest && key.isValid()) {
            writeInterest = full;
            key.interestOps(full ? key.interestOps() | SelectionKey.OP_WRITE : key.interestOps() & ~SelectionKey.OP_WRITE);
        }
    }

    void closeNow() {
        if (closed) {
            return;
        }
        writer.takeForGood(); // a thread writing through finishes its batch first; from here on nobody else writes
        if (!(closeReason.get() instanceof IOException)) {
            try {
                // best effort, without blocking: answers already produced (an ERROR reply, replies before a
                // protocol error) leave before the socket closes
                writer.writeHeld(Long.MAX_VALUE);
            } catch (IOException | RuntimeException e) {
                // closing anyway, with the first reason
            }
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
        handler.onClosed(closeReason.get());
    }
}
