package dev.braid.internal.engine;

import dev.braid.BraidException;
import dev.braid.BraidStream;
import dev.braid.StreamOptions;
import dev.braid.CallOptions;
import dev.braid.CallTimeoutException;
import dev.braid.Connection;
import dev.braid.ConnectionClosedException;
import dev.braid.ConnectionClosedException.Reason;
import dev.braid.ConnectionStats;
import dev.braid.EventListener;
import dev.braid.HandlerMode;
import dev.braid.LimitExceededException;
import dev.braid.NegotiatedLimits;
import dev.braid.PayloadWriter;
import dev.braid.Procedure;
import dev.braid.ProcedureDescriptor;
import dev.braid.ProtocolException;
import dev.braid.RemoteException;
import dev.braid.Reply;
import dev.braid.ReplyHandler;
import dev.braid.ReplyTooLargeException;
import dev.braid.TypedReplyHandler;
import dev.braid.buffer.PooledBuffer;
import dev.braid.internal.engine.stream.StreamHandle;
import dev.braid.internal.engine.call.BlockingCall;
import dev.braid.internal.engine.call.CallRecord;
import dev.braid.internal.engine.call.ClientCalls;
import dev.braid.internal.engine.call.FutureCall;
import dev.braid.internal.engine.call.HandlerCall;
import dev.braid.internal.engine.io.ReadGate;
import dev.braid.internal.wire.Extension;
import dev.braid.internal.wire.Frames;
import dev.braid.spi.IoThreads;

import java.lang.System.Logger.Level;
import java.nio.ByteBuffer;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;


import static dev.braid.internal.wire.FrameHeader.*;

/**
 * The client side of a connection: the {@link Connection} API, HELLO, events from the server and opening
 * streams. Calls (serials, the pending table, slots, the waiting queue, recycled records) live in
 * {@link ClientCalls}; this class builds each call's frame and hands it over.
 *
 * <p>Futures complete, and reply handlers run, on the callback executor ({@code rt.callbacks}, see
 * {@link dev.braid.BraidConfig#callbackExecutor}): by default a virtual thread per callback, so a dependent
 * stage may block; with {@code DIRECT_CALLBACKS} on the thread that finishes the call, usually the reader
 * (I/O) thread, where a blocking braid call fails with {@link dev.braid.BlockingOperationException}.
 */
public final class ClientConnection extends ConnectionEngine implements Connection {
    private final ClientCalls calls;
    private final ConcurrentHashMap<Procedure, Listener> listeners = new ConcurrentHashMap<>();
    private final CompletableFuture<ClientConnection> ready = new CompletableFuture<>();
    private volatile NegotiatedLimits limits;
    private volatile java.util.concurrent.Semaphore streamSlots;
    private volatile boolean closing;

    public ClientConnection(final BraidRuntime rt) {
        super(rt, dev.braid.BraidObserver.Side.CLIENT);
        this.calls = new ClientCalls(cfg, rt.callbacks, rt.timer, outbound, obs);
        calls.onServerDraining(reason -> beginDrain("the server refused a call: " + reason));
    }

    /** Completes when the connection is usable (after HELLO, or at once without extensions). */
    public CompletableFuture<ClientConnection> ready() {
        return ready;
    }

    @Override
    void opened() {
        if (!cfg.extensions()) {
            useLimits(Handshake.compatible(cfg));
            return;
        }
        final Extension.Hello mine = Handshake.clientHello(cfg);
        final Procedure hello = new Procedure(Extension.PROGRAM, Extension.VERSION, Extension.PROC_HELLO);
        final int serial = calls.nextSerial();
        final FutureCall call = calls.internalFutureCall(); // its stage below is braid's own and never blocks
        calls.startHello(call, hello, serial, frameOf(Extension.PROGRAM, Extension.VERSION, Extension.PROC_HELLO,
                TYPE_CALL, serial, STATUS_OK, Extension.HELLO_LENGTH, mine::encode), cfg.helloTimeout());
        call.future.whenComplete((reply, error) -> {
            if (error == null) {
                try (reply) {
                    useLimits(Handshake.clientLimits(cfg, reply.payload()));
                } catch (ProtocolException e) {
                    failReady(e);
                    transport.close(e);
                }
            } else if (error instanceof RemoteException) {
                // A peer without braid's extensions (a plain libvirt daemon) refuses the unknown program.
                useLimits(Handshake.compatible(cfg));
            } else {
                final Throwable reason = error instanceof CallTimeoutException
                        ? new ConnectionClosedException(Reason.PEER_NOT_RESPONDING,
                        "no answer to HELLO within " + cfg.helloTimeout().toMillis() + " ms", error)
                        : error;
                failReady(reason);
                transport.close(reason);
            }
        });
    }

    private void useLimits(final NegotiatedLimits l) {
        limits = l;
        negotiated(l);
        startKeepalive(); // not before: a PING on the control lane could overtake the HELLO
        streams.startTuning();
        streamSlots = new java.util.concurrent.Semaphore(l.maxConcurrentStreams());
        calls.useLimits(l.maxOutstandingCalls());
        ready.complete(this);
    }

    @Override
    boolean keepaliveFromOpen() {
        return false;
    }

    private void failReady(final Throwable t) {
        ready.completeExceptionally(t);
    }

    // ------------------------------------------------------------------ calls, any thread

    @Override
    public CompletableFuture<Reply> callAsync(final Procedure p, final ByteBuffer args, final CallOptions options) {
        checkCall(p, args.remaining());
        final int serial = calls.nextSerial();
        final FutureCall call = calls.futureCall();
        start(call, p, serial, frameOf(p.program(), p.version(), p.procedure(), TYPE_CALL, serial, STATUS_OK, args),
                options);
        return call.future;
    }

    @Override
    public CompletableFuture<Reply> callAsync(final Procedure p, final int length, final PayloadWriter writer,
                                              final CallOptions options) {
        checkCall(p, length);
        final int serial = calls.nextSerial();
        final FutureCall call = calls.futureCall();
        start(call, p, serial, frameOf(p.program(), p.version(), p.procedure(), TYPE_CALL, serial, STATUS_OK, length,
                writer), options);
        return call.future;
    }

    @Override
    public void callAsync(final Procedure p, final ByteBuffer args, final CallOptions options,
                          final ReplyHandler handler) {
        callAsync(p, args, options, handler, null);
    }

    @Override
    public void callAsync(final Procedure p, final ByteBuffer args, final CallOptions options,
                          final ReplyHandler handler, final Object attachment) {
        Objects.requireNonNull(handler, "handler");
        checkCall(p, args.remaining());
        final int serial = calls.nextSerial();
        final HandlerCall call = calls.handlerCall(handler, attachment);
        start(call, p, serial, frameOf(p.program(), p.version(), p.procedure(), TYPE_CALL, serial, STATUS_OK, args),
                options);
    }

    // ------------------------------------------------------------------ typed calls, any thread

    /** A typed call's frame: the request encoded straight into it (checked against the largest message). */
    private <Q> PooledBuffer typedFrame(final ProcedureDescriptor<Q, ?> d, final int serial, final Q request) {
        return frameOf(TYPE_CALL, serial, STATUS_OK, d.procedure(), d.request(), request, "call");
    }

    @Override
    public <Q, R> R call(final ProcedureDescriptor<Q, R> d, final Q request, final CallOptions options) {
        final PooledBuffer frame = awaitTypedReply(d, request, options);
        try {
            return d.reply().read(Frames.lentPayload(frame));
        } catch (RuntimeException e) {
            throw ClientCalls.undecodable(d.procedure(), e);
        } finally {
            frame.release();
        }
    }

    @Override
    public <Q, R> R call(final ProcedureDescriptor<Q, R> d, final Q request, final R replyInto,
                         final CallOptions options) {
        final PooledBuffer frame = awaitTypedReply(d, request, options);
        try {
            return d.reply().read(Frames.lentPayload(frame), replyInto);
        } catch (RuntimeException e) {
            throw ClientCalls.undecodable(d.procedure(), e);
        } finally {
            frame.release();
        }
    }

    private <Q> PooledBuffer awaitTypedReply(final ProcedureDescriptor<Q, ?> d, final Q request,
                                             final CallOptions options) {
        IoThreads.checkBlockingAllowed("Connection.call");
        checkCallable();
        calls.checkQueue();
        final int serial = calls.nextSerial();
        final PooledBuffer frame = typedFrame(d, serial, request);
        final BlockingCall call = calls.blockingCall();
        start(call, d.procedure(), serial, frame, options);
        final PooledBuffer reply = call.await(); // throws on failure, timeout or interrupt (not recycled then)
        calls.recycle(call);
        return reply;
    }

    @Override
    public <Q, R> CompletableFuture<R> callAsync(final ProcedureDescriptor<Q, R> d, final Q request,
                                                 final CallOptions options) {
        checkCallable();
        calls.checkQueue();
        final int serial = calls.nextSerial();
        final PooledBuffer frame = typedFrame(d, serial, request);
        final FutureCall call = calls.futureCall();
        start(call, d.procedure(), serial, frame, options);
        final FutureCall.Future raw = call.future;
        final CompletableFuture<R> typed = new CompletableFuture<>() {
            @Override
            public boolean cancel(final boolean mayInterruptIfRunning) {
                final boolean cancelled = super.cancel(mayInterruptIfRunning);
                if (cancelled) {
                    raw.cancel(mayInterruptIfRunning); // abandons the call
                }
                return cancelled;
            }
        };
        raw.whenComplete((reply, error) -> {
            if (error != null) {
                typed.completeExceptionally(error);
                return;
            }
            try (reply) {
                typed.complete(d.reply().read(reply.payload()));
            } catch (RuntimeException e) {
                typed.completeExceptionally(ClientCalls.undecodable(d.procedure(), e));
            }
        });
        return typed;
    }

    @Override
    public <Q, R> void callAsync(final ProcedureDescriptor<Q, R> d, final Q request, final CallOptions options,
                                 final TypedReplyHandler<R> handler, final Object attachment) {
        Objects.requireNonNull(handler, "handler");
        checkCallable();
        calls.checkQueue();
        final int serial = calls.nextSerial();
        final PooledBuffer frame = typedFrame(d, serial, request);
        final HandlerCall call = calls.handlerCall(d.reply(), handler, attachment);
        start(call, d.procedure(), serial, frame, options);
    }

    @Override
    public int call(final Procedure p, final ByteBuffer args, final ByteBuffer replyInto, final CallOptions options) {
        final PooledBuffer frame = awaitReply(p, args, options);
        try {
            final int length = Frames.length(frame) - PAYLOAD_OFFSET;
            if (length > replyInto.remaining()) { // the reply is not lost: the exception keeps a copy
                final ByteBuffer copy = ByteBuffer.allocate(length);
                copy.put(0, frame.byteBuffer(), PAYLOAD_OFFSET, length);
                throw new ReplyTooLargeException(p, replyInto.remaining(), copy);
            }
            replyInto.put(replyInto.position(), frame.byteBuffer(), PAYLOAD_OFFSET, length);
            replyInto.position(replyInto.position() + length);
            return length;
        } finally {
            frame.release();
        }
    }

    /** Starts a call and waits for its reply frame (the caller owns and releases it). */
    private PooledBuffer awaitReply(final Procedure p, final ByteBuffer args, final CallOptions options) {
        IoThreads.checkBlockingAllowed("Connection.call");
        checkCall(p, args.remaining());
        final int serial = calls.nextSerial();
        final BlockingCall call = calls.blockingCall();
        start(call, p, serial, frameOf(p.program(), p.version(), p.procedure(), TYPE_CALL, serial, STATUS_OK, args),
                options);
        final PooledBuffer frame = call.await(); // throws on failure, timeout or interrupt (not recycled then)
        calls.recycle(call);
        return frame;
    }


    private void checkCall(final Procedure p, final int payloadLength) {
        checkCallable();
        checkOutboundSize(payloadLength, "call", p);
        calls.checkQueue();
    }

    private void start(final CallRecord call, final Procedure p, final int serial, final PooledBuffer frame,
                       final CallOptions options) {
        calls.start(call, p, serial, frame, options.timeout());
    }

    @Override
    public byte[] call(final Procedure p, final byte[] args, final CallOptions options) {
        final PooledBuffer frame = awaitReply(p, ByteBuffer.wrap(args), options);
        try {
            final byte[] bytes = new byte[Frames.length(frame) - PAYLOAD_OFFSET];
            frame.byteBuffer().get(PAYLOAD_OFFSET, bytes);
            return bytes;
        } finally {
            frame.release();
        }
    }


    // ------------------------------------------------------------------ reader side

    @Override
    boolean onCall(final PooledBuffer frame) {
        final String what = Frames.describe(frame.byteBuffer(), 0);
        frame.release();
        throw new ProtocolException("a server sent a CALL to a client: " + what);
    }

    @Override
    void onReply(final PooledBuffer frame) {
        calls.onReply(frame);
    }

    @Override
    Listener listener(final int prog, final int vers, final int proc) {
        return listeners.get(new Procedure(prog, vers, proc));
    }

    // ------------------------------------------------------------------ streams

    @Override
    public BraidStream openStream(final Procedure p, final ByteBuffer args, final StreamOptions options) {
        IoThreads.checkBlockingAllowed("Connection.openStream");
        checkCallable();
        acquireSlot(options);
        return awaitOpen(p, open(p, serial -> {
            checkOutboundSize(args.remaining(), "stream call " + p);
            return frameOf(p.program(), p.version(), p.procedure(), TYPE_CALL, serial, STATUS_OK, args);
        }, options));
    }

    @Override
    public <Q> BraidStream openStream(final ProcedureDescriptor<Q, ?> d, final Q request, final StreamOptions options) {
        IoThreads.checkBlockingAllowed("Connection.openStream");
        checkCallable();
        acquireSlot(options);
        return awaitOpen(d.procedure(), open(d.procedure(), serial -> frameOf(TYPE_CALL, serial, STATUS_OK,
                d.procedure(), d.request(), request, "stream call"), options));
    }

    @Override
    public CompletableFuture<BraidStream> openStreamAsync(final Procedure p, final ByteBuffer args,
                                                          final StreamOptions options) {
        checkOutboundSize(args.remaining(), "stream call " + p);
        final ByteBuffer copy = ByteBuffer.allocate(args.remaining()).put(args.duplicate()).flip(); // may open later
        return openAsync(p, serial -> frameOf(p.program(), p.version(), p.procedure(), TYPE_CALL, serial, STATUS_OK,
                copy), options);
    }

    @Override
    public <Q> CompletableFuture<BraidStream> openStreamAsync(final ProcedureDescriptor<Q, ?> d, final Q request,
                                                              final StreamOptions options) {
        return openAsync(d.procedure(), serial -> frameOf(TYPE_CALL, serial, STATUS_OK, d.procedure(), d.request(),
                request, "stream call"), options);
    }

    /** Builds a stream's opening call frame for its serial (the caller owns the frame). */
    private interface OpeningFrame {
        PooledBuffer make(int serial);
    }

    /** Caller's thread (blocking opens): a stream slot, at once or within {@code waitForSlot}. */
    private void acquireSlot(final StreamOptions options) {
        final java.util.concurrent.Semaphore slots = streamSlots;
        try {
            if (!(options.waitForSlot().isZero() ? slots.tryAcquire()
                    : slots.tryAcquire(options.waitForSlot().toNanos(), TimeUnit.NANOSECONDS))) {
                throw noSlot(options);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new BraidException(BraidException.Category.CANCELLED, "interrupted while waiting for a stream slot", e);
        }
    }

    private LimitExceededException noSlot(final StreamOptions options) {
        return obs.refused(new LimitExceededException("maxConcurrentStreams", limits.maxConcurrentStreams(),
                "no free stream slot on this connection" + (options.waitForSlot().isZero() ? ""
                        : " after waiting " + options.waitForSlot().toMillis() + " ms") + " (" + streams.size()
                        + " streams open here)"));
    }

    /** Non-blocking opens: a slot now, or (waitForSlot) one awaited on the handler executor, never here. */
    private CompletableFuture<BraidStream> openAsync(final Procedure p, final OpeningFrame frame,
                                                     final StreamOptions options) {
        checkCallable();
        if (streamSlots.tryAcquire()) {
            return open(p, frame, options);
        }
        if (options.waitForSlot().isZero()) {
            return CompletableFuture.failedFuture(noSlot(options));
        }
        final CompletableFuture<BraidStream> result = new CompletableFuture<>();
        try {
            rt.handlers.execute(() -> {
                try {
                    acquireSlot(options);
                } catch (BraidException e) {
                    result.completeExceptionally(e);
                    return;
                }
                if (result.isDone()) { // the caller gave up while we waited
                    streamSlots.release();
                    return;
                }
                final CompletableFuture<BraidStream> opening;
                try {
                    opening = open(p, frame, options);
                } catch (RuntimeException e) {
                    result.completeExceptionally(e);
                    return;
                }
                result.whenComplete((s, e) -> {
                    if (result.isCancelled()) {
                        opening.cancel(false);
                    }
                });
                opening.whenComplete((s, e) -> {
                    if (e != null) {
                        result.completeExceptionally(e);
                    } else if (!result.complete(s)) {
                        s.abort("the opener gave the stream up before it was accepted");
                    }
                });
            });
        } catch (java.util.concurrent.RejectedExecutionException e) {
            result.completeExceptionally(new BraidException(BraidException.Category.CANCELLED,
                    "cannot wait for a stream slot: braid is closing", e));
        }
        return result;
    }

    /** Waits for an opening started by {@link #open}: the stream, or the failure thrown as it is. */
    private BraidStream awaitOpen(final Procedure p, final CompletableFuture<BraidStream> opening) {
        try {
            return opening.get();
        } catch (ExecutionException e) {
            throw ClientCalls.unwrap(e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            opening.cancel(false); // queued: never leaves, slot freed now; sent: aborted
            throw new BraidException(BraidException.Category.CANCELLED, "interrupted while opening stream " + p, e);
        }
    }

    /**
     * With a stream slot held: registers the stream (before its call can leave: the server may send data right
     * after its reply), sends the opening call and returns the future of the stream. The reply's payload is
     * copied onto the stream before the future completes. Cancelling the future drops a call still queued
     * (the stream and its slot are freed at once) or aborts the stream of one already sent.
     */
    private CompletableFuture<BraidStream> open(final Procedure p, final OpeningFrame frameFor,
                                                final StreamOptions options) {
        final int serial;
        final StreamHandle s;
        final PooledBuffer frame;
        try {
            checkCallable();
            serial = calls.nextSerial();
            frame = frameFor.make(serial);
            s = streams.register(p, serial, false, flowControl, peerStreamWindow, maxOutboundMessage,
                    streamRelease ? 2 : 1);
            if (streamRelease) {
                awaitingRelease.put(serial, s); // likewise its RELEASE, right after the handler returns
            }
        } catch (RuntimeException e) {
            streamSlots.release();
            throw e;
        }
        final FutureCall opening = calls.futureCall();
        start(opening, p, serial, frame, new CallOptions(options.timeout()));
        final CompletableFuture<BraidStream> result = new CompletableFuture<>() {
            @Override
            public boolean cancel(final boolean mayInterruptIfRunning) {
                final boolean cancelled = super.cancel(mayInterruptIfRunning);
                if (cancelled) {
                    if (calls.dropIfQueued(opening)) {
                        opening.future.cancel(false); // never left: completes it, which frees the stream below
                    } else {
                        s.abort("the opener gave it up while opening"); // the server may accept it: tell it
                    }
                }
                return cancelled;
            }
        };
        opening.future.whenComplete((reply, error) -> {
            if (error == null) {
                try (reply) {
                    final ByteBuffer payload = reply.payload();
                    s.setOpeningReply(ByteBuffer.allocate(payload.remaining()).put(payload).flip());
                }
                if (!result.complete(s)) {
                    s.abort("the opener gave it up while opening"); // accepted after all: end it
                }
                return;
            }
            final BraidException b = ClientCalls.unwrap(error);
            if (b instanceof CallTimeoutException) {
                // The server may still accept it late: tell it, and let RELEASE (or its timer) free the slot.
                s.abort("the opening call timed out");
            } else {
                s.fail(b);
                if (streamRelease && awaitingRelease.remove(serial, s)) {
                    s.releaseHold(); // refused or never delivered: no RELEASE will come
                }
            }
            result.completeExceptionally(b);
        });
        return result;
    }

    @Override
    void onStreamReleased(final int serial) {
        final StreamHandle s = awaitingRelease.remove(serial);
        if (s != null) {
            s.cancelReleaseTimer();
            s.releaseHold();
        }
    }

    /** Streams done here whose server side has not said RELEASE yet. */
    private final ConcurrentHashMap<Integer, StreamHandle> awaitingRelease = new ConcurrentHashMap<>();

    /**
     * The client's side of {@code s} is done; with RELEASE negotiated the slot waits for the server's
     * RELEASE, but not forever: after streamFinishTimeout it is freed here (a server whose handler is still
     * running then refuses new streams beyond its limit itself, with an error naming it).
     */
    @Override
    public void streamEnded(final StreamHandle s) {
        if (drainState.get() == 1) {
            closeIfDrained();
        }
        if (streamRelease && awaitingRelease.containsKey(s.serial())) {
            s.releaseTimer(rt.timer.schedule(() -> {
                if (awaitingRelease.remove(s.serial(), s)) {
                    CONNECTION_LOG.log(Level.DEBUG, "no RELEASE for stream " + s + " within "
                            + cfg.streamFinishTimeout().toMillis() + " ms; freeing its slot");
                    s.releaseHold();
                }
            }, cfg.streamFinishTimeout().toNanos(), TimeUnit.NANOSECONDS));
        }
    }

    @Override
    public void streamSlotFree(final StreamHandle s) {
        awaitingRelease.remove(s.serial(), s);
        streamSlots.release();
        if (drainState.get() == 1) {
            closeIfDrained();
        }
    }

    @Override
    public void onEvent(final Procedure procedure, final EventListener listener) {
        listeners.put(procedure, new Listener(procedure, listener, HandlerMode.BLOCKING));
    }

    // ------------------------------------------------------------------ drain (docs/protocol.md §3.1)

    /** Drain state: 0 open, 1 draining, 2 the close was started. */
    private final java.util.concurrent.atomic.AtomicInteger drainState = new java.util.concurrent.atomic.AtomicInteger();

    /**
     * Open and accepting new calls and streams, or a {@link dev.braid.DrainingException} (draining, or closed
     * by a drain) / the closed exception.
     */
    private void checkCallable() {
        if (calls.draining()) { // also once the drain closed the connection: the caller should go elsewhere
            throw calls.drainRefusal("the new call");
        }
        try {
            checkOpen();
        } catch (ConnectionClosedException e) { // refused before anything was sent: say so (safe to retry)
            if (calls.draining()) { // the drain began and closed the connection since the check above
                throw calls.drainRefusal("the new call");
            }
            throw ClientCalls.notSent(e);
        }
    }

    @Override
    public void shutdown() {
        beginDrain("Connection.shutdown()");
    }

    @Override
    public boolean isDraining() {
        // what new calls and streams are refused by: drainState turns first (beginDrain's once-guard), and a
        // call made between the two went to the server (refused there: seen in DrainTest, once, in CI)
        return calls.draining();
    }

    @Override
    public boolean awaitTermination(final java.time.Duration timeout) {
        IoThreads.checkBlockingAllowed("Connection.awaitTermination");
        try {
            closeFuture().get(timeout.toNanos(), TimeUnit.NANOSECONDS);
            return true;
        } catch (java.util.concurrent.TimeoutException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new BraidException(BraidException.Category.CANCELLED, "interrupted in awaitTermination", e);
        } catch (ExecutionException e) {
            throw new IllegalStateException(e); // closeFuture never fails
        }
    }

    /** The server sent DRAIN: it serves calls up to {@code lastSerial}; later ones come back refused. */
    @Override
    void onPeerDrain(final int lastSerial) {
        beginDrain("the server is draining; the last call it serves is serial " + Integer.toUnsignedString(lastSerial));
    }

    /**
     * Starts draining (once; any thread): new calls and streams fail with {@link dev.braid.DrainingException},
     * calls not yet sent fail with it now, the server is told with DRAIN (when negotiated), and the
     * connection closes itself once every call sent was answered and every stream ended.
     */
    private void beginDrain(final String reason) {
        if (!drainState.compareAndSet(0, 1)) {
            return;
        }
        calls.drain(reason, this::closeIfDrained);
        if (drainFeature && closedReason == null) {
            sendDrain(calls.lastSerial());
        }
        closeIfDrained();
    }

    /** Any thread, after an outcome or a stream's end: a drained connection closes behind its last answer. */
    private void closeIfDrained() {
        // calls.draining(): beginDrain turns drainState before it marks the calls draining; an outcome in between
        // found the calls idle and closed, and a new call then failed "closed gracefully", not as a drain refusal
        if (drainState.get() == 1 && calls.draining() && calls.idle() && streams.size() == 0
                && drainState.compareAndSet(1, 2)) {
            closeAfterFlush();
        }
    }

    // ------------------------------------------------------------------ closing

    @Override
    boolean closing() {
        return closing;
    }

    @Override
    void closed(final ConnectionClosedException reason) {
        failReady(reason);
        calls.failAll(reason);
    }

    /**
     * Graceful close. On one of braid's I/O threads (a reply handler, a listener) it does not wait: the
     * same close runs on the runtime's handler executor and this returns at once.
     */
    @Override
    public void close() {
        if (closedReason != null) {
            return;
        }
        if (IoThreads.isIoThread()) {
            closing = true; // no new calls from now on
            calls.closing();
            try {
                rt.handlers.execute(this::close);
            } catch (java.util.concurrent.RejectedExecutionException e) {
                abort(); // the runtime is shutting down: nothing left to wait for
            }
            return;
        }
        closing = true;
        calls.closing();
        final long deadline = System.nanoTime() + cfg.closeTimeout().toNanos();
        boolean allDone;
        while (!(allDone = calls.allCompleted())
                && deadline - System.nanoTime() > 0) {
            if (Thread.currentThread().isInterrupted()) {
                break;
            }
            java.util.concurrent.locks.LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(1)); // outcomes belong to
                                                                                               // the callers; we only wait
        }
        if (allDone) { // left: only abandoned calls
            closeAfterFlush();
        } else {
            CONNECTION_LOG.log(Level.DEBUG, this + ": " + calls.pendingCount()
                    + " calls still pending after closeTimeout");
            abort();
        }
        awaitClosed(cfg.closeTimeout().toMillis() + 1000);
    }

    // ------------------------------------------------------------------ introspection

    @Override
    public boolean extensionsNegotiated() {
        final NegotiatedLimits l = limits;
        return l != null && l.protocolVersion() > 0;
    }

    @Override
    public NegotiatedLimits limits() {
        return limits;
    }

    @Override
    public ConnectionStats stats() {
        final NegotiatedLimits l = limits;
        final java.util.concurrent.Semaphore slots = streamSlots;
        final long streamsHeld = l == null || slots == null ? 0 : l.maxConcurrentStreams() - slots.availablePermits();
        return stats(calls.started(), calls.inFlight(), calls.queued(), calls.lateReplies(), 0, extensionsNegotiated(),
                streamsHeld, slots == null ? 0 : slots.getQueueLength());
    }
}
