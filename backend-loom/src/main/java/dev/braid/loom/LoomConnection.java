package dev.braid.loom;

import dev.braid.ConnectionClosedException;
import dev.braid.ConnectionClosedException.Reason;
import dev.braid.internal.backend.CloseReason;
import dev.braid.internal.backend.OutboundWriter;
import dev.braid.internal.backend.ReadSuspension;
import dev.braid.spi.ConnectionHandler;
import dev.braid.spi.IoThreads;
import dev.braid.spi.Transport;

import java.io.IOException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;

/**
 * One socket driven by two virtual threads. The writer flag, the gather loop, the read switch and the first
 * close reason are core's shared backend code ({@code dev.braid.internal.backend}); this class holds the
 * reads and writes and the two threads.
 *
 * <h2>Non-blocking socket</h2>
 * From JDK 24 on ({@link #NON_BLOCKING}; before, the socket is blocking and the rest of this paragraph and
 * the next do not apply) the channel is in non-blocking mode, so that any thread may try a write without being able to block on a
 * full socket, and without the {@code InterruptibleChannel} rule (an interrupt during a blocking channel
 * operation closes the channel) applying: a non-blocking channel operation ignores the interrupt and leaves
 * the thread's interrupt status as it was. The reader waits for bytes, and the writer for a full socket to
 * drain, each in a {@link Selector} of its own ({@code readSelector} with {@code OP_READ}, {@code writeSelector}
 * with {@code OP_WRITE}, opened on the thread's first wait and closed by that thread as it ends); a virtual
 * thread parks in {@code select} (the JDK polls the selector's descriptor for it), as it would in a blocking
 * read. The close and {@link #closeChannel} wake both selectors. The JDK closes the socket's descriptor only
 * once no selector holds the channel, so each selector is closed by its thread on every path.
 *
 * <h2>Write-through</h2>
 * A latency-sensitive frame ({@link #requestUrgentFlush()}) is written by the thread that produced it, with
 * one non-blocking gathering write of at most {@link OutboundWriter#WRITE_THROUGH_BUDGET} bytes under the
 * writer flag; what the socket does not take is the writer thread's (a flush request). An application thread
 * writes at once, unless the writer waits for the socket to drain, a close was asked for, or it is one of
 * braid's I/O threads (another connection's reader, say: it hands the write over, as before). The reader
 * writes an urgent frame asked for inside its handler call (the answer of a non-blocking handler) right
 * after that call, outside the reader context: the answer leaves without waking the writer thread. Either
 * way the writing thread runs the writer context for that batch, so what {@code gatherOutbound} raises (a
 * stream's freed send space) is delivered there, or, on an application thread, handed to the reader
 * context with {@link #execute}. {@code -Dbraid.loom.writeThrough=false} turns it off.
 *
 * <h2>Threads</h2>
 * <ul>
 *   <li><b>Reader</b> ({@code <prefix>-r-<id>}): the reader context. Calls {@link ConnectionHandler#onOpen},
 *       then starts the writer, then loops: {@code inboundBuffer()}, a blocking {@code read}, {@code onInbound(n)}
 *       ({@code onInputClosed()} at end of stream). When the connection closes it waits up to
 *       {@link #FINAL_FLUSH_MILLIS} for the writer's last flush and closes the socket.</li>
 *   <li><b>Writer</b> ({@code <prefix>-w-<id>}): the writer context. Parks until {@link #requestFlush()}, then
 *       takes the {@link OutboundWriter}'s flag and calls {@code gatherOutbound}, a gathering blocking
 *       {@code write} and {@code onOutboundWritten} until {@code gatherOutbound} returns 0. It also runs the
 *       tasks handed to {@link #execute} when the reader context is free.</li>
 *   <li><b>Any thread</b>: the {@link Transport} methods. None of them calls the handler or blocks on I/O.</li>
 * </ul>
 * The two contexts run at the same time, as the SPI allows: the reader's handler calls and the writer's
 * never wait for each other, so a slow callback on one side (a non-blocking handler or a reply handler on
 * the reader, a stream listener's {@code onWritable} on the writer) never stalls the other direction. Each
 * context is one thread at a time: the reader context is guarded by {@code readerContext} (held by the
 * reader around its handler calls, and by whichever thread runs {@link #execute}'s tasks), the writer
 * context by the writer flag. The engine serialises what it must not run twice at once (a stream's listener
 * callbacks) itself. No {@code synchronized} anywhere: waits use {@link ReentrantLock}/{@link Condition} and
 * {@link LockSupport#park}, so a waiting virtual thread releases its carrier (JDK 21 pins on monitors).
 *
 * <h2>Hand-offs</h2>
 * <ol>
 *   <li><b>Flush.</b> {@code flushRequested} (VarHandle): a producer's {@code getAndSet(true)} (volatile) is
 *       paired with the writer's {@code getAndSet(false)} before it gathers; only the producer that moves it
 *       from false to true unparks the writer. The writer clears the flag before gathering, so a frame
 *       published after the writer's last gather always leaves the flag set and the writer un-parked
 *       (an unpark before the park is kept as the thread's permit).</li>
 *   <li><b>Reading on and off.</b> {@link ReadSuspension}: the request is recorded (volatile) and, for "on",
 *       {@code readable} is signalled under {@code readLock}. The reader, before each read, waits on
 *       {@code readable} while "off" is wanted, and calls {@code onInbound(0)} when one is owed. Limit: a
 *       blocking read cannot be woken without shutting the input down, so an "off" that arrives while the
 *       reader is blocked in {@code read} (asked from another thread after the reader had looked) takes
 *       effect when that read returns, after its bytes were handed over.</li>
 *   <li><b>Tasks.</b> {@code tasks} (a lock-free queue: offer happens-before poll) are run under
 *       {@code readerContext} by the reader after its handler call, or by the writer (or a one-off task
 *       thread while the writer is blocked in a write) with {@code tryLock} while the reader waits in a read.
 *       A thread that fails {@code tryLock} leaves them to the holder, which looks at the queue again after
 *       unlocking (each side writes its variable, then reads the other's): none is stranded.</li>
 *   <li><b>Close.</b> {@link CloseReason}: the first reason wins. The winner unparks the writer, signals
 *       {@code readable}, and then either closes the socket (an I/O error: nothing more can be written) or
 *       shuts its input down, which makes a blocked read return at once while the writer still makes its
 *       best-effort last flush. Neither thread calls the handler once it has seen the reason set, except for
 *       that last flush.</li>
 *   <li><b>onClosed.</b> {@code contexts} starts at 2; the reader and the writer each decrement it after
 *       their last handler call (a volatile read-modify-write: release and acquire), and the one that
 *       brings it to 0 calls {@link ConnectionHandler#onClosed} exactly once, after both contexts' last
 *       calls.</li>
 * </ol>
 */
final class LoomConnection implements Transport {
    private static final System.Logger LOG = System.getLogger("dev.braid.loom");
    /** How long the reader lets the writer's last flush run before it closes the socket under it. */
    static final long FINAL_FLUSH_MILLIS = 250;
    /** At most this much is written by the last flush (nio writes what the socket takes without blocking). */
    static final long FINAL_FLUSH_BYTES = 1 << 20;
    /**
     * Whether the socket is non-blocking (see the class comment): from JDK 24 on, where a virtual thread
     * waiting in {@code Selector.select} parks (JEP 491); on JDK 21-23 it would pin its carrier there, so the
     * socket stays blocking and nothing is written through.
     */
    static final boolean NON_BLOCKING = Runtime.version().feature() >= 24;
    /** Whether urgent frames are written through (on by default where the socket is non-blocking; -Dbraid.loom.writeThrough=false). */
    static final boolean WRITE_THROUGH = NON_BLOCKING
            && Boolean.parseBoolean(System.getProperty("braid.loom.writeThrough", "true"));
    /** {@code select(action)} fills no selected-key set: a wake-up allocates nothing. */
    private static final java.util.function.Consumer<SelectionKey> IGNORE = k -> { };
    private static final VarHandle FLUSH_REQUESTED;
    private static final VarHandle TASK_RUNNER;

    static {
        try {
            final MethodHandles.Lookup l = MethodHandles.lookup();
            FLUSH_REQUESTED = l.findVarHandle(LoomConnection.class, "flushRequested", boolean.class);
            TASK_RUNNER = l.findVarHandle(LoomConnection.class, "taskRunner", boolean.class);
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

    private final CloseReason closeReason = new CloseReason();
    @SuppressWarnings("unused") // accessed through FLUSH_REQUESTED
    private volatile boolean flushRequested;
    /** Set by the reader before it starts the writer; read by {@link #requestFlush} and {@link #close}. */
    private volatile Thread writer;
    /** The reader thread, set by itself before its first handler call. */
    private volatile Thread readerThread;
    /** An urgent flush asked on the reader, inside a handler call: written right after it (reader only). */
    private boolean urgentAfterRead;
    private final Writer out;
    private final ReadSuspension reads;
    /** The reader's readiness wait (OP_READ): opened, used and closed by the reader thread only; null until its first wait. */
    private volatile Selector readSelector;
    /** The writer's wait for a full socket to drain (OP_WRITE): opened, used and closed by the writer thread only. */
    private volatile Selector writeSelector;

    /** The reader context: held by the reader around its handler calls and by whoever runs tasks. */
    private final ReentrantLock readerContext = new ReentrantLock();
    /** Set under {@code readerContext} after the reader context's last call: tasks are dropped from then on. */
    private boolean readerEnded;
    private final ConcurrentLinkedQueue<Runnable> tasks = new ConcurrentLinkedQueue<>();
    /** A one-off task thread is running (see the class comment, "Tasks"). */
    @SuppressWarnings("unused") // accessed through TASK_RUNNER
    private volatile boolean taskRunner;

    private final ReentrantLock readLock = new ReentrantLock();
    private final Condition readable = readLock.newCondition();

    /** Reader and writer contexts that have not made their last call yet. */
    private final AtomicInteger contexts = new AtomicInteger(2);

    /** The non-blocking gathering write; counts what it wrote (holder of the writer flag only). */
    private final class Writer extends OutboundWriter {
        long written;
        /**
         * The writer thread waits for a full socket to drain (no write-through then: the socket is full), or,
         * on a blocking socket, is inside {@code write}.
         */
        volatile boolean inWrite;
        /** The last flush: the only writing allowed once the close has begun. */
        volatile boolean lastFlush;

        Writer() {
            super(handler);
        }

        @Override
        protected long write(final ByteBuffer[] srcs, final int count) throws IOException {
            if (!lastFlush && closeReason.isSet()) {
                return 0; // closing: the last flush takes over (what is left stays at the head of the batch)
            }
            if (NON_BLOCKING) {
                final long n = channel.write(srcs, 0, count); // what the socket takes now
                written += n;
                return n;
            }
            inWrite = true;
            try {
                final long n = channel.write(srcs, 0, count); // blocks until the socket takes something
                written += n;
                return n;
            } finally {
                inWrite = false;
            }
        }
    }

    /** Loom's reader waits on its own condition instead of changing socket interest. */
    private static final ReadSuspension.Reads NO_INTEREST = new ReadSuspension.Reads() {
        @Override
        public void stopReading() {
        }

        @Override
        public void startReading() {
        }
    };

    LoomConnection(final LoomBackendInstance backend, final SocketChannel channel, final ConnectionHandler handler,
                   final long id) throws IOException {
        this.backend = backend;
        this.channel = channel;
        this.handler = handler;
        this.id = id;
        this.local = channel.getLocalAddress();
        this.remote = channel.getRemoteAddress();
        this.out = new Writer();
        this.reads = new ReadSuspension(handler, NO_INTEREST);
        if (NON_BLOCKING) {
            channel.configureBlocking(false); // see the class comment, "Non-blocking socket"
        }
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

    /**
     * An application thread writes its urgent frame itself (see the class comment, "Write-through"); braid's
     * own threads, a socket known to be full or a close in progress hand it to the writer.
     */
    @Override
    public void requestUrgentFlush() {
        if (WRITE_THROUGH && Thread.currentThread() == readerThread) {
            urgentAfterRead = true;
            return;
        }
        if (WRITE_THROUGH && !out.inWrite && !closing() && !IoThreads.isIoThread()) {
            writeThrough();
        } else {
            requestFlush();
        }
    }

    private void writeThrough() {
        final int result;
        try {
            result = out.flushThrough(OutboundWriter.WRITE_THROUGH_BUDGET);
        } catch (IOException | RuntimeException e) {
            close(e);
            return;
        }
        if (result != OutboundWriter.DRAINED && result != OutboundWriter.BUSY) {
            requestFlush(); // socket full (the writer waits for it to drain) or past the budget
        }
    }

    /** Reader, after a handler call: writes the urgent frame it produced, unless the socket is full. */
    private void afterRead() {
        if (urgentAfterRead) {
            urgentAfterRead = false;
            if (!out.inWrite && !closing()) {
                writeThrough();
            } else {
                requestFlush();
            }
        }
    }

    /**
     * Runs {@code task} in the reader context, soon, after the tasks handed over before it: on the writer
     * thread while the reader waits in a read, or on the reader right after its current handler call (or on
     * a one-off virtual thread while the writer is blocked in a write). Never on the calling thread, never
     * at the same time as another task or a reader-context handler call. Tasks handed over after the reader
     * context's last call are dropped. Any thread.
     */
    @Override
    public void execute(final Runnable task) {
        tasks.offer(task);
        if (out.inWrite && !(boolean) TASK_RUNNER.getAndSet(this, true)) {
            try {
                backend.startTracked(backend.newThread("-t-" + id, this::runTaskThread));
            } catch (Throwable e) {
                taskRunner = false;
                wakeWriterForTasks(); // the writer runs them once its write returns
            }
        } else {
            wakeWriterForTasks();
        }
    }

    private void wakeWriterForTasks() {
        FLUSH_REQUESTED.setVolatile(this, true);
        final Thread w = writer;
        if (w != null) {
            LockSupport.unpark(w);
        }
    }

    private void runTaskThread() {
        try {
            do {
                drainTasks();
                taskRunner = false;
            } while (!tasks.isEmpty() && !(boolean) TASK_RUNNER.getAndSet(this, true));
        } catch (Throwable t) {
            taskRunner = false;
            throw t;
        }
    }

    /** Any thread: runs the queued tasks if the reader context is free; otherwise its holder will. */
    private void drainTasks() {
        while (!tasks.isEmpty() && readerContext.tryLock()) {
            try {
                runTasksHeld();
            } finally {
                readerContext.unlock();
            }
        }
    }

    /** Holder of {@code readerContext}. */
    private void runTasksHeld() {
        Runnable t;
        while ((t = tasks.poll()) != null) {
            if (readerEnded) {
                continue; // after the reader context's last call: dropped, as the SPI allows
            }
            try {
                t.run();
            } catch (Throwable e) {
                LOG.log(System.Logger.Level.WARNING, "task failed on " + this, e);
            }
        }
    }

    private void enterReader() {
        readerContext.lock();
    }

    /** The reader after a handler call: tasks queued meanwhile run before it reads again. */
    private void exitReader() {
        try {
            runTasksHeld();
        } finally {
            readerContext.unlock();
        }
        drainTasks(); // a task offered while we held the context and after our last poll
    }

    @Override
    public void setReadSuspended(final boolean suspended) {
        reads.request(suspended);
        if (!suspended) {
            readLock.lock();
            try {
                readable.signal();
            } finally {
                readLock.unlock();
            }
        }
    }

    @Override
    public void close(final Throwable reason) {
        final Throwable r = reason != null ? reason
                : new ConnectionClosedException(Reason.LOCAL_CLOSE, "closed without a reason", null);
        if (!closeReason.offer(r)) {
            return;
        }
        final Thread w = writer;
        if (w != null) {
            LockSupport.unpark(w);
        }
        wakeSelectors();
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

    private boolean closing() {
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
        try {
            readerThread = Thread.currentThread();
            enterReader();
            try {
                handler.onOpen(this);
            } catch (RuntimeException e) {
                close(e); // as on nio: the connection opened and closes at once; onClosed follows
            } finally {
                exitReader();
            }
            startWriter();
            afterRead(); // an urgent flush asked in onOpen
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
        while (!closing()) {
            if (reads.isSuspendWanted()) {
                awaitResume();
                continue;
            }
            if (reads.takeResumeOwed()) {
                enterReader();
                try {
                    handler.onInbound(0); // decode what the engine holds before reading more
                } finally {
                    exitReader();
                }
                afterRead();
                continue; // it may have suspended again
            }
            final ByteBuffer buf;
            enterReader();
            try {
                buf = handler.inboundBuffer();
            } finally {
                exitReader();
            }
            if (!buf.hasRemaining()) {
                awaitRoom();
                continue;
            }
            int n = channel.read(buf); // blocking socket: blocks outside the reader context
            while (n == 0 && NON_BLOCKING && !closing()) {
                n = awaitReadable(buf); // outside the reader context: tasks may run meanwhile
            }
            if (closing()) {
                return; // closing: as on nio, nothing more is handed to the handler
            }
            if (n != 0) {
                enterReader();
                try {
                    if (n > 0) {
                        handler.onInbound(n);
                    } else {
                        handler.onInputClosed();
                    }
                } finally {
                    exitReader();
                }
                afterRead();
            }
            if (n < 0) {
                close(new ConnectionClosedException(Reason.PEER_CLOSED, String.valueOf(remote), null));
                return;
            }
        }
    }

    /**
     * Reader: the socket had nothing; waits until it is readable (or the close wakes the selector), then
     * reads again.
     */
    private int awaitReadable(final ByteBuffer buf) throws IOException {
        Selector s = readSelector;
        if (s == null) {
            s = Selector.open();
            readSelector = s; // before the close check: a close after it wakes this selector
            channel.register(s, SelectionKey.OP_READ);
            if (closing()) {
                return 0;
            }
        }
        s.select(IGNORE); // a virtual thread parks here; level-triggered: returns at once if bytes are waiting
        return closing() ? 0 : channel.read(buf);
    }

    /**
     * Writer: waits up to {@code millis} (0: no limit) for the full socket to drain, or for the close or
     * {@link #closeChannel} to wake its selector.
     */
    private void awaitWritable(final long millis) throws IOException {
        Selector s = writeSelector;
        if (s == null) {
            s = Selector.open();
            writeSelector = s; // before the close check: a close after it wakes this selector
            channel.register(s, SelectionKey.OP_WRITE);
        }
        out.inWrite = true;
        try {
            if (out.lastFlush || !closing()) {
                s.select(IGNORE, millis);
            }
        } finally {
            out.inWrite = false;
        }
    }

    /** Any thread: makes a reader or writer waiting in its selector look again (at the close). */
    private void wakeSelectors() {
        final Selector r = readSelector;
        if (r != null) {
            r.wakeup();
        }
        final Selector w = writeSelector;
        if (w != null) {
            w.wakeup();
        }
    }

    /** The thread that opened {@code s}, last: closing it deregisters the channel (whose descriptor the JDK
     * closes once no selector holds it). */
    private static void closeSelector(final Selector s) {
        if (s != null) {
            try {
                s.close();
            } catch (IOException | RuntimeException e) {
                // closing anyway
            }
        }
    }

    /** Waits while reading is off (or until the close). The owed {@code onInbound(0)} follows in the loop. */
    private void awaitResume() {
        readLock.lock();
        try {
            while (reads.isSuspendWanted() && !closing()) {
                readable.await();
            }
        } catch (InterruptedException e) {
            close(new ConnectionClosedException(Reason.LOCAL_CLOSE, "reader thread interrupted", e));
        } finally {
            readLock.unlock();
        }
    }

    /**
     * The handler's buffer has no room (it promises room; this happens only while it pauses decoding for a
     * reason whose "off" is still on its way from another thread). Waits for that "off", an owed resume or a
     * close, re-checking every millisecond.
     */
    private void awaitRoom() {
        readLock.lock();
        try {
            if (!reads.isSuspendWanted() && !closing()) {
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

    /**
     * Reader thread, last: give the writer's last flush its time, close the socket, run the tasks still
     * queued (reader context), end the reader context.
     */
    private void endReader() {
        final Thread w = writer;
        if (w != null) {
            try {
                w.join(FINAL_FLUSH_MILLIS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        closeChannel(); // wakes a writer still waiting to write to a peer that does not read
        closeSelector(readSelector);
        readerContext.lock();
        try {
            runTasksHeld();
            readerEnded = true;
        } finally {
            readerContext.unlock();
        }
        endContext();
    }

    // ------------------------------------------------------------------ writer thread

    private void runWriter() {
        boolean held = false;
        try {
            while (true) {
                if (!(boolean) FLUSH_REQUESTED.getAndSet(this, false)) {
                    if (closing()) {
                        break;
                    }
                    LockSupport.park(this);
                    if (Thread.currentThread().isInterrupted()) { // only BackendInstance.close interrupts, as a last resort
                        close(new ConnectionClosedException(Reason.LOCAL_CLOSE, "writer thread interrupted", null));
                    }
                    continue;
                }
                if (closing()) {
                    break;
                }
                drainTasks();
                int r;
                while ((r = out.flush(Long.MAX_VALUE)) == OutboundWriter.SOCKET_FULL && !closing()) {
                    if (NON_BLOCKING) {
                        awaitWritable(0); // then write the rest
                        drainTasks();
                    } // blocking: a short write only means write the rest
                }
            }
            // From here on only this thread gathers: a caller or the reader writing through finishes its batch
            // first, later ones are refused. Without this a write-through that passed its closing() check could
            // gather (TLS: take its netOut buffer) after onClosed released everything, and leak it.
            out.takeForGood();
            held = true;
            if (!(closeReason.get() instanceof IOException) && channel.isOpen()) {
                lastFlush();
            }
        } catch (Throwable t) {
            failed(t);
        } finally {
            if (!held) {
                out.takeForGood(); // not held here: flush released the flag before the exception left it
            }
            closeChannel();
            closeSelector(writeSelector);
            endContext();
        }
    }

    /**
     * Best effort, bounded by {@link #FINAL_FLUSH_BYTES} (and by the reader's {@link #FINAL_FLUSH_MILLIS}):
     * answers already produced (an ERROR reply before a protocol-error close, replies before an abort) leave
     * before the socket closes.
     */
    private void lastFlush() throws IOException {
        out.lastFlush = true;
        final long start = out.written;
        final long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(FINAL_FLUSH_MILLIS);
        long left = FINAL_FLUSH_BYTES;
        int r;
        while ((r = out.writeHeld(left)) == OutboundWriter.SOCKET_FULL
                && (left = FINAL_FLUSH_BYTES - (out.written - start)) > 0 && channel.isOpen()) {
            final long ms = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
            if (ms <= 0) {
                break;
            }
            if (NON_BLOCKING) {
                awaitWritable(ms);
            }
        }
    }

    // ------------------------------------------------------------------ both threads

    private void failed(final Throwable t) {
        if (!closing() && !(t instanceof IOException || t instanceof RuntimeException)) {
            LOG.log(System.Logger.Level.ERROR, Thread.currentThread().getName() + " failed; closing " + this, t);
        }
        close(t);
    }

    /** Each context calls this once, after its last handler call; the last one calls {@code onClosed}. */
    private void endContext() {
        if (contexts.decrementAndGet() == 0) {
            backend.forget(this);
            try {
                handler.onClosed(closeReason.get());
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

    /**
     * Any thread. Idempotent; wakes the reader and the writer from their selectors. The JDK closes the
     * descriptor once no selector holds the channel (each thread closes its own selector as it ends).
     */
    void closeChannel() {
        try {
            channel.close();
        } catch (IOException e) {
            // closing anyway
        }
        wakeSelectors();
    }
}
