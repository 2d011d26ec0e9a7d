package dev.braid.internal.engine;

import dev.braid.BraidException;
import dev.braid.BraidStream;
import dev.braid.ConnectionClosedException;
import dev.braid.PayloadWriter;
import dev.braid.Procedure;
import dev.braid.RemoteError;
import dev.braid.RemoteException;
import dev.braid.StreamListener;
import dev.braid.StreamPacket;
import dev.braid.internal.concurrent.MpscBufferQueue;
import dev.braid.buffer.PooledBuffer;
import dev.braid.internal.concurrent.SpscBufferRing;
import dev.braid.internal.wire.Frames;
import dev.braid.internal.wire.RemoteErrorCodec;
import dev.braid.spi.IoThreads;
import dev.braid.spi.Transport;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.System.Logger.Level;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

import static dev.braid.internal.wire.FrameHeader.*;

/**
 * One stream on one connection, either side.
 *
 * <h2>Data paths (no locks)</h2>
 * <ul>
 *   <li><b>Outbound</b>: the writing application thread claims a pooled packet, fills it and offers it to
 *   {@link #out}, a {@link SpscBufferRing} consumed by the connection's writer, which schedules streams by
 *   deficit round-robin ({@link StreamScheduler}) and only sends a data packet when {@link #sendCredit}
 *   covers it. The stream's end (EOF, OK) travels through the same ring, so it never overtakes data; an
 *   abort goes on the control lane and overtakes everything.</li>
 *   <li><b>Inbound</b>: the connection's reader offers each packet to {@link #in} (an MPSC queue used by
 *   one producer here) and counts its window cost in {@link #inQueuedBytes}; the reading application thread polls
 *   it. A consumed packet returns its bytes as credit (a CREDIT message) once enough have accumulated.</li>
 * </ul>
 *
 * <h2>Consumer tokens</h2>
 * An abort (any thread) or a connection close must release queued packets at once, but each queue has one
 * consumer. So each queue's consumer side is guarded by a token ({@link #inToken}, {@link #outToken}): the
 * normal consumer takes it with one uncontended CAS per poll, a drainer takes it to empty the queue, and
 * whoever holds it when {@link #failure} is set drains after releasing it. Nobody ever waits for a token.
 *
 * <h2>Waiting</h2>
 * A blocked reader or writer parks after publishing itself in {@code readWaiter} / {@code writeWaiter}
 * (volatile) and re-checking its condition; the other side wakes it after changing the condition
 * (Dekker-style: each writes its own volatile, then reads the other's).
 *
 * <h2>Lifecycle</h2>
 * Registered in the connection's stream table when opened (client: before the opening call is sent;
 * server: when the call arrives). Ends when finished (client: the server's OK arrived; server: its OK was
 * queued) or failed (either side aborted, or the connection closed). One stream per call, as in libvirt:
 * the table is keyed by the opening call's serial, which is what STREAM packets carry.
 */
public final class StreamImpl implements BraidStream {
    private static final VarHandle SCHEDULED;
    private static final VarHandle IN_READY;
    private static final VarHandle IN_TOKEN;
    private static final VarHandle OUT_TOKEN;
    private static final VarHandle FAILURE;
    private static final VarHandle DONE;
    private static final VarHandle WANT_WRITABLE;
    private static final VarHandle DELIVERY_QUEUED;
    private static final int OUT_RING_PACKETS = 8;

    static {
        try {
            final MethodHandles.Lookup l = MethodHandles.lookup();
            SCHEDULED = l.findVarHandle(StreamImpl.class, "scheduled", boolean.class);
            IN_READY = l.findVarHandle(StreamImpl.class, "inReady", boolean.class);
            IN_TOKEN = l.findVarHandle(StreamImpl.class, "inToken", boolean.class);
            OUT_TOKEN = l.findVarHandle(StreamImpl.class, "outToken", boolean.class);
            FAILURE = l.findVarHandle(StreamImpl.class, "failure", BraidException.class);
            DONE = l.findVarHandle(StreamImpl.class, "done", boolean.class);
            WANT_WRITABLE = l.findVarHandle(StreamImpl.class, "wantWritable", boolean.class);
            DELIVERY_QUEUED = l.findVarHandle(StreamImpl.class, "deliveryQueued", boolean.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    final ConnectionEngine conn;
    final Procedure procedure;
    final int serial;
    final boolean serverSide;
    private final int maxPacket;
    /** Windows and credits, both directions (thread-safe; see StreamFlowControl). */
    final StreamFlowControl flow;

    // outbound
    final SpscBufferRing out = new SpscBufferRing(OUT_RING_PACKETS);
    private volatile Thread writeWaiter;
    /** A non-blocking writer found the ring full and waits for onWritable. */
    private volatile boolean wantWritable;
    @SuppressWarnings("unused") private volatile boolean scheduled;
    @SuppressWarnings("unused") private volatile boolean outToken;
    /** Writer-owned scheduling state (see StreamScheduler). */
    boolean inActive;
    long deficit;

    // inbound
    final MpscBufferQueue in = new MpscBufferQueue();
    private volatile Thread readWaiter;
    @SuppressWarnings("unused") private volatile boolean inToken;
    /** Reading thread: the packet being consumed and where. */
    private PooledBuffer current;
    private int currentPos;
    private long holeLeft;
    volatile long lastReadNanos = System.nanoTime();
    /** Compatible mode: this stream paused the connection's reads. */
    final java.util.concurrent.atomic.AtomicBoolean pausedReads = new java.util.concurrent.atomic.AtomicBoolean();

    // state
    @SuppressWarnings("unused") private volatile BraidException failure;
    private volatile boolean remoteEof;       // peer's EOF (CONTINUE 0) or, at a server, the client's OK
    private volatile boolean localEndQueued;  // our EOF/OK is in the ring
    private volatile boolean eofQueued;       // server: our EOF is in the ring
    private volatile boolean done; // finished or failed; set once through DONE
    /** The reading thread was told EOF: every byte the peer sent was read. */
    private volatile boolean eofDelivered;
    /** Client: frees the slot if the server's RELEASE does not come in time. */
    volatile java.util.concurrent.ScheduledFuture<?> releaseTimer;
    /** Server: the opening call was answered OK, so the client knows the stream. */
    volatile boolean accepted;
    private final java.util.concurrent.atomic.AtomicInteger holds;
    final CompletableFuture<Void> remoteOk = new CompletableFuture<>();
    private volatile StreamListener listener;
    private volatile long bytesWritten;
    private volatile long bytesRead;
    private final Duration finishTimeout;

    StreamImpl(final ConnectionEngine conn, final Procedure procedure, final int serial, final boolean serverSide,
               final boolean flowControl, final long receiveWindow, final long sendWindow, final int holds) {
        this.conn = conn;
        this.procedure = procedure;
        this.serial = serial;
        this.serverSide = serverSide;
        this.flow = new StreamFlowControl(flowControl, sendWindow, receiveWindow, conn.sendBudget);
        // A packet must fit the peer's window whole, or it could never be sent.
        final long byWindow = flowControl ? sendWindow - HEADER_LENGTH : Integer.MAX_VALUE;
        this.maxPacket = (int) Math.max(1, Math.min(Math.min(conn.cfg.maxStreamPacket(),
                conn.maxOutboundMessage - HEADER_LENGTH), byWindow));
        this.finishTimeout = conn.cfg.streamFinishTimeout();
        this.holds = new java.util.concurrent.atomic.AtomicInteger(holds);
    }

    @Override
    public Procedure procedure() {
        return procedure;
    }

    @Override
    public int serial() {
        return serial;
    }

    // ================================================================== writing (the writing thread)

    @Override
    public void write(final ByteBuffer src) {
        while (src.hasRemaining()) {
            final int n = Math.min(src.remaining(), maxPacket);
            final PooledBuffer f = dataPacket(n);
            final ByteBuffer b = f.byteBuffer();
            final int limit = src.limit();
            src.limit(src.position() + n);
            b.put(src);
            src.limit(limit);
            commitAndQueue(f, TYPE_STREAM, STATUS_CONTINUE, true);
            bytesWritten += n;
        }
    }

    @Override
    public void write(final byte[] bytes, final int off, final int len) {
        write(ByteBuffer.wrap(bytes, off, len));
    }

    @Override
    public void write(final int length, final PayloadWriter writer) {
        if (length < 1 || length > maxPacket) {
            throw new IllegalArgumentException("packet length " + length + " outside [1, " + maxPacket + "]");
        }
        final PooledBuffer f = dataPacket(length);
        final ByteBuffer b = f.byteBuffer();
        try {
            final ByteBuffer dst = b.slice(PAYLOAD_OFFSET, length);
            writer.write(dst);
            if (dst.hasRemaining()) {
                throw new IllegalStateException("PayloadWriter wrote " + dst.position() + " of the " + length
                        + " bytes it declared");
            }
        } catch (Throwable t) {
            f.release();
            throw t;
        }
        b.position(PAYLOAD_OFFSET + length);
        commitAndQueue(f, TYPE_STREAM, STATUS_CONTINUE, true);
        bytesWritten += length;
    }

    @Override
    public int tryWrite(final ByteBuffer src) {
        checkWritable();
        int total = 0;
        while (src.hasRemaining()) {
            if (out.isFullVolatile()) {
                // Ask the writer for onWritable, then look again: a slot freed before the flag was seen
                // would otherwise go unannounced.
                wantWritable = true;
                if (out.isFullVolatile()) {
                    break;
                }
                wantWritable = false;
            }
            final int n = Math.min(src.remaining(), maxPacket);
            final PooledBuffer f = dataPacket(n);
            final int limit = src.limit();
            src.limit(src.position() + n);
            f.byteBuffer().put(src);
            src.limit(limit);
            commitAndQueue(f, TYPE_STREAM, STATUS_CONTINUE, false);
            total += n;
            bytesWritten += n;
        }
        return total;
    }

    @Override
    public void sendHole(final long length) {
        if (length <= 0) {
            throw new IllegalArgumentException("hole length must be > 0: " + length);
        }
        checkWritable();
        final PooledBuffer f = Frames.claim(conn.pool, 12);
        f.byteBuffer().putLong(length).putInt(0);
        commitAndQueue(f, TYPE_STREAM_HOLE, STATUS_CONTINUE, true);
        bytesWritten += length;
    }

    private PooledBuffer dataPacket(final int n) {
        checkWritable();
        return Frames.claim(conn.pool, n);
    }

    private void checkWritable() {
        final BraidException f = failure;
        if (f != null) {
            throw f;
        }
        if (localEndQueued || eofQueued) {
            throw new IllegalStateException("stream " + this + " was already finished on this side");
        }
    }

    /**
     * Commits the header and hands the packet to the writer. Blocking mode waits while the ring is full;
     * non-blocking mode is only used after checking there is room (single producer).
     */
    private void commitAndQueue(final PooledBuffer f, final int type, final int status, final boolean block) {
        commitAndQueue(f, type, status, block, Long.MAX_VALUE);
    }

    /** As above; a blocking offer gives up at {@code deadline} (System.nanoTime), aborting the stream. */
    private void commitAndQueue(final PooledBuffer f, final int type, final int status, final boolean block,
                                final long deadline) {
        Frames.commit(f, procedure.program(), procedure.version(), procedure.procedure(), type, serial, status);
        while (!out.offer(f)) {
            if (!block) {
                f.release();
                throw new IllegalStateException("send ring full in non-blocking write");
            }
            final BraidException fail = failure;
            if (fail != null) {
                f.release();
                throw fail;
            }
            if (Thread.currentThread().isInterrupted()) {
                f.release();
                throw interrupted("writing");
            }
            final long left = deadline == Long.MAX_VALUE ? Long.MAX_VALUE : deadline - System.nanoTime();
            if (left <= 0) {
                f.release();
                final BraidException t = finishTimedOut();
                abortWith(t, "finish handshake timed out");
                throw t;
            }
            writeWaiter = Thread.currentThread();
            if (out.isFullVolatile() && failure == null) {
                IoThreads.checkBlockingAllowed("BraidStream.write (the send ring is full)");
                park(left); // onRingSpace and fail unpark it
            }
            writeWaiter = null;
        }
        conn.scheduleStream(this);
        if (failure != null) {
            drainOutbound(); // aborted meanwhile: the writer may never look at this stream again
        }
    }

    /**
     * Parks the calling thread for at most {@code nanos} ({@code Long.MAX_VALUE}: until unparked). The waiter
     * has published itself ({@code readWaiter} / {@code writeWaiter}, volatile) and re-checked its condition
     * before calling this; every thread that changes that condition (data, ring space, EOF, failure) reads
     * the waiter after its change and unparks it, so no wake-up is lost and no periodic timer is needed.
     * An untimed park also costs a virtual thread no timer task (a timed one allocates one per park).
     */
    private void park(final long nanos) {
        if (nanos == Long.MAX_VALUE) {
            LockSupport.park(this);
        } else {
            LockSupport.parkNanos(this, nanos);
        }
    }

    /** The calling thread was interrupted while blocked on this stream: abort it and say so. */
    private BraidException interrupted(final String doing) {
        final BraidException e = new BraidException(BraidException.Category.CANCELLED, "stream " + this
                + ": interrupted while " + doing);
        abortWith(e, "interrupted while " + doing);
        return e;
    }

    private BraidException finishTimedOut() {
        return new BraidException(BraidException.Category.TIMEOUT, "stream " + this
                + ": the peer did not complete the finish handshake within " + finishTimeout.toMillis() + " ms");
    }

    /** Writer thread: a packet left the ring. Wakes a blocked writer and a non-blocking one's listener. */
    void onRingSpace() {
        final Thread w = writeWaiter;
        if (w != null) {
            LockSupport.unpark(w);
        }
        if (wantWritable && WANT_WRITABLE.compareAndSet(this, true, false)) {
            signal(SIG_WRITABLE);
        }
    }

    /** Set (once, before it leaves the connection's map) when the stream is forgotten: see {@code streamFor}. */
    volatile boolean unregistered;

    /** Link in the scheduler's hand-over stack; written by the offering thread, then by the writer. */
    StreamImpl readyNext;
    @SuppressWarnings("unused") // accessed through IN_READY
    private volatile boolean inReady;

    /** Any thread: claims the one place this stream may have in the scheduler's hand-over stack. */
    boolean enterReady() {
        return IN_READY.compareAndSet(this, false, true);
    }

    /** Writer: the stream left the hand-over stack. */
    void leaveReady() {
        IN_READY.setRelease(this, false);
    }

    boolean trySchedule() {
        return SCHEDULED.compareAndSet(this, false, true);
    }

    void unschedule() {
        SCHEDULED.setVolatile(this, false);
    }

    boolean takeOutToken() {
        return OUT_TOKEN.compareAndSet(this, false, true);
    }

    void releaseOutToken() {
        OUT_TOKEN.setVolatile(this, false);
    }

    /** Releases every queued outbound packet, if no one else is consuming the ring right now. */
    void drainOutbound() {
        do {
            if (!takeOutToken()) {
                return; // the holder drains when it sees the failure
            }
            try {
                PooledBuffer f;
                while ((f = out.poll()) != null) {
                    f.release();
                }
            } finally {
                releaseOutToken();
            }
            // a producer may have offered after our last poll and failed to get the token: look again
        } while (failure != null && !out.isEmpty());
        final Thread w = writeWaiter;
        if (w != null) {
            LockSupport.unpark(w);
        }
    }

    // ================================================================== finishing and aborting

    @Override
    public void finish() {
        throwIfFailed();
        final long deadline = System.nanoTime() + finishTimeout.toNanos();
        if (serverSide) {
            if (!remoteEof) {
                // The client has not finished: it may still be reading. Send EOF, then wait for its OK.
                if (!eofQueued) {
                    eofQueued = true;
                    commitAndQueue(Frames.claim(conn.pool, 0), TYPE_STREAM, STATUS_CONTINUE, true, deadline);
                }
                awaitRemoteOk(deadline);
            }
            if (!localEndQueued) {
                localEndQueued = true;
                commitAndQueue(Frames.claim(conn.pool, 0), TYPE_STREAM, STATUS_OK, true, deadline);
            }
            completeDone();
        } else {
            if (!localEndQueued) {
                localEndQueued = true;
                commitAndQueue(Frames.claim(conn.pool, 0), TYPE_STREAM, STATUS_OK, true, deadline);
            }
            awaitRemoteOk(deadline);
            completeDone();
        }
    }

    private void awaitRemoteOk(final long deadline) {
        if (!remoteOk.isDone()) {
            IoThreads.checkBlockingAllowed("BraidStream.finish");
        }
        try {
            remoteOk.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            final BraidException t = finishTimedOut();
            abortWith(t, "finish handshake timed out");
            throw t;
        } catch (ExecutionException e) {
            throw (BraidException) e.getCause();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw interrupted("finishing");
        }
    }

    private void throwIfFailed() {
        final BraidException f = failure;
        if (f != null) {
            throw f;
        }
    }

    private void completeDone() {
        drainInbound(); // unread data after a successful finish is dropped
        markDone();
    }

    /** Finished or failed: leave the connection's table, drop this side's hold on the slot. Once. */
    private void markDone() {
        if (DONE.compareAndSet(this, false, true)) {
            conn.streamDone(this);
            releaseHold();
        }
    }

    /**
     * Drops one hold on the stream's slot. Holds: this side being done, plus (server) the handler running,
     * or (client, with RELEASE negotiated) the server's RELEASE. The last one frees the slot.
     */
    void releaseHold() {
        if (holds.decrementAndGet() == 0) {
            conn.streamSlotFree(this);
        }
    }

    @Override
    public void abort(final String reason) {
        abortWith(new BraidException(BraidException.Category.CANCELLED, "stream " + this + " aborted by this side: "
                + reason), reason);
    }

    private void abortWith(final BraidException local, final String reason) {
        if (!fail(local)) {
            return;
        }
        if (serverSide) {
            final RemoteError e = RemoteError.of(RemoteError.VIR_ERR_INTERNAL_ERROR, RemoteError.VIR_FROM_RPC,
                    "stream " + procedure + " aborted by the server: " + reason);
            final PooledBuffer f = Frames.claim(conn.pool, RemoteErrorCodec.encodedSize(e));
            RemoteErrorCodec.encode(e, f.byteBuffer());
            Frames.commit(f, procedure.program(), procedure.version(), procedure.procedure(), TYPE_STREAM, serial,
                    STATUS_ERROR);
            conn.enqueue(f, true);
        } else {
            conn.enqueue(Frames.empty(conn.pool, procedure.program(), procedure.version(), procedure.procedure(),
                    TYPE_STREAM, serial, STATUS_ERROR), true);
        }
        conn.scheduleStream(this); // the writer drops what is left in the ring
    }

    /** Server: a handler failure after the stream was accepted becomes an abort carrying its remote_error. */
    void abortWithRemoteError(final RemoteError e) {
        if (!fail(new RemoteException(e))) {
            return;
        }
        final PooledBuffer f = Frames.claim(conn.pool, RemoteErrorCodec.encodedSize(e));
        RemoteErrorCodec.encode(e, f.byteBuffer());
        Frames.commit(f, procedure.program(), procedure.version(), procedure.procedure(), TYPE_STREAM, serial,
                STATUS_ERROR);
        conn.enqueue(f, true);
        conn.scheduleStream(this);
    }

    /**
     * Records the first failure, wakes everyone, drops queued data. Any thread.
     *
     * @return false if the stream had already failed
     */
    boolean fail(final BraidException e) {
        if (!FAILURE.compareAndSet(this, null, e)) {
            return false;
        }
        remoteOk.completeExceptionally(e);
        drainInbound();
        drainOutbound();
        final Thread r = readWaiter;
        if (r != null) {
            LockSupport.unpark(r);
        }
        final Thread w = writeWaiter;
        if (w != null) {
            LockSupport.unpark(w);
        }
        resumeReadsIfPaused();
        markDone();
        signal(SIG_ERROR);
        return true;
    }

    boolean failed() {
        return failure != null;
    }

    // ================================================================== inbound (reader thread)

    /** Reader thread: a STREAM or STREAM_HOLE packet for this stream. Takes ownership of {@code f}. */
    void onPacket(final PooledBuffer f) {
        final int type = Frames.type(f);
        final int status = Frames.status(f);
        final int length = Frames.length(f) - HEADER_LENGTH;
        if (status == STATUS_ERROR) {
            BraidException reason;
            if (length == 0) {
                reason = new BraidException(BraidException.Category.CANCELLED, "stream " + this + " aborted by the peer");
            } else {
                try {
                    reason = new RemoteException(RemoteErrorCodec.decode(Frames.payloadView(f)));
                } catch (dev.braid.ProtocolException pe) {
                    reason = new BraidException(BraidException.Category.PROTOCOL, "stream " + this
                            + " aborted by the peer with a malformed remote_error: " + pe.getMessage());
                }
            }
            f.release();
            fail(reason);
            return;
        }
        if (status == STATUS_OK) {
            f.release();
            if (serverSide) {
                remoteEof = true; // the client finished sending
                remoteOk.complete(null);
                wakeReader();
            } else {
                remoteEof = true;
                remoteOk.complete(null);
                wakeReader();
            }
            return;
        }
        // CONTINUE (data or EOF) or HOLE
        if (type == TYPE_STREAM && length == 0) {
            f.release();
            remoteEof = true;
            wakeReader();
            signal(SIG_HANGUP);
            return;
        }
        if (failure != null || done) {
            f.release(); // aborted or finished here: late packets are dropped
            return;
        }
        if (type == TYPE_STREAM_HOLE && f.byteBuffer().getLong(PAYLOAD_OFFSET) <= 0) {
            final long hole = f.byteBuffer().getLong(PAYLOAD_OFFSET);
            f.release();
            abortWith(new BraidException(BraidException.Category.PROTOCOL, "stream " + this
                    + ": the peer sent a hole of invalid length " + hole), "invalid hole length " + hole);
            return;
        }
        final long cost = StreamFlowControl.cost(length + HEADER_LENGTH, length);
        final long before = flow.admit(cost);
        if (before < 0) {
            f.release();
            abortWith(new BraidException(BraidException.Category.PROTOCOL, "stream " + this + ": the peer sent "
                    + (flow.queued() + cost) + " bytes of packets unconsumed, beyond the flow-control window of "
                    + flow.receiveWindow), "peer exceeded the flow-control window of " + flow.receiveWindow + " bytes");
            return;
        }
        if (before == 0) {
            lastReadNanos = System.nanoTime(); // the idle clock starts when data starts waiting
        }
        in.offer(f);
        if (failure != null || done) {
            drainInbound(); // ended meanwhile: nobody will read it
            return;
        }
        wakeReader();
    }

    /** Compatible mode: whether this stream's queue is full enough to stop the connection's reads. */
    boolean shouldPauseReads() {
        return !flow.enabled && flow.queued() >= flow.receiveWindow;
    }

    private void wakeReader() {
        final Thread r = readWaiter;
        if (r != null) {
            LockSupport.unpark(r);
        }
        signal(SIG_READABLE);
    }

    // ================================================================== listener callbacks

    /** The one task that hands delivery to the I/O thread (see {@link #signal}); made once per stream. */
    private final Runnable deliveryTask = this::deliverPending;
    @SuppressWarnings("unused") // accessed through DELIVERY_QUEUED
    private volatile boolean deliveryQueued;
    private static final int SIG_READABLE = 1;
    private static final int SIG_WRITABLE = 2;
    private static final int SIG_HANGUP = 4;
    private static final int SIG_ERROR = 8;
    /** Readiness not yet told to the listener (bits above). */
    private final java.util.concurrent.atomic.AtomicInteger signals = new java.util.concurrent.atomic.AtomicInteger();
    /** Someone is calling the listener: callbacks of one stream never overlap, whatever threads signal. */
    private final java.util.concurrent.atomic.AtomicBoolean delivering = new java.util.concurrent.atomic.AtomicBoolean();

    /**
     * Records readiness and delivers it unless another thread is delivering right now, in which case that
     * thread delivers it before it stops (it re-checks after releasing the flag). Callbacks therefore run one
     * at a time, in the thread that signalled: the I/O thread for data, credit and aborts from the peer.
     */
    private void signal(final int bits) {
        if (listener == null) {
            return;
        }
        signals.getAndAccumulate(bits, (a, b) -> a | b);
        if (!IoThreads.isIoThread()) {
            // An application thread made the stream ready (an abort, setListener, ring space freed by a
            // write-through): the callbacks still run on the connection's I/O thread, as the listener's
            // contract says. One hand-off at a time; the task delivers whatever is pending when it runs.
            final Transport t = conn.transport;
            if (t != null && DELIVERY_QUEUED.compareAndSet(this, false, true)) {
                t.execute(deliveryTask);
            }
            return;
        }
        deliverPending();
    }

    /** I/O thread: delivers every pending readiness bit (see {@link #signal}). */
    private void deliverPending() {
        DELIVERY_QUEUED.setVolatile(this, false); // before reading the bits: a later hand-off is never lost
        while (signals.get() != 0 && delivering.compareAndSet(false, true)) {
            try {
                int pending;
                while ((pending = signals.getAndSet(0)) != 0) {
                    deliver(pending);
                }
            } finally {
                delivering.set(false);
            }
        }
    }

    private void deliver(final int bits) {
        final StreamListener l = listener;
        if (l == null) {
            return;
        }
        try {
            if ((bits & SIG_ERROR) != 0) {
                l.onError(this, failure);
            }
            if ((bits & SIG_READABLE) != 0) {
                l.onReadable(this);
            }
            if ((bits & SIG_HANGUP) != 0) {
                l.onHangup(this);
            }
            if ((bits & SIG_WRITABLE) != 0) {
                l.onWritable(this);
            }
        } catch (Throwable t) {
            BraidRuntime.LOG.log(Level.WARNING, "stream listener of " + this + " failed", t);
        }
    }

    // ================================================================== reading (the reading thread)

    @Override
    public int read(final ByteBuffer dst) {
        return read(dst, Long.MAX_VALUE);
    }

    @Override
    public int read(final ByteBuffer dst, final Duration timeout) {
        return read(dst, timeout.toNanos());
    }

    @Override
    public int tryRead(final ByteBuffer dst) {
        return read(dst, 0);
    }

    private int read(final ByteBuffer dst, final long timeoutNanos) {
        if (!dst.hasRemaining()) {
            return 0;
        }
        final long deadline = timeoutNanos == Long.MAX_VALUE ? Long.MAX_VALUE : System.nanoTime() + timeoutNanos;
        while (true) {
            final int n = readAvailable(dst);
            if (n != 0) {
                return n;
            }
            final long left = deadline == Long.MAX_VALUE ? Long.MAX_VALUE : deadline - System.nanoTime();
            if (left <= 0) {
                return WOULD_BLOCK;
            }
            if (Thread.currentThread().isInterrupted()) {
                throw interrupted("reading");
            }
            readWaiter = Thread.currentThread();
            if (in.isEmpty() && failure == null && !remoteEof) {
                IoThreads.checkBlockingAllowed("BraidStream.read");
                park(left); // wakeReader and fail unpark it
            }
            readWaiter = null;
        }
    }

    /** Copies what is available: bytes, 0 if nothing now, EOF. Throws the failure. */
    private int readAvailable(final ByteBuffer dst) {
        if (!IN_TOKEN.compareAndSet(this, false, true)) {
            throwIfFailed(); // a drain holds the token: the stream failed
            return 0;
        }
        int n = 0;
        try {
            if (failure == null) {
                n = copyInto(dst);
                if (n == 0 && remoteEof && current == null) {
                    // The EOF flag is set after the last packet was queued: if a poll now finds nothing,
                    // nothing can follow. A packet that slipped in between is read, not dropped.
                    n = copyInto(dst);
                    if (n == 0 && current == null) {
                        n = EOF;
                        eofDelivered = true;
                    }
                }
            }
        } finally {
            IN_TOKEN.setVolatile(this, false);
        }
        if (failure != null) {
            drainInbound();
            throw failure;
        }
        if (n > 0) {
            lastReadNanos = System.nanoTime();
            bytesRead += n;
        }
        return n;
    }

    /** Holds the inbound token. */
    private int copyInto(final ByteBuffer dst) {
        int total = 0;
        while (dst.hasRemaining()) {
            if (current == null) {
                current = in.poll();
                if (current == null) {
                    break;
                }
                if (Frames.type(current) == TYPE_STREAM_HOLE) {
                    holeLeft = current.byteBuffer().getLong(PAYLOAD_OFFSET);
                } else {
                    currentPos = PAYLOAD_OFFSET;
                }
            }
            final ByteBuffer b = current.byteBuffer();
            if (Frames.type(current) == TYPE_STREAM_HOLE) {
                final int z = (int) Math.min(dst.remaining(), holeLeft);
                for (int i = 0; i < z; i++) {
                    dst.put((byte) 0);
                }
                holeLeft -= z;
                total += z;
                if (holeLeft == 0) {
                    releaseCurrent();
                }
            } else {
                final int end = Frames.length(current);
                final int z = Math.min(dst.remaining(), end - currentPos);
                dst.put(dst.position(), b, currentPos, z); // absolute: no slice per copy
                dst.position(dst.position() + z);
                currentPos += z;
                total += z;
                if (currentPos == end) {
                    releaseCurrent();
                }
            }
        }
        return total;
    }

    private void releaseCurrent() {
        final PooledBuffer f = current;
        current = null;
        packetConsumed(f);
    }

    @Override
    public StreamPacket readPacket() {
        while (true) {
            if (!IN_TOKEN.compareAndSet(this, false, true)) {
                throwIfFailed();
                Thread.onSpinWait();
                continue;
            }
            PooledBuffer f = null;
            boolean eof = false;
            try {
                if (failure == null) {
                    if (current != null) {
                        throw new IllegalStateException("readPacket() after a partial read(): finish reading the packet first");
                    }
                    f = in.poll();
                    if (f == null && remoteEof) {
                        f = in.poll(); // the EOF flag follows the last packet: a second look is final
                        eof = f == null;
                    }
                }
            } finally {
                IN_TOKEN.setVolatile(this, false);
            }
            if (failure != null) {
                if (f != null) {
                    packetConsumed(f);
                }
                drainInbound();
                throw failure;
            }
            if (f != null) {
                lastReadNanos = System.nanoTime();
                return new StreamPacketImpl(this, f);
            }
            if (eof) {
                eofDelivered = true;
                return null;
            }
            if (Thread.currentThread().isInterrupted()) {
                throw interrupted("reading");
            }
            readWaiter = Thread.currentThread();
            if (in.isEmpty() && failure == null && !remoteEof) {
                IoThreads.checkBlockingAllowed("BraidStream.readPacket");
                park(Long.MAX_VALUE); // wakeReader and fail unpark it
            }
            readWaiter = null;
        }
    }

    /** A received packet was consumed: return its bytes to the window and its buffer to the pool. */
    void packetConsumed(final PooledBuffer f) {
        final long wire = StreamFlowControl.cost(Frames.length(f), Frames.length(f) - HEADER_LENGTH);
        f.release();
        final long credit = flow.consumed(wire, failure == null && !done);
        if (credit > 0) {
            conn.sendCredit(serial, credit);
        }
        resumeReadsIfPaused();
    }

    private void resumeReadsIfPaused() {
        if (pausedReads.get() && (failure != null || flow.queued() < flow.receiveWindow / 2)
                && pausedReads.compareAndSet(true, false)) {
            conn.resumeReadsForStream();
        }
    }

    /** Releases every queued inbound packet, if no one else is consuming right now. */
    void drainInbound() {
        do {
            drainInboundOnce();
        } while ((failure != null || done) && !in.isEmptyVolatile() && !inTokenHeld());
        resumeReadsIfPaused();
    }

    private boolean inTokenHeld() {
        return (boolean) IN_TOKEN.getVolatile(this);
    }

    private void drainInboundOnce() {
        if (!IN_TOKEN.compareAndSet(this, false, true)) {
            return; // the holder drains when it sees the failure
        }
        try {
            if (current != null) {
                final PooledBuffer f = current;
                current = null;
                f.release();
                flow.dropped(StreamFlowControl.cost(Frames.length(f), Frames.length(f) - HEADER_LENGTH));
            }
            PooledBuffer f;
            while ((f = in.poll()) != null) {
                flow.dropped(StreamFlowControl.cost(Frames.length(f), Frames.length(f) - HEADER_LENGTH));
                f.release();
            }
        } finally {
            IN_TOKEN.setVolatile(this, false);
        }
    }

    // ================================================================== pumps

    @Override
    public long sendAll(final Source source) {
        final ByteBuffer buf = ByteBuffer.allocateDirect(Math.min(maxPacket, 256 * 1024));
        long total = 0;
        while (true) {
            buf.clear();
            final int n;
            try {
                n = source.fill(buf);
            } catch (Exception e) {
                abort("the source failed: " + e);
                throw new BraidException(BraidException.Category.CANCELLED, "stream " + this + ": sendAll's source failed: "
                        + e, e);
            }
            if (n < 0) {
                break;
            }
            buf.flip();
            total += buf.remaining();
            write(buf);
        }
        finish();
        return total;
    }

    @Override
    public long receiveAll(final Sink sink) {
        final ByteBuffer buf = ByteBuffer.allocateDirect(256 * 1024);
        long total = 0;
        while (true) {
            buf.clear();
            final int n = read(buf);
            if (n == EOF) {
                break;
            }
            buf.flip();
            total += n;
            try {
                sink.accept(buf.asReadOnlyBuffer());
            } catch (Exception e) {
                abort("the sink failed: " + e);
                throw new BraidException(BraidException.Category.CANCELLED, "stream " + this + ": receiveAll's sink failed: "
                        + e, e);
            }
        }
        finish();
        return total;
    }

    // ================================================================== listener, adapters, state

    @Override
    public void setListener(final StreamListener l) {
        listener = l;
        if (l != null) {
            int bits = 0;
            if (!in.isEmptyVolatile() || remoteEof) {
                bits |= SIG_READABLE;
            }
            if (!out.isFullVolatile() && failure == null) {
                bits |= SIG_WRITABLE;
            }
            if (failure != null) {
                bits |= SIG_ERROR;
            }
            if (bits != 0) {
                signal(bits); // the current state, delivered like any other readiness (never overlapping)
            }
        }
    }

    boolean hasListener() {
        return listener != null;
    }

    @Override
    public InputStream inputStream() {
        return new InputStream() {
            private boolean eof;

            @Override
            public int read() {
                final byte[] one = new byte[1];
                final int n = read(one, 0, 1);
                return n < 0 ? -1 : one[0] & 0xFF;
            }

            @Override
            public int read(final byte[] b, final int off, final int len) {
                if (len == 0) {
                    return 0;
                }
                final int n = StreamImpl.this.read(ByteBuffer.wrap(b, off, len));
                eof = n == EOF;
                return n;
            }

            @Override
            public void close() {
                if (!eof && isOpen()) {
                    abort("input stream closed before the end of the stream");
                }
            }
        };
    }

    @Override
    public OutputStream outputStream() {
        return new OutputStream() {
            @Override
            public void write(final int b) {
                StreamImpl.this.write(new byte[]{(byte) b}, 0, 1);
            }

            @Override
            public void write(final byte[] b, final int off, final int len) {
                StreamImpl.this.write(b, off, len);
            }

            @Override
            public void close() throws IOException {
                try {
                    if (isOpen()) {
                        finish();
                    }
                } catch (BraidException e) {
                    throw new IOException(e.getMessage(), e);
                }
            }
        };
    }

    @Override
    public ReadableByteChannel readableChannel() {
        return new ReadableByteChannel() {
            private volatile boolean open = true;

            @Override
            public int read(final ByteBuffer dst) throws IOException {
                if (!open) {
                    throw new ClosedChannelException();
                }
                return StreamImpl.this.read(dst);
            }

            @Override
            public boolean isOpen() {
                return open;
            }

            @Override
            public void close() {
                open = false;
            }
        };
    }

    @Override
    public WritableByteChannel writableChannel() {
        return new WritableByteChannel() {
            private volatile boolean open = true;

            @Override
            public int write(final ByteBuffer src) throws IOException {
                if (!open) {
                    throw new ClosedChannelException();
                }
                final int n = src.remaining();
                StreamImpl.this.write(src);
                return n;
            }

            @Override
            public boolean isOpen() {
                return open;
            }

            @Override
            public void close() {
                open = false;
            }
        };
    }

    @Override
    public long bytesWritten() {
        return bytesWritten;
    }

    @Override
    public long bytesRead() {
        return bytesRead;
    }

    @Override
    public boolean isOpen() {
        return failure == null && !done;
    }

    /** Window cost of the packets received and not yet consumed (what this side holds); for tests. */
    public long queuedBytes() {
        return flow.queued();
    }

    /**
     * Finishes the stream if it reached EOF cleanly (everything the peer sent was read and nothing failed),
     * otherwise aborts it. On an I/O thread it does not wait: a clean stream's end is queued and the stream
     * completes when the peer's answer arrives (if the end cannot be queued at once, the stream is aborted).
     */
    @Override
    public void close() {
        if (done) {
            return;
        }
        if (failure == null && eofDelivered) {
            if (!IoThreads.isIoThread()) {
                finish();
                return;
            }
            if (finishWithoutWaiting()) {
                return;
            }
        }
        abort("closed by the application before the stream finished");
    }

    /**
     * I/O thread, after EOF was read: queues this side's end without blocking and completes the stream when
     * the peer's OK arrives. False if the send ring has no room for the end now.
     */
    private boolean finishWithoutWaiting() {
        if (serverSide && !remoteEof) {
            return false;
        }
        if (!localEndQueued) {
            if (out.isFullVolatile()) {
                return false;
            }
            localEndQueued = true;
            commitAndQueue(Frames.claim(conn.pool, 0), TYPE_STREAM, STATUS_OK, false);
        }
        if (serverSide) {
            completeDone();
        } else {
            remoteOk.whenComplete((ok, error) -> {
                if (error == null) {
                    completeDone();
                }
            });
        }
        return true;
    }

    /** The connection closed: fail with its reason. */
    void connectionClosed(final ConnectionClosedException reason) {
        fail(reason);
    }

    @Override
    public String toString() {
        return procedure + "#" + Integer.toUnsignedString(serial);
    }
}
