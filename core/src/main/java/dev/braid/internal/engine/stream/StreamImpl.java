package dev.braid.internal.engine.stream;

import dev.braid.BraidException;
import dev.braid.BraidStream;
import dev.braid.ConnectionClosedException;
import dev.braid.Marshaller;
import dev.braid.PayloadWriter;
import dev.braid.Procedure;
import dev.braid.RemoteError;
import dev.braid.RemoteException;
import dev.braid.StreamListener;
import dev.braid.StreamPacket;
import dev.braid.buffer.PooledBuffer;
import dev.braid.internal.engine.io.ReadGate;
import dev.braid.internal.wire.Frames;
import dev.braid.internal.wire.RemoteErrorCodec;
import dev.braid.spi.IoThreads;

import java.io.InputStream;
import java.io.OutputStream;
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
import java.util.concurrent.locks.LockSupport;

import static dev.braid.internal.wire.FrameHeader.*;

/**
 * One stream on one connection, either side: the {@link BraidStream} API and the stream's lifecycle
 * (finish and abort handshakes, failure, slot holds). The data paths are parts of their own:
 * <ul>
 *   <li>{@link StreamSender}: send ring, writing paths, scheduling state;</li>
 *   <li>{@link StreamReceiver}: receive queue, reading paths, credit for what is consumed;</li>
 *   <li>{@link StreamFlowControl}: windows and credit, both directions (thread-safe);</li>
 *   <li>{@link StreamSignals}: listener delivery, on I/O threads only;</li>
 *   <li>{@link StreamAdapters}: pumps, {@code java.io} streams and channels.</li>
 * </ul>
 * It reaches its connection only through its {@link StreamTable}. At about 600 lines it is above the
 * engine's usual 500 because it implements the whole {@link BraidStream} surface (thirty-odd methods, most
 * a line delegating to a part) beside the finish and abort handshakes, which need all of the stream's state.
 *
 * <h2>State (any thread)</h2>
 * {@code failure} is set once (CAS through FAILURE): it wakes both sides, drains both queues and tells the
 * listener. {@code done} is set once (CAS through DONE) when the stream is finished or failed: it leaves the
 * table and drops this side's hold on its slot. {@code remoteEof} is the peer's EOF (CONTINUE with no data)
 * or, at a server, the client's OK; {@code localEndQueued} / {@code eofQueued} say this side's end is in the
 * send ring. All are volatile, written before the wake-ups that publish them.
 *
 * <h2>Lifecycle</h2>
 * Registered in the connection's stream table when opened (client: before the opening call is sent;
 * server: when the call arrives). Ends when finished (client: the server's OK arrived; server: its OK was
 * queued) or failed (either side aborted, or the connection closed). One stream per call, as in libvirt:
 * the table is keyed by the opening call's serial, which is what STREAM packets carry.
 */
final class StreamImpl implements StreamHandle {
    private static final System.Logger LOG = System.getLogger("dev.braid.stream");
    private static final VarHandle FAILURE;
    private static final VarHandle DONE;
    private static final VarHandle RESULT;
    private static final ByteBuffer EMPTY = ByteBuffer.allocate(0).asReadOnlyBuffer();

    static {
        try {
            final MethodHandles.Lookup l = MethodHandles.lookup();
            FAILURE = l.findVarHandle(StreamImpl.class, "failure", BraidException.class);
            DONE = l.findVarHandle(StreamImpl.class, "done", boolean.class);
            RESULT = l.findVarHandle(StreamImpl.class, "result", PooledBuffer.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /** What this stream needs from its connection (never the connection classes themselves). */
    final StreamTable table;
    final Procedure procedure;
    final int serial;
    final boolean serverSide;
    /** Windows and credits, both directions (thread-safe; see StreamFlowControl). */
    final StreamFlowControl flow;

    // outbound
    /** The outbound side: send ring, writing paths, scheduling state (see StreamSender). */
    final StreamSender sender;

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
    volatile boolean localEndQueued;  // our EOF/OK is in the ring
    volatile boolean eofQueued;       // server: our EOF is in the ring
    volatile boolean done; // finished or failed; set once through DONE
    /** Client: frees the slot if the server's RELEASE does not come in time. */
    private volatile java.util.concurrent.ScheduledFuture<?> releaseTimer;
    /** Server: the opening call was answered OK, so the client knows the stream. */
    private volatile boolean accepted;
    private final java.util.concurrent.atomic.AtomicInteger holds;
    final CompletableFuture<Void> remoteOk = new CompletableFuture<>();
    /**
     * Client: the server's final OK when it carried a result (a payload), until the finisher takes it;
     * whoever swaps it out (finish, the stream's end, a failure) releases it, once.
     */
    @SuppressWarnings("unused") // accessed through RESULT
    private volatile PooledBuffer result;
    /** Client: a copy of the opening reply's payload (set before openStream returns the stream). */
    private volatile ByteBuffer openingReply = EMPTY;
    /** finishAsync was called: the stream's end is in braid's hands (a returning handler leaves it be). */
    private volatile boolean finishStarted;
    /** The largest message this side may send on the connection (a result must fit in it). */
    private final int maxOutbound;
    /** Listener delivery (see StreamSignals for where callbacks run). */
    final StreamSignals signals = new StreamSignals(this);
    private final Duration finishTimeout;
    /** Most bytes one received hole may stand for ({@code maxStreamHole}). */
    private final long maxHole;

    StreamImpl(final StreamTable table, final Procedure procedure, final int serial, final boolean serverSide,
               final boolean flowControl, final long sendWindow, final int maxOutbound, final int holds) {
        this.table = table;
        this.procedure = procedure;
        this.serial = serial;
        this.serverSide = serverSide;
        this.flow = new StreamFlowControl(flowControl, sendWindow, table.receiveWindow, table.sendBudget);
        this.readHold = flowControl ? null : table.gate.newHold(ReadGate.Reason.STREAM_QUEUE_FULL);
        this.queueFull = () -> this.failure == null && shouldPauseReads();
        // A packet must fit the peer's window whole, or it could never be sent.
        this.sender = new StreamSender(this, flow, table.maxPacket(flowControl, sendWindow, maxOutbound));
        this.finishTimeout = table.cfg.streamFinishTimeout();
        this.maxHole = table.cfg.maxStreamHole();
        this.maxOutbound = maxOutbound;
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

    // ================================================================== writing (StreamSender)

    @Override
    public void write(final ByteBuffer src) {
        sender.write(src);
    }

    @Override
    public void write(final byte[] bytes, final int off, final int len) {
        sender.write(ByteBuffer.wrap(bytes, off, len));
    }

    @Override
    public void write(final int length, final PayloadWriter writer) {
        sender.write(length, writer);
    }

    @Override
    public void write(final ByteBuffer src, final Runnable onRelease) {
        sender.write(src, onRelease);
    }

    @Override
    public int tryWrite(final ByteBuffer src) {
        return sender.tryWrite(src);
    }

    @Override
    public int maxPacketSize() {
        return sender.maxPacket;
    }

    /**
     * Half-close: this side's end of data (EOF, an empty CONTINUE) after every queued packet; reading goes on
     * until the peer's EOF. The writing thread; blocks only while the send ring is full, like a write.
     */
    @Override
    public void closeWrite() {
        throwIfFailed();
        if (eofQueued || localEndQueued) {
            return;
        }
        eofQueued = true;
        sender.commitAndQueue(Frames.claim(table.pool, 0), TYPE_STREAM, STATUS_CONTINUE, true);
    }

    @Override
    public void sendHole(final long length) {
        sender.sendHole(length);
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

    BraidException finishTimedOut() {
        return new BraidException(BraidException.Category.TIMEOUT, "stream " + this
                + ": the peer did not complete the finish handshake within " + finishTimeout.toMillis() + " ms");
    }

    /** Set (once, before it leaves the connection's map) when the stream is forgotten: see {@code streamFor}. */
    volatile boolean unregistered;
    /** When the stream was registered (System.nanoTime), for the observer's duration. Set before publication. */
    long openedNanos;

    // ================================================================== finishing and aborting

    @Override
    public void finish() {
        finishBlocking(null);
        completeDone();
    }

    @Override
    public void finish(final ByteBuffer resultPayload) {
        finishBlocking(resultFrame(resultPayload));
        completeDone();
    }

    @Override
    public <T> void finish(final Marshaller<T> marshaller, final T value) {
        finishBlocking(resultFrame(marshaller, value));
        completeDone();
    }

    @Override
    public <T> T finish(final Marshaller<T> marshaller) {
        if (serverSide) {
            throw new IllegalStateException("stream " + this + ": only the client's finish receives a result");
        }
        finishBlocking(null);
        final PooledBuffer r = takeResult();
        try {
            return r == null ? null : marshaller.read(Frames.lentPayload(r));
        } catch (RuntimeException e) {
            throw new BraidException(BraidException.Category.PROTOCOL, "stream " + this
                    + ": cannot decode its result: " + (e instanceof BraidException ? e.getMessage() : e.toString()), e);
        } finally {
            if (r != null) {
                r.release();
            }
            completeDone();
        }
    }

    /**
     * libvirt's finish handshake, blocking: server: EOF unless the client already finished, the client's OK,
     * then our OK carrying {@code end}'s payload (null: empty); client: our OK, then the server's. One
     * deadline for everything. {@code end} is ours until queued: released here on every failure.
     */
    private void finishBlocking(final PooledBuffer end) {
        PooledBuffer owned = end;
        try {
            throwIfFailed();
            final long deadline = System.nanoTime() + finishTimeout.toNanos();
            if (serverSide && !remoteOk.isDone()) {
                // The client has not finished: it may still be reading. Send EOF (unless closeWrite did), then
                // wait for its OK. A client's EOF (its closeWrite) is not its finish: we still wait for the OK.
                if (!eofQueued) {
                    eofQueued = true;
                    sender.commitAndQueue(Frames.claim(table.pool, 0), TYPE_STREAM, STATUS_CONTINUE, true, deadline);
                }
                awaitRemoteOk(deadline);
            }
            if (!localEndQueued) {
                localEndQueued = true;
                final PooledBuffer f = owned != null ? owned : Frames.claim(table.pool, 0);
                owned = null; // commitAndQueue owns it now, whatever happens
                sender.commitAndQueue(f, TYPE_STREAM, STATUS_OK, true, deadline);
            }
            if (!serverSide) {
                awaitRemoteOk(deadline);
            }
        } finally {
            if (owned != null) {
                owned.release();
            }
        }
    }

    @Override
    public CompletableFuture<ByteBuffer> finishAsync() {
        return startFinish(null);
    }

    @Override
    public CompletableFuture<ByteBuffer> finishAsync(final ByteBuffer resultPayload) {
        return startFinish(resultFrame(resultPayload));
    }

    /**
     * The finish handshake without blocking any thread: each step waits in a future's continuation, and the
     * end frames go into the send ring at once when it has room, otherwise from a task on the runtime's
     * handler executor (which then holds the writing role: the caller gave it up by finishing). The steps
     * are chained, so only one of them produces into the ring at a time. One deadline, kept by a timer.
     */
    private CompletableFuture<ByteBuffer> startFinish(final PooledBuffer end) {
        final CompletableFuture<ByteBuffer> outcome = new CompletableFuture<>();
        final BraidException failed = failure;
        if (failed != null) {
            if (end != null) {
                end.release();
            }
            outcome.completeExceptionally(failed);
            return outcome;
        }
        finishStarted = true;
        final long deadline = System.nanoTime() + finishTimeout.toNanos();
        final java.util.concurrent.ScheduledFuture<?> timer = table.afterNanos(() -> {
            if (!outcome.isDone()) {
                abortWith(finishTimedOut(), "finish handshake timed out");
            }
        }, finishTimeout.toNanos());
        final PooledBuffer[] pendingEnd = {end}; // ours until its step queues it (steps run one after another)
        final CompletableFuture<Void> steps;
        if (serverSide) {
            final CompletableFuture<Void> eof = remoteOk.isDone() || eofQueued ? CompletableFuture.completedFuture(null)
                    : queueEnd(Frames.claim(table.pool, 0), STATUS_CONTINUE, deadline);
            steps = eof.thenCompose(v -> remoteOk).thenCompose(v -> {
                final PooledBuffer f = pendingEnd[0] != null ? pendingEnd[0] : Frames.claim(table.pool, 0);
                pendingEnd[0] = null;
                return localEndQueued ? CompletableFuture.completedFuture(null) : queueEnd(f, STATUS_OK, deadline);
            });
        } else {
            steps = (localEndQueued ? CompletableFuture.<Void>completedFuture(null)
                    : queueEnd(Frames.claim(table.pool, 0), STATUS_OK, deadline)).thenCompose(v -> remoteOk);
        }
        steps.whenComplete((v, e) -> {
            if (timer != null) {
                timer.cancel(false);
            }
            if (pendingEnd[0] != null) {
                pendingEnd[0].release();
                pendingEnd[0] = null;
            }
            if (e != null) {
                final Throwable cause = e instanceof java.util.concurrent.CompletionException && e.getCause() != null
                        ? e.getCause() : e;
                table.callbacks.fail(outcome, cause instanceof BraidException ? cause
                        : new BraidException(BraidException.Category.IO, "stream " + this + ": " + cause, cause));
                return;
            }
            final PooledBuffer r = takeResult();
            ByteBuffer copy = EMPTY;
            if (r != null) {
                final ByteBuffer p = Frames.lentPayload(r);
                copy = ByteBuffer.allocate(p.remaining()).put(p).flip().asReadOnlyBuffer();
                r.release();
            }
            completeDone();
            table.callbacks.complete(outcome, copy); // the caller's stages run on the callback executor
        });
        return outcome;
    }

    /**
     * Queues an end frame (EOF: {@code STATUS_CONTINUE}, empty; or OK) without blocking: at once if the ring
     * has room, else from a handler-executor task that blocks for it until {@code deadline}.
     */
    private CompletableFuture<Void> queueEnd(final PooledBuffer f, final int status, final long deadline) {
        if (status == STATUS_OK) {
            localEndQueued = true;
        } else {
            eofQueued = true;
        }
        try {
            if (sender.tryQueueEnd(f, status)) {
                return CompletableFuture.completedFuture(null);
            }
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
        final CompletableFuture<Void> queued = new CompletableFuture<>();
        try {
            table.blockingExecutor.execute(() -> {
                try {
                    sender.commitAndQueue(f, TYPE_STREAM, status, true, deadline);
                    queued.complete(null);
                } catch (Throwable t) {
                    queued.completeExceptionally(t);
                }
            });
        } catch (java.util.concurrent.RejectedExecutionException e) {
            f.release();
            queued.completeExceptionally(new BraidException(BraidException.Category.CANCELLED, "stream " + this
                    + ": braid is closing", e));
        }
        return queued;
    }

    /** A server's final OK carrying {@code payload}'s remaining bytes (not consumed); null for an empty one. */
    private PooledBuffer resultFrame(final ByteBuffer payload) {
        if (payload == null) {
            return null;
        }
        checkCarriesResult(payload.remaining());
        final PooledBuffer f = Frames.claim(table.pool, payload.remaining());
        f.byteBuffer().put(PAYLOAD_OFFSET, payload, payload.position(), payload.remaining())
                .position(PAYLOAD_OFFSET + payload.remaining());
        return f;
    }

    /** A server's final OK carrying {@code value} encoded by {@code m} straight into it. */
    private <T> PooledBuffer resultFrame(final Marshaller<T> m, final T value) {
        final ByteBuffer whole = m.encode(value);
        if (whole != null) {
            return resultFrame(whole);
        }
        final int n = m.size(value);
        checkCarriesResult(n);
        final PooledBuffer f = Frames.claim(table.pool, n);
        final ByteBuffer b = f.byteBuffer();
        try {
            b.limit(PAYLOAD_OFFSET + n);
            m.write(value, b);
            if (b.position() != PAYLOAD_OFFSET + n) {
                throw new IllegalStateException("the result marshaller of stream " + this + " wrote "
                        + (b.position() - PAYLOAD_OFFSET) + " bytes; its size() said " + n);
            }
        } catch (Throwable t) {
            f.release();
            throw t;
        }
        return f;
    }

    private void checkCarriesResult(final int n) {
        if (!serverSide) {
            throw new IllegalStateException("stream " + this + ": only the server's finish carries a result (the "
                    + "last OK of the handshake is the server's)");
        }
        if ((long) HEADER_LENGTH + n > maxOutbound) {
            throw new dev.braid.LimitExceededException("maxMessageSize", maxOutbound, "the result of stream " + this
                    + " (" + n + " bytes) does not fit in the largest message");
        }
    }

    /** Client: takes the server's result frame (the caller releases it), or null if it carried none. */
    private PooledBuffer takeResult() {
        return (PooledBuffer) RESULT.getAndSet(this, (PooledBuffer) null);
    }

    private void releaseResult() {
        final PooledBuffer r = takeResult();
        if (r != null) {
            r.release();
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
        releaseResult();
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
    @Override
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

    void abortWith(final BraidException local, final String reason) {
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
        table.schedule(sender); // the writer drops what is left in the ring
    }

    /** Server: a handler failure after the stream was accepted becomes an abort carrying its remote_error. */
    @Override
    public void abortWithRemoteError(final RemoteError e) {
        if (!fail(new RemoteException(e))) {
            return;
        }
        final PooledBuffer f = Frames.claim(table.pool, RemoteErrorCodec.encodedSize(e));
        RemoteErrorCodec.encode(e, f.byteBuffer());
        Frames.commit(f, procedure.program(), procedure.version(), procedure.procedure(), TYPE_STREAM, serial,
                STATUS_ERROR);
        table.sendControl(f);
        table.schedule(sender);
    }

    /**
     * Records the first failure, wakes everyone, drops queued data. Any thread.
     *
     * @return false if the stream had already failed
     */
    @Override
    public boolean fail(final BraidException e) {
        if (!FAILURE.compareAndSet(this, null, e)) {
            return false;
        }
        remoteOk.completeExceptionally(e);
        releaseResult();
        receiver.drainInbound();
        sender.drainOutbound(); // also wakes a blocked writer
        receiver.wake();
        receiver.resumeReadsIfPaused();
        markDone();
        signals.signal(StreamSignals.ERROR);
        return true;
    }

    /** The first failure, or null. Any thread. */
    BraidException failure() {
        return failure;
    }

    boolean failed() {
        return failure != null;
    }

    // ================================================================== inbound (reader thread)

    /**
     * Reader thread: a STREAM or STREAM_HOLE packet for this stream. Takes ownership of {@code f}. At a server,
     * the peer's abort of this open stream is counted ({@link StreamTable#peerAborted}), which throws
     * {@code ProtocolException} when it is one too many.
     */
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
            if (fail(reason) && serverSide) {
                table.peerAborted(this); // may throw: a peer aborting streams in a loop is closed
            }
            return;
        }
        if (status == STATUS_OK) {
            if (!serverSide && length > 0) {
                // The server's result: kept for the finisher. A failure racing with us releases it: whoever
                // swaps it out releases it, so a re-check after the store is all it takes.
                RESULT.setVolatile(this, f);
                if (failure != null || done) {
                    releaseResult();
                }
            } else {
                f.release(); // a client's OK carries nothing (one that does is ignored)
            }
            remoteEof = true; // at a server: the client finished sending
            remoteOk.complete(null);
            wakeReader();
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
        if (type == TYPE_STREAM_HOLE && f.byteBuffer().getLong(PAYLOAD_OFFSET) > maxHole) {
            final long hole = f.byteBuffer().getLong(PAYLOAD_OFFSET);
            f.release();
            abortWith(new dev.braid.LimitExceededException("maxStreamHole", maxHole, "stream " + this
                    + ": the peer sent a hole of " + hole + " bytes"), "hole of " + hole
                    + " bytes exceeds the limit maxStreamHole = " + maxHole);
            return;
        }
        final long cost = StreamFlowControl.cost(length + HEADER_LENGTH, length);
        final long before = flow.admit(cost);
        if (before < 0) {
            f.release();
            abortWith(new BraidException(BraidException.Category.PROTOCOL, "stream " + this + ": the peer sent "
                    + (flow.queued() + cost) + " bytes of packets unconsumed, beyond the flow-control window of "
                    + flow.receiveLimit()), "peer exceeded the flow-control window of " + flow.receiveLimit() + " bytes");
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
        return !flow.enabled && flow.queued() >= flow.receiveWindow();
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

    @Override
    public StreamPacket tryReadPacket() {
        return receiver.tryReadPacket();
    }

    @Override
    public ByteBuffer openingReply() {
        return openingReply.duplicate();
    }

    @Override
    public <T> T openingReply(final Marshaller<T> marshaller) {
        final ByteBuffer r = openingReply.duplicate();
        try {
            return marshaller.read(r);
        } catch (RuntimeException e) {
            throw new BraidException(BraidException.Category.PROTOCOL, "stream " + this
                    + ": cannot decode its opening reply: " + (e instanceof BraidException ? e.getMessage()
                    : e.toString()), e);
        }
    }

    @Override
    public void setOpeningReply(final ByteBuffer copy) {
        openingReply = copy.asReadOnlyBuffer();
    }

    @Override
    public boolean endInProgress() {
        return finishStarted;
    }

    // ================================================================== pumps and adapters (StreamAdapters)

    @Override
    public long sendAll(final Source source) {
        return StreamAdapters.sendAll(this, source, sender.maxPacket);
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
            if (!sender.isFull() && failure == null) {
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

    @Override
    public boolean hasListener() {
        return signals.hasListener();
    }

    @Override
    public long bytesWritten() {
        return sender.bytesWritten;
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
    public long sendQueuedBytes() {
        return sender.queuedBytes();
    }

    @Override
    public long sendWindow() {
        return flow.sendWindow();
    }

    @Override
    public long receiveWindow() {
        return flow.receiveWindow();
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
            if (sender.isFull()) {
                return false;
            }
            localEndQueued = true;
            sender.commitAndQueue(Frames.claim(table.pool, 0), TYPE_STREAM, STATUS_OK, false);
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

    @Override
    public void accept() {
        accepted = true;
    }

    @Override
    public boolean accepted() {
        return accepted;
    }

    @Override
    public void releaseTimer(final java.util.concurrent.ScheduledFuture<?> timer) {
        releaseTimer = timer;
    }

    @Override
    public void cancelReleaseTimer() {
        final java.util.concurrent.ScheduledFuture<?> t = releaseTimer;
        if (t != null) {
            t.cancel(false);
        }
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
