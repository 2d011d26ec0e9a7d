package dev.braid.internal.engine.stream;

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
import dev.braid.internal.engine.io.ReadGate;
import dev.braid.internal.wire.Frames;
import dev.braid.internal.wire.RemoteErrorCodec;
import dev.braid.spi.IoThreads;
import dev.braid.spi.Transport;

import java.io.InputStream;
import java.io.OutputStream;
import java.lang.System.Logger.Level;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
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
    private static final System.Logger LOG = System.getLogger("dev.braid.stream");
    private static final VarHandle SCHEDULED;
    private static final VarHandle IN_READY;
    private static final VarHandle OUT_TOKEN;
    private static final VarHandle FAILURE;
    private static final VarHandle DONE;
    private static final VarHandle WANT_WRITABLE;
    private static final int OUT_RING_PACKETS = 8;

    static {
        try {
            final MethodHandles.Lookup l = MethodHandles.lookup();
            SCHEDULED = l.findVarHandle(StreamImpl.class, "scheduled", boolean.class);
            IN_READY = l.findVarHandle(StreamImpl.class, "inReady", boolean.class);
            OUT_TOKEN = l.findVarHandle(StreamImpl.class, "outToken", boolean.class);
            FAILURE = l.findVarHandle(StreamImpl.class, "failure", BraidException.class);
            DONE = l.findVarHandle(StreamImpl.class, "done", boolean.class);
            WANT_WRITABLE = l.findVarHandle(StreamImpl.class, "wantWritable", boolean.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /** What this stream needs from its connection (never the connection classes themselves). */
    final StreamTable table;
    public final Procedure procedure;
    public final int serial;
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
    /** The inbound side: queue, reading paths, credit for what is consumed (see StreamReceiver). */
    final StreamReceiver receiver = new StreamReceiver(this);
    /** Compatible mode only (null with flow control): this stream's hold on the connection's reads. */
    final ReadGate.Hold readHold;
    /** The hold's condition: the receive queue is still too full to read more (see {@link #shouldPauseReads}). */
    final java.util.function.BooleanSupplier queueFull;

    // state
    volatile BraidException failure; // set once through FAILURE
    volatile boolean remoteEof;       // peer's EOF (CONTINUE 0) or, at a server, the client's OK
    private volatile boolean localEndQueued;  // our EOF/OK is in the ring
    private volatile boolean eofQueued;       // server: our EOF is in the ring
    volatile boolean done; // finished or failed; set once through DONE
    /** Client: frees the slot if the server's RELEASE does not come in time. */
    public volatile java.util.concurrent.ScheduledFuture<?> releaseTimer;
    /** Server: the opening call was answered OK, so the client knows the stream. */
    public volatile boolean accepted;
    private final java.util.concurrent.atomic.AtomicInteger holds;
    final CompletableFuture<Void> remoteOk = new CompletableFuture<>();
    /** Listener delivery (see StreamSignals for where callbacks run). */
    private final StreamSignals signals = new StreamSignals(this);
    private volatile long bytesWritten;
    private final Duration finishTimeout;

    StreamImpl(final StreamTable table, final Procedure procedure, final int serial, final boolean serverSide,
               final boolean flowControl, final long receiveWindow, final long sendWindow, final int maxOutbound,
               final int holds) {
        this.table = table;
        this.procedure = procedure;
        this.serial = serial;
        this.serverSide = serverSide;
        this.flow = new StreamFlowControl(flowControl, sendWindow, receiveWindow, table.sendBudget);
        this.readHold = flowControl ? null : table.gate.newHold(ReadGate.Reason.STREAM_QUEUE_FULL);
        this.queueFull = () -> this.failure == null && shouldPauseReads();
        // A packet must fit the peer's window whole, or it could never be sent.
        this.maxPacket = table.maxPacket(flowControl, sendWindow, maxOutbound);
        this.finishTimeout = table.cfg.streamFinishTimeout();
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
        final PooledBuffer f = Frames.claim(table.pool, 12);
        f.byteBuffer().putLong(length).putInt(0);
        commitAndQueue(f, TYPE_STREAM_HOLE, STATUS_CONTINUE, true);
        bytesWritten += length;
    }

    private PooledBuffer dataPacket(final int n) {
        checkWritable();
        return Frames.claim(table.pool, n);
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
        table.schedule(this);
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
    void park(final long nanos) {
        if (nanos == Long.MAX_VALUE) {
            LockSupport.park(this);
        } else {
            LockSupport.parkNanos(this, nanos);
        }
    }

    /** The calling thread was interrupted while blocked on this stream: abort it and say so. */
    BraidException interrupted(final String doing) {
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
            signals.signal(StreamSignals.WRITABLE);
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
                    commitAndQueue(Frames.claim(table.pool, 0), TYPE_STREAM, STATUS_CONTINUE, true, deadline);
                }
                awaitRemoteOk(deadline);
            }
            if (!localEndQueued) {
                localEndQueued = true;
                commitAndQueue(Frames.claim(table.pool, 0), TYPE_STREAM, STATUS_OK, true, deadline);
            }
            completeDone();
        } else {
            if (!localEndQueued) {
                localEndQueued = true;
                commitAndQueue(Frames.claim(table.pool, 0), TYPE_STREAM, STATUS_OK, true, deadline);
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

    void throwIfFailed() {
        final BraidException f = failure;
        if (f != null) {
            throw f;
        }
    }

    private void completeDone() {
        receiver.drainInbound(); // unread data after a successful finish is dropped
        markDone();
    }

    /** Finished or failed: leave the connection's table, drop this side's hold on the slot. Once. */
    private void markDone() {
        if (DONE.compareAndSet(this, false, true)) {
            table.done(this);
            releaseHold();
        }
    }

    /**
     * Drops one hold on the stream's slot. Holds: this side being done, plus (server) the handler running,
     * or (client, with RELEASE negotiated) the server's RELEASE. The last one frees the slot.
     */
    public void releaseHold() {
        if (holds.decrementAndGet() == 0) {
            table.slotFree(this);
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
            final PooledBuffer f = Frames.claim(table.pool, RemoteErrorCodec.encodedSize(e));
            RemoteErrorCodec.encode(e, f.byteBuffer());
            Frames.commit(f, procedure.program(), procedure.version(), procedure.procedure(), TYPE_STREAM, serial,
                    STATUS_ERROR);
            table.sendControl(f);
        } else {
            table.sendControl(Frames.empty(table.pool, procedure.program(), procedure.version(),
                    procedure.procedure(), TYPE_STREAM, serial, STATUS_ERROR));
        }
        table.schedule(this); // the writer drops what is left in the ring
    }

    /** Server: a handler failure after the stream was accepted becomes an abort carrying its remote_error. */
    public void abortWithRemoteError(final RemoteError e) {
        if (!fail(new RemoteException(e))) {
            return;
        }
        final PooledBuffer f = Frames.claim(table.pool, RemoteErrorCodec.encodedSize(e));
        RemoteErrorCodec.encode(e, f.byteBuffer());
        Frames.commit(f, procedure.program(), procedure.version(), procedure.procedure(), TYPE_STREAM, serial,
                STATUS_ERROR);
        table.sendControl(f);
        table.schedule(this);
    }

    /**
     * Records the first failure, wakes everyone, drops queued data. Any thread.
     *
     * @return false if the stream had already failed
     */
    public boolean fail(final BraidException e) {
        if (!FAILURE.compareAndSet(this, null, e)) {
            return false;
        }
        remoteOk.completeExceptionally(e);
        receiver.drainInbound();
        drainOutbound();
        receiver.wake();
        final Thread w = writeWaiter;
        if (w != null) {
            LockSupport.unpark(w);
        }
        receiver.resumeReadsIfPaused();
        markDone();
        signals.signal(StreamSignals.ERROR);
        return true;
    }

    /** The first failure, or null. Any thread. */
    BraidException failure() {
        return failure;
    }

    public boolean failed() {
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
            signals.signal(StreamSignals.HANGUP);
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
            receiver.lastReadNanos = System.nanoTime(); // the idle clock starts when data starts waiting
        }
        receiver.offer(f);
        if (failure != null || done) {
            receiver.drainInbound(); // ended meanwhile: nobody will read it
            return;
        }
        wakeReader();
    }

    /** Compatible mode: whether this stream's queue is full enough to stop the connection's reads. */
    boolean shouldPauseReads() {
        return !flow.enabled && flow.queued() >= flow.receiveWindow;
    }

    private void wakeReader() {
        receiver.wake();
        signals.signal(StreamSignals.READABLE);
    }

    // ================================================================== reading (StreamReceiver)

    @Override
    public int read(final ByteBuffer dst) {
        return receiver.read(dst, Long.MAX_VALUE);
    }

    @Override
    public int read(final ByteBuffer dst, final Duration timeout) {
        return receiver.read(dst, timeout.toNanos());
    }

    @Override
    public int tryRead(final ByteBuffer dst) {
        return receiver.read(dst, 0);
    }

    @Override
    public StreamPacket readPacket() {
        return receiver.readPacket();
    }

    // ================================================================== pumps and adapters (StreamAdapters)

    @Override
    public long sendAll(final Source source) {
        return StreamAdapters.sendAll(this, source, maxPacket);
    }

    @Override
    public long receiveAll(final Sink sink) {
        return StreamAdapters.receiveAll(this, sink);
    }

    @Override
    public InputStream inputStream() {
        return StreamAdapters.inputStream(this);
    }

    @Override
    public OutputStream outputStream() {
        return StreamAdapters.outputStream(this);
    }

    @Override
    public ReadableByteChannel readableChannel() {
        return StreamAdapters.readableChannel(this);
    }

    @Override
    public WritableByteChannel writableChannel() {
        return StreamAdapters.writableChannel(this);
    }

    // ================================================================== listener, adapters, state

    @Override
    public void setListener(final StreamListener l) {
        signals.setListener(l);
        if (l != null) {
            int bits = 0;
            if (receiver.hasQueued() || remoteEof) {
                bits |= StreamSignals.READABLE;
            }
            if (!out.isFullVolatile() && failure == null) {
                bits |= StreamSignals.WRITABLE;
            }
            if (failure != null) {
                bits |= StreamSignals.ERROR;
            }
            if (bits != 0) {
                signals.signal(bits); // the current state, delivered like any other readiness (never overlapping)
            }
        }
    }

    public boolean hasListener() {
        return signals.hasListener();
    }

    @Override
    public long bytesWritten() {
        return bytesWritten;
    }

    @Override
    public long bytesRead() {
        return receiver.bytesRead;
    }

    @Override
    public boolean isOpen() {
        return failure == null && !done;
    }

    @Override
    public long queuedBytes() {
        return flow.queued();
    }

    @Override
    public long receiveWindow() {
        return flow.receiveWindow;
    }

    @Override
    public long sendCredit() {
        return flow.sendCredit();
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
        if (failure == null && receiver.eofDelivered) {
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
            commitAndQueue(Frames.claim(table.pool, 0), TYPE_STREAM, STATUS_OK, false);
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
