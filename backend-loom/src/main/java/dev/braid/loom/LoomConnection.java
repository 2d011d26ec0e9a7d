package dev.braid.loom;

import dev.braid.ConnectionClosedException;
import dev.braid.ConnectionClosedException.Reason;
import dev.braid.spi.ConnectionHandler;
import dev.braid.spi.IoThreads;
import dev.braid.spi.Transport;

import java.io.IOException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.util.Arrays;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;

/**
 * One blocking socket driven by two virtual threads.
 *
 * <h2>Threads</h2>
 * <ul>
 *   <li><b>Reader</b> ({@code <prefix>-r-<id>}): the reader context. Calls {@link ConnectionHandler#onOpen},
 *       then starts the writer, then loops: {@code inboundBuffer()}, a blocking {@code read}, {@code onInbound(n)}
 *       ({@code onInputClosed()} at end of stream). When the connection closes it waits up to
 *       {@link #FINAL_FLUSH_MILLIS} for the writer's last flush and closes the socket.</li>
 *   <li><b>Writer</b> ({@code <prefix>-w-<id>}): the writer context. Parks until {@link #requestFlush()}, then
 *       calls {@code gatherOutbound} and a gathering blocking {@code write} (then {@code onOutboundWritten})
 *       until {@code gatherOutbound} returns 0.</li>
 *   <li><b>Any thread</b>: the {@link Transport} methods. None of them calls the handler or blocks on I/O.</li>
 * </ul>
 * The two threads read and write the socket at the same time, but their handler calls never overlap: each
 * is made under {@code engineLock}, which is never held across a blocking read or write. So what the engine
 * runs inside those calls (non-blocking handlers, {@code StreamListener} readiness callbacks, documented as
 * running "on the connection's I/O thread") sees one thread at a time, as on nio. Lock order:
 * {@code engineLock} before {@code readLock}, never the reverse.
 * No {@code synchronized} anywhere: waits use {@link ReentrantLock}/{@link Condition} and
 * {@link LockSupport#park}, so a waiting virtual thread releases its carrier (JDK 21 pins on monitors).
 *
 * <h2>Hand-offs</h2>
 * <ol>
 *   <li><b>Flush.</b> {@code flushRequested} (VarHandle): a producer's {@code getAndSet(true)} (volatile) is
 *       paired with the writer's {@code getAndSet(false)} before it gathers; only the producer that moves it
 *       from false to true unparks the writer. The writer clears the flag before gathering, so a frame
 *       published after the writer's last gather always leaves the flag set and the writer un-parked
 *       (an unpark before the park is kept as the thread's permit).</li>
 *   <li><b>Read suspension.</b> {@code suspends} and {@code resumePending} are written under
 *       {@code readLock} (and are volatile, so the reader's fast path needs no lock). The count moving to 0
 *       sets {@code resumePending} and signals {@code readable}; the reader, before its next read, calls
 *       {@code onInbound(0)} for it. While the count is above 0 the reader waits on {@code readable}.
 *       Limit: a blocking read cannot be woken without shutting the input down, so a resume that arrives
 *       while the reader is blocked in {@code read} (its suspension came from another thread after the
 *       reader had checked the count) is delivered when that read returns, together with the new bytes.</li>
 *   <li><b>Close.</b> {@code closeReason} (VarHandle CAS from null): the first reason wins. The winner
 *       unparks the writer, signals {@code readable}, and then either closes the socket (an I/O error:
 *       nothing more can be written) or shuts its input down, which makes a blocked read return at once
 *       while the writer still makes its best-effort last flush. Neither thread calls the handler once it
 *       has seen {@code closeReason} set, except for that last flush.</li>
 *   <li><b>Handler calls.</b> {@code engineLock} (a {@link ReentrantLock}): its unlock by one context
 *       happens-before the other context's next lock, on top of each context's own program order.</li>
 *   <li><b>onClosed.</b> {@code contexts} starts at 2; the reader and the writer each decrement it after
 *       their last handler call (a volatile read-modify-write: release and acquire), and the one that
 *       brings it to 0 calls {@link ConnectionHandler#onClosed} exactly once, after both contexts' last
 *       calls.</li>
 * </ol>
 */
final class LoomConnection implements Transport {
    private static final System.Logger LOG = System.getLogger("dev.braid");
    /** How long the reader lets the writer's last flush run before it closes the socket under it. */
    static final long FINAL_FLUSH_MILLIS = 250;
    /** At most this much is written by the last flush (nio writes what the socket takes without blocking). */
    static final long FINAL_FLUSH_BYTES = 1 << 20;
    private static final int GATHER = 64;
    private static final VarHandle CLOSE_REASON;
    private static final VarHandle FLUSH_REQUESTED;

    static {
        try {
            final MethodHandles.Lookup l = MethodHandles.lookup();
            CLOSE_REASON = l.findVarHandle(LoomConnection.class, "closeReason", Throwable.class);
            FLUSH_REQUESTED = l.findVarHandle(LoomConnection.class, "flushRequested", boolean.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final LoomBackendInstance backend;
    final SocketChannel channel;
    private final ConnectionHandler handler;
    final long id;
    private final SocketAddress local;
    private final SocketAddress remote;

    private volatile Throwable closeReason;
    @SuppressWarnings("unused") // accessed through FLUSH_REQUESTED
    private volatile boolean flushRequested;
    /** Set by the reader before it starts the writer; read by {@link #requestFlush} and {@link #close}. */
    private volatile Thread writer;

    /**
     * Held around every handler call of both contexts (never around a blocking read or write). The SPI lets
     * the two contexts run at once, but braid's public API promises callbacks that run "on the connection's
     * I/O thread" (non-blocking handlers, {@code StreamListener} readiness) one at a time, as on nio: a
     * listener that shares state between {@code onReadable} (reader) and {@code onWritable} (writer) must
     * not see them overlap. The socket I/O itself still runs in both directions at once.
     */
    private final ReentrantLock engineLock = new ReentrantLock();
    private final ReentrantLock readLock = new ReentrantLock();
    private final Condition readable = readLock.newCondition();
    /** Suspensions minus resumes; written under {@code readLock}. */
    private volatile int suspends;
    /** The count came back to 0: the reader owes {@code onInbound(0)}. Written under {@code readLock}. */
    private volatile boolean resumePending;

    /** Reader and writer contexts that have not made their last call yet. */
    private final AtomicInteger contexts = new AtomicInteger(2);
    /** Writer thread only. */
    private final ByteBuffer[] gather = new ByteBuffer[GATHER];

    LoomConnection(final LoomBackendInstance backend, final SocketChannel channel, final ConnectionHandler handler,
                   final long id) throws IOException {
        this.backend = backend;
        this.channel = channel;
        this.handler = handler;
        this.id = id;
        this.local = channel.getLocalAddress();
        this.remote = channel.getRemoteAddress();
    }

    // ------------------------------------------------------------------ Transport (any thread)

    @Override
    public void requestFlush() {
        if (!(boolean) FLUSH_REQUESTED.getAndSet(this, true)) {
            final Thread w = writer;
            if (w != null) {
                LockSupport.unpark(w);
            }
        }
    }

    /** Tasks for the writer thread ({@link #execute}); any thread offers, the writer polls. */
    private final java.util.concurrent.ConcurrentLinkedQueue<Runnable> tasks = new java.util.concurrent.ConcurrentLinkedQueue<>();

    /** Runs {@code task} on the writer thread, loom's I/O thread for engine tasks. Any thread. */
    @Override
    public void execute(final Runnable task) {
        tasks.offer(task);
        FLUSH_REQUESTED.setVolatile(this, true);
        final Thread w = writer;
        if (w != null) {
            LockSupport.unpark(w);
        }
    }

    /** Writer thread: runs the tasks handed over so far. */
    private void runTasks() {
        Runnable t;
        while ((t = tasks.poll()) != null) {
            try {
                t.run();
            } catch (Throwable e) {
                LOG.log(System.Logger.Level.WARNING, "task failed on " + this, e);
            }
        }
    }

    @Override
    public void setReadSuspended(final boolean suspended) {
        readLock.lock();
        try {
            final int n = suspends + (suspended ? 1 : -1);
            suspends = n;
            if (n == 0) {
                // Every suspension has had its resume (in either order): the reader re-enters the decoder
                // with onInbound(0) before it reads again.
                resumePending = true;
                readable.signal();
            }
        } finally {
            readLock.unlock();
        }
    }

    @Override
    public void close(final Throwable reason) {
        final Throwable r = reason != null ? reason
                : new ConnectionClosedException(Reason.LOCAL_CLOSE, "closed without a reason", null);
        if (!CLOSE_REASON.compareAndSet(this, null, r)) {
            return;
        }
        final Thread w = writer;
        if (w != null) {
            LockSupport.unpark(w);
        }
        readLock.lock();
        try {
            readable.signalAll();
        } finally {
            readLock.unlock();
        }
        if (r instanceof IOException) {
            closeChannel(); // the socket is broken: nothing more to write
        } else {
            shutdownInput(); // wakes a blocked read; the writer still makes its last flush
        }
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
        return "loom";
    }

    @Override
    public String toString() {
        return "loom connection " + id + " " + local + " -> " + remote;
    }

    // ------------------------------------------------------------------ reader thread

    /**
     * Body of the reader thread: opens the handler, starts the writer, completes {@code connected} (if not
     * null), reads until the connection closes, then ends it.
     */
    void runReader(final CompletableFuture<Void> connected) {
        IoThreads.markCurrent("loom");
        try {
            engineLock.lock();
            try {
                handler.onOpen(this);
            } catch (RuntimeException e) {
                close(e); // as on nio: the connection opened and closes at once; onClosed follows
            } finally {
                engineLock.unlock();
            }
            startWriter();
            if (connected != null) {
                connected.complete(null);
            }
            readLoop();
        } catch (Throwable t) {
            failed(t); // one connection's failure closes that connection only
        } finally {
            endReader();
        }
    }

    private void readLoop() throws IOException {
        while (closeReason == null) {
            if (suspends > 0 || resumePending) {
                awaitReadable();
                continue;
            }
            final ByteBuffer buf;
            engineLock.lock();
            try {
                buf = handler.inboundBuffer();
            } finally {
                engineLock.unlock();
            }
            if (!buf.hasRemaining()) {
                awaitRoom();
                continue;
            }
            final int n = channel.read(buf); // blocks without the engine lock: the writer's calls go on
            if (closeReason != null) {
                return; // closing: as on nio, nothing more is handed to the handler
            }
            if (n != 0) {
                engineLock.lock();
                try {
                    if (n > 0) {
                        handler.onInbound(n);
                    } else {
                        handler.onInputClosed();
                    }
                } finally {
                    engineLock.unlock();
                }
            }
            if (n < 0) {
                close(new ConnectionClosedException(Reason.PEER_CLOSED, String.valueOf(remote), null));
                return;
            }
        }
    }

    /** Waits while reads are suspended; then, if a resume is owed, calls {@code onInbound(0)}. */
    private void awaitReadable() {
        final boolean resumed;
        readLock.lock();
        try {
            while (suspends > 0 && closeReason == null) {
                readable.await();
            }
            resumed = resumePending;
            resumePending = false;
        } catch (InterruptedException e) {
            close(new ConnectionClosedException(Reason.LOCAL_CLOSE, "reader thread interrupted", e));
            return;
        } finally {
            readLock.unlock();
        }
        if (resumed && closeReason == null) {
            engineLock.lock();
            try {
                handler.onInbound(0);
            } finally {
                engineLock.unlock();
            }
        }
    }

    /**
     * The handler's buffer has no room (it promises room; this happens only while it pauses decoding for a
     * reason whose suspension is still on its way from another thread). Waits for that suspension, a resume
     * or a close, re-checking every millisecond.
     */
    private void awaitRoom() {
        readLock.lock();
        try {
            if (suspends <= 0 && !resumePending && closeReason == null) {
                readable.await(1, TimeUnit.MILLISECONDS);
            }
        } catch (InterruptedException e) {
            close(new ConnectionClosedException(Reason.LOCAL_CLOSE, "reader thread interrupted", e));
        } finally {
            readLock.unlock();
        }
    }

    private void startWriter() {
        final Thread w = backend.newThread("-w-" + id, this::runWriter);
        writer = w;
        try {
            backend.startTracked(w);
        } catch (Throwable t) {
            writer = null;
            contexts.decrementAndGet(); // the writer context will make no calls; the reader still holds one
            failed(t);
        }
    }

    /** Reader thread, last: give the writer's last flush its time, close the socket, end the reader context. */
    private void endReader() {
        final Thread w = writer;
        if (w != null) {
            try {
                w.join(FINAL_FLUSH_MILLIS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        closeChannel(); // unblocks a writer still stuck in a write to a peer that does not read
        endContext();
    }

    // ------------------------------------------------------------------ writer thread

    private void runWriter() {
        IoThreads.markCurrent("loom");
        try {
            while (true) {
                if (!(boolean) FLUSH_REQUESTED.getAndSet(this, false)) {
                    if (closeReason != null) {
                        break;
                    }
                    LockSupport.park(this);
                    if (Thread.currentThread().isInterrupted()) { // only BackendInstance.close interrupts, as a last resort
                        close(new ConnectionClosedException(Reason.LOCAL_CLOSE, "writer thread interrupted", null));
                    }
                    continue;
                }
                if (closeReason != null) {
                    break;
                }
                runTasks();
                flush(false);
            }
            if (!(closeReason instanceof IOException) && channel.isOpen()) {
                // Best effort, bounded: answers already produced (an ERROR reply before a protocol-error
                // close, replies before an abort) leave before the socket closes.
                flush(true);
            }
        } catch (Throwable t) {
            failed(t);
        } finally {
            closeChannel();
            endContext();
        }
    }

    /**
     * Gathers and writes until the handler has nothing more. An ordinary flush stops when a close is
     * requested (the last flush then takes over); the last flush stops after {@link #FINAL_FLUSH_BYTES}.
     */
    private void flush(final boolean last) throws IOException {
        long budget = last ? FINAL_FLUSH_BYTES : Long.MAX_VALUE;
        long written = -1; // nothing written yet in this flush
        while (true) {
            final int n;
            engineLock.lock();
            try {
                if (written >= 0) {
                    handler.onOutboundWritten(written);
                }
                if (budget <= 0 || (!last && closeReason != null)) {
                    return;
                }
                n = handler.gatherOutbound(gather);
            } finally {
                engineLock.unlock();
            }
            if (n == 0) {
                return;
            }
            try {
                written = channel.write(gather, 0, n); // blocks without the engine lock: the reader's calls go on
            } finally {
                Arrays.fill(gather, 0, n, null);
            }
            budget -= written;
        }
    }

    // ------------------------------------------------------------------ both threads

    private void failed(final Throwable t) {
        if (closeReason == null && !(t instanceof IOException || t instanceof RuntimeException)) {
            LOG.log(System.Logger.Level.ERROR, Thread.currentThread().getName() + " failed; closing " + this, t);
        }
        close(t);
    }

    /** Each context calls this once, after its last handler call; the last one calls {@code onClosed}. */
    private void endContext() {
        if (contexts.decrementAndGet() == 0) {
            backend.forget(this);
            try {
                handler.onClosed(closeReason);
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.WARNING, "onClosed failed on " + this, e);
            }
        }
    }

    private void shutdownInput() {
        try {
            channel.shutdownInput();
        } catch (IOException | RuntimeException e) {
            closeChannel(); // not connected or already closed: closing wakes the reader as well
        }
    }

    /** Any thread. Idempotent; wakes a blocked read or write with {@code AsynchronousCloseException}. */
    void closeChannel() {
        try {
            channel.close();
        } catch (IOException e) {
            // closing anyway
        }
    }
}
