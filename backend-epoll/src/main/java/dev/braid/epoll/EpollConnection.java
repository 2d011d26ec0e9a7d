package dev.braid.epoll;

import dev.braid.ConnectionClosedException;
import dev.braid.internal.backend.CloseReason;
import dev.braid.internal.backend.OutboundWriter;
import dev.braid.internal.backend.ReadSuspension;
import dev.braid.spi.ConnectionHandler;
import dev.braid.spi.Transport;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelPromise;
import io.netty.channel.EventLoop;
import io.netty.channel.VoidChannelPromise;
import io.netty.channel.epoll.AbstractEpollStreamChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.unix.FileDescriptor;

import java.io.IOException;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.util.ArrayDeque;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.RejectedExecutionException;
import java.util.function.Supplier;

/**
 * One socket: a Netty {@link EpollSocketChannel} whose pipeline holds only this handler, and the braid
 * engine's {@link ConnectionHandler}. The reader context is the channel's event-loop thread; the writer
 * context is whichever thread holds the {@link OutboundWriter}'s flag: the loop, or a thread writing through
 * (below). The writer flag, the gather loop, the read switch and the first close reason are core's shared
 * backend code ({@code dev.braid.internal.backend}); this class holds the epoll and Netty side.
 *
 * <h2>Threads</h2>
 * {@link Transport} methods may be called from any thread; each becomes a task on the loop, except a
 * suspension asked on the loop itself, which takes effect at once, and an urgent flush that writes through
 * (a flush asked on the loop is a task too, run after the current round of I/O, so replies produced while
 * decoding leave in one writev; a read that produced answers also flushes them right after it is decoded,
 * so they do not wait for the rest of the loop's round of reads). Netty's callbacks and every task run on
 * the loop, so all other state is loop-confined, except {@link #awaitingWritable} (volatile, written on the
 * loop, read by threads about to write through). {@link #close} records the first reason and always closes
 * in a task, so a handler that closes from inside a callback is never re-entered. Once {@link #closed} is
 * set nothing calls the handler again except the single {@code onClosed} that follows.
 *
 * <h2>Write path: braid's buffers straight to {@code writev}, no copy and no Netty buffers</h2>
 * The writer takes the engine's buffers with {@code gatherOutbound} and hands them as they are to the
 * socket with {@link FileDescriptor#writev} (Netty's JNI gathering write over direct {@code ByteBuffer}s,
 * reading each one's position and limit). The kernel's count is then applied in order: each buffer's
 * position advances by what was taken from it, never further, and {@code onOutboundWritten} reports the
 * count. A buffer left unfinished is the first one {@code gatherOutbound} returns next time. The bytes never
 * enter a Netty {@code ByteBuf}, so Netty cannot write them twice nor hold them after the engine released
 * them. This is the nio backend's writer with a different system call.
 *
 * <p>When the socket stops taking bytes (the write came up short: {@code SO_SNDBUF} is full or, more often,
 * {@code TCP_NOTSENT_LOWAT} bytes wait unsent), the writer needs EPOLLOUT. It gets it from Netty through
 * its public write path: it writes one {@link WriteWhenWritable} to the channel, a {@code FileRegion} that
 * carries no bytes. Netty's {@code doWrite} calls its {@code transferTo}, which runs the writer again; while
 * that makes no progress Netty arms EPOLLOUT and calls it again when the socket drains; once the engine has
 * nothing left the region reports itself complete, Netty removes it (releasing it, which tells this class)
 * and clears EPOLLOUT. Only one region is ever queued.
 *
 * <h2>Write-through</h2>
 * A latency-sensitive frame produced on another thread ({@link #requestUrgentFlush()}: a call with no other
 * call in flight, the answer to the only call being served) is written by that thread with the same
 * {@code writev}, when nobody else holds the writer flag and the writer is not waiting for EPOLLOUT: handing
 * it to the loop would cost a task, an eventfd wake-up and a context switch on the latency path. It writes
 * at most {@link OutboundWriter#WRITE_THROUGH_BUDGET} bytes without blocking and hands whatever is left to
 * the loop as a flush. {@code -Dbraid.epoll.writeThrough=false} turns it off.
 * <p>The descriptor is the danger: a thread writing into a descriptor number the loop has just closed could
 * write into whatever socket reuses the number. braid closes the descriptor itself only after taking the
 * writer flag for good ({@link #closeNow()}). Netty closes it on its own in a few paths, each of which
 * tells this handler first (a failed input shutdown, after {@code ChannelInputShutdownEvent}; a read error,
 * after {@code exceptionCaught}) or comes only after braid closed its connections (the loop group's
 * shutdown, see {@link EpollBackendInstance#close()}). In each, write-through is shut first
 * ({@link OutboundWriter#closeThrough()}, which waits for a write in progress to end); from then on only the
 * loop writes, and the loop never writes after Netty closed the descriptor ({@code fd.isOpen()} before each
 * {@code writev}: only the loop closes it, so nothing can close it between the check and the call).
 *
 * <h2>Read path: into {@code inboundBuffer()} directly, a copy only in one corner</h2>
 * The channel's receive-buffer allocator ({@link InboundAllocator}) hands Netty a {@code ByteBuf} that is a
 * view of the handler's {@code inboundBuffer()} between its position and limit, so {@code recv} writes
 * straight into the decoder's buffer, or into a large frame's own buffer when the decoder lends that. The
 * view is a wrapper (freeing it frees nothing); on {@code channelRead} the buffer's position advances by the
 * count and {@code onInbound} follows. No copy, and the handler's "always has room" promise sizes each read.
 *
 * <p>The corner: after EPOLLRDHUP Netty reads until the socket is empty whether or not reading is suspended
 * (its epoll read loop ignores auto-read then). Bytes read while reading is suspended therefore land in an
 * ordinary Netty buffer, kept in {@link #pending} and copied into {@code inboundBuffer()} (one copy) when
 * reading resumes, before anything newer; end of stream is reported only after them. (Bytes read after a
 * close was asked for go to such a buffer too, and are dropped.) Copying
 * everything instead would have needed the same queue (a read can return more than the engine will take
 * before it suspends), so the zero-copy path costs little extra code.
 *
 * <h2>Reading on and off</h2>
 * {@link ReadSuspension}: "off" turns Netty's auto-read off (which clears EPOLLIN), at once when asked on the
 * loop; "on" runs as a task: {@code onInbound(0)}, then pending bytes, then auto-read on again unless the
 * engine suspended meanwhile.
 */
final class EpollConnection extends ChannelInboundHandlerAdapter implements Transport, ReadSuspension.Reads {
    private static final System.Logger LOG = System.getLogger("dev.braid.epoll");
    /** Whether threads other than the loop may write (on by default; -Dbraid.epoll.writeThrough=false). */
    static final boolean WRITE_THROUGH = Boolean.parseBoolean(System.getProperty("braid.epoll.writeThrough", "true"));
    private static final int MAX_READS_PER_EVENT = 16;
    /** Size of the Netty buffers used only while reads cannot go to the handler (see the class comment). */
    private static final int SPILL_READ_SIZE = 64 * 1024;
    private static final int VIEW_CACHE = 16;

    private final EpollBackendInstance backend;
    /** An {@link EpollSocketChannel} (TCP) or an {@code EpollDomainSocketChannel} (Unix domain socket). */
    private final AbstractEpollStreamChannel channel;
    private final EventLoop loop;
    /** Server side: where the handler comes from, asked once the socket is active. Null on the client side. */
    private final Supplier<ConnectionHandler> handlers;
    /** Client side: completed once connected and {@code onOpen} returned. Null on the server side. */
    private final CompletableFuture<Void> connected;
    private final WriteWhenWritable writeWhenWritable = new WriteWhenWritable(this);
    private final ChannelPromise noPromise;
    private final Runnable flushTask = this::flushNow;
    private final Runnable deferredFlushTask = this::deferredFlush;
    private final Runnable closeTask = this::closeNow;
    private final Runnable applyReadsTask = this::applyReads;
    private final CloseReason closeReason = new CloseReason();

    private volatile SocketAddress local;
    private volatile SocketAddress remote;
    /**
     * The writer is waiting for EPOLLOUT ({@link #writeWhenWritable} is in Netty's outbound buffer): a writer
     * pass will follow it. Written on the loop; read by threads about to write through, which then leave the
     * write to the loop.
     */
    private volatile boolean awaitingWritable;

    // ---- set once, on the loop, before onOpen (so before any other thread can reach this connection)
    private ConnectionHandler handler;
    private FileDescriptor fd;
    private OutboundWriter writer;
    private ReadSuspension reads;
    /** Bytes written by the writer (holder of its flag only); the loop reads it around its own passes. */
    private long bytesWritten;

    // ---- loop-confined state
    private boolean opened;
    private boolean closed;
    private boolean flushQueued;
    /** Inside {@code channelRead}'s {@code onInbound}: a flush asked now is done right after it. */
    private boolean inRead;
    /** A flush was asked for while {@link #awaitingWritable}; run one when the region leaves Netty. */
    private boolean flushAfterWritable;
    /** How often the writer had to wait for EPOLLOUT (diagnostics and tests). */
    private long writableWaits;
    /** Netty has reported end of stream; told to the handler once {@link #pending} is delivered. */
    private boolean inputEnded;
    /** The view handed to Netty by the last allocation, the handler buffer it shows, and its position then. */
    private ByteBuf view;
    private ByteBuffer viewed;
    private int viewStart;
    /**
     * Views made so far, reused for reads into the same buffer (the decoder's read buffer, and the pooled
     * buffers of large frames, which come back from the pool): see {@link InboundView}. Evicted round-robin.
     */
    private final InboundView[] views = new InboundView[VIEW_CACHE];
    private int nextView;
    /** The view the last read used (one of {@link #views}). */
    private InboundView lastView;
    /** Bytes Netty read that the handler could not take yet (suspended); owned here until copied or released. */
    private ArrayDeque<ByteBuf> pending;

    EpollConnection(final EpollBackendInstance backend, final AbstractEpollStreamChannel channel, final ConnectionHandler handler,
                    final Supplier<ConnectionHandler> handlers, final CompletableFuture<Void> connected) {
        this.backend = backend;
        this.channel = channel;
        this.loop = channel.eventLoop();
        this.handlers = handlers;
        this.connected = connected;
        this.noPromise = new VoidChannelPromise(channel, false);
        channel.config().setRecvByteBufAllocator(new InboundAllocator(this, MAX_READS_PER_EVENT));
        if (handler != null) {
            attach(handler);
        }
    }

    private void attach(final ConnectionHandler h) {
        handler = h;
        writer = new OutboundWriter(h) {
            @Override
            protected long write(final ByteBuffer[] srcs, final int count) throws IOException {
                if (!fd.isOpen()) {
                    throw new ClosedChannelException(); // Netty closed it (see the class comment): never writev a stale number
                }
                final long n = fd.writev(srcs, 0, count, Long.MAX_VALUE); // 0 on EAGAIN; positions not moved
                advance(srcs, count, n);
                bytesWritten += n;
                return n;
            }
        };
        reads = new ReadSuspension(h, this);
    }

    // ------------------------------------------------------------------ Transport (any thread)

    @Override
    public void requestFlush() {
        if (loop.inEventLoop()) {
            if (!flushQueued) { // defer to after this round of I/O: replies produced while decoding leave in one writev
                flushQueued = true;
                if (!inRead) {
                    runOnLoop(deferredFlushTask); // inside a read, channelRead flushes right after it (no task, no extra epoll_wait)
                }
            }
        } else {
            runOnLoop(flushTask);
        }
    }

    @Override
    public void requestUrgentFlush() {
        if (loop.inEventLoop()) {
            requestFlush();
        } else if (WRITE_THROUGH && !awaitingWritable && !closeRequested()) {
            writeThrough();
        } else {
            runOnLoop(flushTask);
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
            runOnLoop(flushTask); // socket full (the loop waits for EPOLLOUT), past the budget, or write-through shut
        }
    }

    @Override
    public void setReadSuspended(final boolean suspended) {
        if (suspended && loop.inEventLoop()) {
            if (!closed) {
                reads.suspendNow(); // no further read reaches the engine after it
            }
        } else if (reads.request(suspended)) {
            runOnLoop(applyReadsTask); // "on" is always a task: never re-enter the handler from inside onInbound
        }
    }

    @Override
    public void close(final Throwable reason) {
        if (closeReason.offer(reason)) {
            runOnLoop(closeTask);
        }
    }

    private boolean closeRequested() {
        return closeReason.isSet();
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
     * Window auto-tuning's send buffer: {@code SO_SNDBUF} through the channel's config (setsockopt, safe from
     * any thread); {@code TCP_NOTSENT_LOWAT} still bounds what waits unsent in it. A channel already closed
     * leaves the old size.
     */
    @Override
    public void setSocketSendBuffer(final int bytes) {
        if (bytes <= 0) {
            return;
        }
        try {
            channel.config().setOption(io.netty.channel.ChannelOption.SO_SNDBUF, bytes); // TCP and Unix sockets alike
        } catch (RuntimeException e) {
            // closed or refused: the connection goes on with the size it had
        }
    }

    @Override
    public String backendName() {
        return "epoll";
    }

    /**
     * The engine's tasks ({@link Transport#execute}): on the loop, after the tasks handed over before it;
     * never inline; dropped once a close was asked for. A loop that no longer takes tasks is shutting down
     * (braid closes its connections first): a task for a connection not closed yet runs after the loop
     * ended. Any thread.
     */
    @Override
    public void execute(final Runnable task) {
        if (closeRequested()) {
            return; // closing or closed: dropped, as the SPI allows
        }
        try {
            loop.execute(task);
        } catch (RejectedExecutionException e) {
            loop.terminationFuture().addListener(f -> task.run()); // braid has not closed it yet: after the loop ends
        }
    }

    /**
     * This class's own tasks (flush, close, reading on/off): on the loop. A loop that has stopped accepting
     * tasks has closed its channels (and so run every connection's close); the task then runs once the loop
     * has ended, or here if this is the loop, and finds the connection closed, as nio does with tasks that
     * arrive after its loop stopped (a close must still call onClosed). Any thread.
     */
    private void runOnLoop(final Runnable task) {
        try {
            loop.execute(task);
        } catch (RejectedExecutionException e) {
            if (loop.inEventLoop() || loop.isTerminated()) {
                task.run();
            } else {
                loop.terminationFuture().addListener(f -> task.run());
            }
        }
    }

    /** Any thread: from now on only the loop writes (see the class comment); waits for a write-through to end. */
    void shutWriteThrough() {
        final OutboundWriter w = writer;
        if (w != null) {
            w.closeThrough();
        }
    }

    // ------------------------------------------------------------------ Netty callbacks (loop thread)

    @Override
    public void channelActive(final ChannelHandlerContext ctx) {
        fd = channel.fd();
        local = EpollBackendInstance.toJdk(channel.localAddress());
        remote = EpollBackendInstance.toJdk(channel.remoteAddress());
        if (handler == null) {
            try {
                attach(handlers.get()); // asked only now, so a socket that never became active costs no handler
            } catch (RuntimeException | Error e) { // an OutOfMemoryError too: this socket only
                LOG.log(System.Logger.Level.WARNING, "no handler for the connection from " + remote + "; closing it", e);
                closed = true;
                channel.close();
                return;
            }
        }
        opened = true;
        backend.opened(this);
        try {
            handler.onOpen(this);
        } catch (RuntimeException e) {
            close(e); // closes in a task: calls onClosed once
        }
        if (connected != null) {
            connected.complete(null);
        }
    }

    /** Called by {@link InboundAllocator} before each read: where Netty's {@code recv} should put the bytes. */
    ByteBuf readBuffer(final ByteBufAllocator alloc) {
        if (opened && !closed && !reads.isSuspended() && !closeRequested() && (pending == null || pending.isEmpty())) {
            final ByteBuffer in = handler.inboundBuffer();
            if (in.hasRemaining()) {
                viewed = in;
                viewStart = in.position();
                view = viewOf(in).setIndex(viewStart, viewStart); // recv fills position..limit
                return view;
            }
        }
        view = null;
        return alloc.directBuffer(SPILL_READ_SIZE); // Netty reads past a suspension only after EPOLLRDHUP; see above
    }

    /** A view of {@code in} up to its limit: a cached one if there is one for the same buffer and limit. */
    private InboundView viewOf(final ByteBuffer in) {
        final InboundView last = lastView;
        if (last != null && last.base == in && last.limit == in.limit() && last.refCnt() > 1) {
            return last; // the usual case: the decoder's read buffer again, the cache's and the last read's references
        }
        for (InboundView v : views) {
            if (v != null && v.base == in && v.limit == in.limit() && v.refCnt() > 0) {
                if (v.refCnt() < 2) {
                    v.retain(); // Netty releases a buffer a read left empty; the cache's own reference survives that
                }
                lastView = v;
                return v;
            }
        }
        final InboundView v = new InboundView(in);
        v.retain(); // the cache's reference, besides the one a read may consume (see above)
        dropView(views[nextView]);
        views[nextView] = v;
        nextView = (nextView + 1) % VIEW_CACHE;
        lastView = v;
        return v;
    }

    private static void dropView(final InboundView v) {
        if (v != null && v.refCnt() > 0) {
            v.release(v.refCnt()); // frees nothing: the memory is braid's
        }
    }

    /** Called by {@link InboundAllocator}: whether Netty should try another read in this round. */
    boolean mayReadMore() {
        return opened && !closed && !reads.isSuspended() && !closeRequested();
    }

    @Override
    public void channelRead(final ChannelHandlerContext ctx, final Object msg) {
        final ByteBuf buf = (ByteBuf) msg;
        if (closed || closeRequested()) {
            buf.release(); // the connection is going away: what arrives now is dropped, as nio stops reading
            return;
        }
        try {
            if (buf == view) {
                final int n = buf.writerIndex() - viewStart;
                final ByteBuffer in = viewed;
                view = null;
                viewed = null; // the view stays cached (not released) for the next read into the same buffer
                in.position(in.position() + n);
                inRead = true;
                try {
                    handler.onInbound(n);
                } finally {
                    inRead = false;
                }
                if (flushQueued && !closed) {
                    flushNow(); // answers this read produced leave now, not after the rest of the loop's round
                }
            } else {
                if (pending == null) {
                    pending = new ArrayDeque<>();
                }
                pending.add(buf);
                deliverPending();
            }
        } catch (RuntimeException | Error e) {
            close(e); // a failure in one connection's engine (even OutOfMemoryError) closes that connection, never the loop
        }
    }

    /** Copies held bytes into the handler while it takes them; then reports a deferred end of stream. */
    private void deliverPending() {
        ByteBuf b;
        while (pending != null && !reads.isSuspended() && !closed && !closeRequested() && (b = pending.peek()) != null) {
            final ByteBuffer in = handler.inboundBuffer();
            final int n = Math.min(in.remaining(), b.readableBytes());
            if (n == 0) {
                throw new IllegalStateException("inboundBuffer() has no room"); // the SPI promises room
            }
            final int limit = in.limit();
            in.limit(in.position() + n);
            b.readBytes(in);
            in.limit(limit);
            if (!b.isReadable()) {
                pending.poll();
                b.release();
            }
            handler.onInbound(n);
        }
        if (inputEnded && (pending == null || pending.isEmpty())) {
            endOfInput();
        }
    }

    @Override
    public void userEventTriggered(final ChannelHandlerContext ctx, final Object evt) {
        if (evt == ChannelInputShutdownEvent.INSTANCE) {
            shutWriteThrough(); // Netty closes the descriptor right after this event if the shutdown failed
            if (opened && !closed && !closeRequested() && !inputEnded) {
                inputEnded = true;
                try {
                    deliverPending();
                } catch (RuntimeException e) {
                    close(e);
                }
            }
        }
    }

    /** End of stream, after every byte before it reached the handler (not while suspended: that waits for resume). */
    private void endOfInput() {
        if (reads.isSuspended() || closed || closeRequested()) {
            return;
        }
        handler.onInputClosed();
        close(new ConnectionClosedException(ConnectionClosedException.Reason.PEER_CLOSED, String.valueOf(remote), null));
    }

    @Override
    public void exceptionCaught(final ChannelHandlerContext ctx, final Throwable cause) {
        shutWriteThrough(); // after a read error Netty may close the descriptor on its own
        close(cause); // an I/O error (IOException: RESET) unless a reason was already given
    }

    @Override
    public void channelInactive(final ChannelHandlerContext ctx) {
        shutWriteThrough(); // normally shut already (see the class comment); harmless again
        if (!closed) { // Netty closed the socket (an error it met, or the loop shutting down)
            close(backend.closing()
                    ? new ConnectionClosedException(ConnectionClosedException.Reason.LOCAL_CLOSE, "braid is closing", null)
                    : new ConnectionClosedException(ConnectionClosedException.Reason.RESET, "socket closed by the transport", null));
        }
    }

    // ------------------------------------------------------------------ reading on and off (loop thread)

    /** The read switch catches up with the engine's last request. */
    private void applyReads() {
        if (closed || !opened) {
            return;
        }
        try {
            reads.apply();
        } catch (RuntimeException e) {
            close(e);
        }
    }

    @Override
    public void stopReading() {
        channel.config().setAutoRead(false); // on the loop: clears EPOLLIN now
    }

    @Override
    public void startReading() {
        deliverPending();
        if (!reads.isSuspended() && !inputEnded && !closed && !closeRequested()) {
            channel.config().setAutoRead(true); // sets EPOLLIN; level-triggered, so waiting bytes are seen
        }
    }

    // ------------------------------------------------------------------ writing (loop thread)

    /** A flush the loop asked of itself: skipped when a read already flushed its answers meanwhile. */
    private void deferredFlush() {
        if (flushQueued) {
            flushNow();
        }
    }

    private void flushNow() {
        flushQueued = false;
        if (closed) {
            return;
        }
        if (awaitingWritable) {
            flushAfterWritable = true; // the pass after EPOLLOUT takes it, or the one after the region leaves
            return;
        }
        if (pump() == OutboundWriter.SOCKET_FULL && !closed && !closeRequested()) {
            awaitingWritable = true;
            writableWaits++;
            writeWhenWritable.arm();
            channel.writeAndFlush(writeWhenWritable, noPromise);
        }
    }

    /**
     * The loop's writer pass: writes until the engine has nothing left or the socket is full. Returns the
     * writer's result ({@link OutboundWriter#BUSY} when a thread writing through holds the flag: it writes
     * this too, or hands the loop another flush); a failure closes the connection.
     */
    private int pump() {
        if (!channel.isActive()) {
            return OutboundWriter.DRAINED; // Netty closed the socket: channelInactive follows and closes
        }
        try {
            return writer.flush(Long.MAX_VALUE);
        } catch (IOException | RuntimeException e) {
            close(e);
            return OutboundWriter.DRAINED;
        }
    }

    /** {@link WriteWhenWritable#transferTo}: Netty found the socket writable (or was just handed the region). */
    long writeWhenWritable() {
        final long before = bytesWritten;
        final int result = closed ? OutboundWriter.DRAINED : pump();
        if (result != OutboundWriter.SOCKET_FULL && result != OutboundWriter.BUSY || closed) {
            writeWhenWritable.complete(); // Netty removes it now (or, if nothing was written, at the next EPOLLOUT)
        }
        return bytesWritten - before;
    }

    /** {@link WriteWhenWritable#release}: Netty removed the region (written out, or the channel failed). */
    void writableRegionReleased() {
        awaitingWritable = false;
        if (flushAfterWritable) {
            flushAfterWritable = false;
            requestFlush();
        }
    }

    /** Loop thread (tests read it in a loop task). */
    long writableWaits() {
        return writableWaits;
    }

    /** The Netty channel, for tests that check socket options. */
    AbstractEpollStreamChannel channel() {
        return channel;
    }

    // ------------------------------------------------------------------ closing (loop thread)

    private void closeNow() {
        if (closed) {
            return;
        }
        if (opened) {
            writer.takeForGood(); // a thread writing through finishes its batch first; then only this thread writes
            if (!(closeReason.get() instanceof IOException) && channel.isActive()) {
                try {
                    // best effort, without waiting: answers already produced (an ERROR reply, replies before a
                    // protocol error) leave before the socket closes
                    writer.writeHeld(Long.MAX_VALUE);
                } catch (IOException | RuntimeException e) {
                    // closing anyway, with the first reason
                }
            }
        }
        closed = true;
        for (int i = 0; i < views.length; i++) {
            dropView(views[i]);
            views[i] = null;
        }
        lastView = null;
        if (pending != null) {
            ByteBuf b;
            while ((b = pending.poll()) != null) {
                b.release();
            }
        }
        channel.close(); // on the loop: closes the descriptor now; Netty then releases the region if queued
        backend.forget(this);
        if (opened) {
            try {
                handler.onClosed(closeReason.get());
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.ERROR, "onClosed failed for " + remote, e);
            }
        }
    }
}
