package dev.braid.nio;

import dev.braid.ConnectionClosedException;
import dev.braid.spi.ConnectionHandler;
import dev.braid.spi.Transport;

import java.io.IOException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.SocketChannel;

/**
 * One socket on one {@link NioEventLoop}. Reader and writer are both the loop thread.
 *
 * <p>{@link Transport} methods may be called from any thread: a call from another thread becomes a task
 * on the loop (or, for {@link #requestFlush()}, a flush request). {@link #close} records the first reason
 * with a CAS and always closes in a task, so a handler that closes from inside a callback is never
 * re-entered.
 */
final class NioConnection implements Transport {
    private static final VarHandle CLOSE_REASON;
    private static final int MAX_READS_PER_EVENT = 16;
    private static final int GATHER = 64;

    static {
        try {
            CLOSE_REASON = MethodHandles.lookup().findVarHandle(NioConnection.class, "closeReason", Throwable.class);
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
    /** Loop-thread state. */
    boolean closed;
    boolean flushQueued;
    boolean readSuspended;
    private int readSuspends;
    private boolean writeInterest;
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
            queueFlush();
        } else {
            loop.execute(flushTask);
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

    /** Writes as much as the socket takes; arms OP_WRITE if it stops taking. */
    void flush() {
        flushQueued = false;
        if (closed) {
            return;
        }
        try {
            while (true) {
                final int n = handler.gatherOutbound(gather);
                if (n == 0) {
                    if (writeInterest) {
                        writeInterest = false;
                        key.interestOps(key.interestOps() & ~SelectionKey.OP_WRITE);
                    }
                    return;
                }
                final long written = channel.write(gather, 0, n);
                handler.onOutboundWritten(written);
                final boolean full = gather[n - 1].hasRemaining();
                for (int i = 0; i < n; i++) {
                    gather[i] = null;
                }
                if (full) {
                    if (!writeInterest) {
                        writeInterest = true;
                        key.interestOps(key.interestOps() | SelectionKey.OP_WRITE);
                    }
                    return;
                }
            }
        } catch (IOException | RuntimeException e) {
            close(e);
        }
    }

    void closeNow() {
        if (closed) {
            return;
        }
        if (!(closeReason instanceof IOException)) {
            flush(); // best effort, without blocking: answers already produced (an ERROR reply, replies before a
                     // protocol error) leave before the socket closes
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
