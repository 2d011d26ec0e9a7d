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
import dev.braid.ProtocolException;
import dev.braid.RemoteError;
import dev.braid.RemoteException;
import dev.braid.Reply;
import dev.braid.ReplyHandler;
import dev.braid.buffer.PooledBuffer;
import dev.braid.internal.concurrent.MpmcArrayQueue;
import dev.braid.internal.wire.Extension;
import dev.braid.internal.wire.Frames;
import dev.braid.internal.wire.RemoteErrorCodec;
import dev.braid.spi.IoThreads;

import java.lang.System.Logger.Level;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;

import org.agrona.collections.Int2ObjectHashMap;

import static dev.braid.internal.wire.FrameHeader.*;

/**
 * The client side of a connection: calls and their replies, HELLO, events from the server.
 *
 * <h2>Calls</h2>
 * A call gets the next serial (+1 per call, skipping 0), is entered in {@link #pending} (a primitive-keyed
 * open-addressing map guarded by its own monitor, held only for a put, get or remove, so the reply, the
 * timer, a cancel and a close can race and exactly one removes it), and then either takes an
 * outstanding-call slot and goes to the writer, or waits in {@link #waiting}. Three kinds of call record
 * ({@link CallRecord}): futures, blocking callers and reply handlers; the last two are recycled through
 * {@link #freeBlocking} and {@link #freeHandlers}, so those paths allocate nothing per call. Slots: {@link #slots}
 * counts free ones; a finished call hands its slot straight to the next waiting call. Because the client
 * never has more calls outstanding than the server's advertised limit, a braid server never has to stop
 * reading a braid client.
 *
 * <p>Futures are completed on the thread that finishes the call: usually the reader (I/O) thread. Dependent
 * stages that may block must use the {@code *Async} variants.
 */
public final class ClientConnection extends ConnectionEngine implements Connection {
    /** Calls by serial; guarded by its own monitor. */
    private final Int2ObjectHashMap<CallRecord> pending = new Int2ObjectHashMap<>();
    private final ConcurrentLinkedQueue<CallRecord> waiting = new ConcurrentLinkedQueue<>();
    /** Idle records kept per kind and connection: enough for the calls a connection keeps in flight in practice. */
    private static final int RECORD_POOL = 256;
    private final MpmcArrayQueue<BlockingCall> freeBlocking = new MpmcArrayQueue<>(RECORD_POOL);
    private final MpmcArrayQueue<HandlerCall> freeHandlers = new MpmcArrayQueue<>(RECORD_POOL);
    private final AtomicInteger slots = new AtomicInteger();
    final AtomicInteger queuedCalls = new AtomicInteger();
    private final AtomicInteger lastSerial = new AtomicInteger();
    private final ConcurrentHashMap<Procedure, Listener> listeners = new ConcurrentHashMap<>();
    private final CompletableFuture<ClientConnection> ready = new CompletableFuture<>();
    private final LongAdder callsStarted = new LongAdder();
    private volatile long lateReplies;
    private volatile NegotiatedLimits limits;
    private volatile java.util.concurrent.Semaphore streamSlots;
    private volatile boolean closing;
    /** 1 once HELLO was sent; reader/writer handoff through the pending map. */
    private volatile int helloSlot;
    /** Serials went past 2^32 once; from then on "issued" is a window check. */
    private volatile boolean serialsWrapped;

    public ClientConnection(final BraidRuntime rt) {
        super(rt);
    }

    /** Completes when the connection is usable (after HELLO, or at once without extensions). */
    public CompletableFuture<ClientConnection> ready() {
        return ready;
    }

    @Override
    void opened() {
        if (!cfg.extensions()) {
            useLimits(compatibleLimits());
            return;
        }
        final Extension.Hello mine = new Extension.Hello(Extension.PROTOCOL_VERSION, Extension.SUPPORTED_FEATURES,
                cfg.maxMessageSize(), cfg.maxOutstandingCalls(), cfg.maxConcurrentStreams(), cfg.initialStreamWindow());
        final Procedure hello = new Procedure(Extension.PROGRAM, Extension.VERSION, Extension.PROC_HELLO);
        final int serial = nextSerial();
        final FutureCall call = new FutureCall(this);
        call.reset(hello, serial, frameOf(Extension.PROGRAM, Extension.VERSION, Extension.PROC_HELLO, TYPE_CALL,
                serial, STATUS_OK, Extension.HELLO_LENGTH, mine::encode), cfg.helloTimeout());
        queuedCalls.incrementAndGet();
        register(call);
        armTimeout(call);
        helloSlot = 1; // HELLO goes out without a slot, but returns one when it finishes: useLimits() counts it
        enqueue(call.admit(), false);
        call.future.whenComplete((reply, error) -> {
            if (error == null) {
                try (reply) {
                    final Extension.Hello theirs = Extension.Hello.decode(reply.payload());
                    useLimits(new NegotiatedLimits(Math.min(theirs.version(), Extension.PROTOCOL_VERSION),
                            theirs.features() & Extension.SUPPORTED_FEATURES,
                            Math.min(cfg.maxMessageSize(), theirs.maxMessage()), theirs.maxOutstanding(),
                            theirs.maxStreams(), theirs.initialWindow()));
                } catch (ProtocolException e) {
                    failReady(e);
                    transport.close(e);
                }
            } else if (error instanceof RemoteException) {
                // A peer without braid's extensions (a plain libvirt daemon) refuses the unknown program.
                useLimits(compatibleLimits());
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

    private NegotiatedLimits compatibleLimits() {
        return new NegotiatedLimits(0, 0, cfg.maxMessageSize(), cfg.maxOutstandingCalls(), cfg.maxConcurrentStreams(),
                cfg.initialStreamWindow());
    }

    private void useLimits(final NegotiatedLimits l) {
        limits = l;
        maxOutboundMessage = l.maxMessageSize();
        flowControl = (l.features() & Extension.FEATURE_FLOW_CONTROL) != 0;
        streamRelease = (l.features() & Extension.FEATURE_STREAM_RELEASE) != 0;
        peerStreamWindow = l.initialStreamWindow();
        streamSlots = new java.util.concurrent.Semaphore(l.maxConcurrentStreams());
        slots.addAndGet(l.maxOutstandingCalls() - helloSlot);
        ready.complete(this);
    }

    private void failReady(final Throwable t) {
        ready.completeExceptionally(t);
    }

    private int nextSerial() {
        int s;
        do {
            s = lastSerial.incrementAndGet();
            if (s == 0) {
                serialsWrapped = true;
            }
        } while (s == 0);
        return s;
    }

    /** Whether {@code serial} was given to some call (before the first wrap: exactly; after: approximately). */
    private boolean issued(final int serial) {
        if (serial == 0) {
            return false;
        }
        final int last = lastSerial.get();
        return serialsWrapped ? last - serial >= 0 : Integer.compareUnsigned(serial, last) <= 0;
    }

    // ------------------------------------------------------------------ calls, any thread

    @Override
    public CompletableFuture<Reply> callAsync(final Procedure p, final ByteBuffer args, final CallOptions options) {
        checkCall(p, args.remaining());
        final int serial = nextSerial();
        final FutureCall call = new FutureCall(this);
        start(call, p, serial, frameOf(p.program(), p.version(), p.procedure(), TYPE_CALL, serial, STATUS_OK, args),
                options);
        return call.future;
    }

    @Override
    public CompletableFuture<Reply> callAsync(final Procedure p, final int length, final PayloadWriter writer,
                                              final CallOptions options) {
        checkCall(p, length);
        final int serial = nextSerial();
        final FutureCall call = new FutureCall(this);
        start(call, p, serial, frameOf(p.program(), p.version(), p.procedure(), TYPE_CALL, serial, STATUS_OK, length,
                writer), options);
        return call.future;
    }

    @Override
    public void callAsync(final Procedure p, final ByteBuffer args, final CallOptions options,
                          final ReplyHandler handler) {
        Objects.requireNonNull(handler, "handler");
        checkCall(p, args.remaining());
        final int serial = nextSerial();
        HandlerCall call = freeHandlers.poll();
        if (call == null) {
            call = new HandlerCall(this);
        }
        call.prepare(handler);
        start(call, p, serial, frameOf(p.program(), p.version(), p.procedure(), TYPE_CALL, serial, STATUS_OK, args),
                options);
    }

    @Override
    public int call(final Procedure p, final ByteBuffer args, final ByteBuffer replyInto, final CallOptions options) {
        final PooledBuffer frame = awaitReply(p, args, options);
        try {
            final int length = Frames.length(frame) - PAYLOAD_OFFSET;
            if (length > replyInto.remaining()) {
                throw new LimitExceededException("replyBuffer", replyInto.remaining(), "the reply to " + p
                        + " has " + length + " bytes of payload; the buffer given has room for "
                        + replyInto.remaining());
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
        final int serial = nextSerial();
        BlockingCall call = freeBlocking.poll();
        if (call == null) {
            call = new BlockingCall(this);
        }
        call.prepare();
        start(call, p, serial, frameOf(p.program(), p.version(), p.procedure(), TYPE_CALL, serial, STATUS_OK, args),
                options);
        final PooledBuffer frame = call.await(); // throws on failure, timeout or interrupt (not recycled then)
        if (call.recyclable()) {
            freeBlocking.offer(call);
        }
        return frame;
    }

    /** Reader thread: a handler call ran cleanly to its end. */
    void recycle(final HandlerCall call) {
        freeHandlers.offer(call);
    }

    private void checkCall(final Procedure p, final int payloadLength) {
        checkOpen();
        checkOutboundSize(payloadLength, "call", p);
        checkQueue();
    }

    private void checkQueue() {
        if (slots.get() <= 0 && queuedCalls.get() >= cfg.maxQueuedCalls()) {
            throw new LimitExceededException("maxQueuedCalls", cfg.maxQueuedCalls(), "too many calls waiting for one of "
                    + limits.maxOutstandingCalls() + " outstanding-call slots");
        }
    }

    private void start(final CallRecord call, final Procedure p, final int serial, final PooledBuffer frame,
                       final CallOptions options) {
        final Duration timeout = options.timeout() != null ? options.timeout() : cfg.defaultCallTimeout();
        call.reset(p, serial, frame, timeout);
        queuedCalls.incrementAndGet();
        callsStarted.increment();
        register(call);
        if (closedReason != null || closing) {
            // Raced with close: whoever removes the call fails it.
            failIfPending(call, closedException());
            return;
        }
        if (call.timedByTimer()) {
            armTimeout(call);
        }
        final int before = tryTakeSlot();
        if (before > 0) {
            // The only call in flight: the backend may write it on this thread rather than wake its I/O thread.
            admitAndSend(call, before == limits.maxOutstandingCalls());
        } else {
            call.queued = true;
            waiting.add(call);
            if (tryTakeSlot() > 0) {
                releaseSlot(); // a slot freed while we queued: hand it to the head of the queue
            }
        }
    }

    private void register(final CallRecord call) {
        synchronized (pending) {
            pending.put(call.serial, call);
        }
    }

    /** Removes {@code call} from the table if it is still there. */
    private boolean unregister(final CallRecord call) {
        synchronized (pending) {
            if (pending.get(call.serial) == call) {
                pending.remove(call.serial);
                return true;
            }
            return false;
        }
    }

    private void armTimeout(final CallRecord call) {
        if (!call.timeout.isZero()) {
            call.timeoutTask = rt.timer.schedule(() -> {
                // Queued: it leaves at once. Sent: the server still holds it, so its slot stays taken until
                // the late reply, which is then dropped and counted; returning the slot now would let this
                // client exceed the server's limit.
                dropIfQueued(call);
                call.completeExceptionally(new CallTimeoutException(call.procedure, call.serial, call.timeout));
            }, call.timeout.toNanos(), TimeUnit.NANOSECONDS);
            if (call.isCompleted()) { // finished before the task was stored: finish() could not cancel it
                call.timeoutTask.cancel(false);
            }
        }
    }

    /** Takes a slot if one is free: returns the free count before taking it, or 0 if none was free. */
    private int tryTakeSlot() {
        int s;
        do {
            s = slots.get();
            if (s <= 0) {
                return 0;
            }
        } while (!slots.compareAndSet(s, s - 1));
        return s;
    }

    /** Holder of a slot: send this call, or pass the slot on if the call is already finished. */
    private void admitAndSend(final CallRecord call, final boolean alone) {
        final PooledBuffer f = call.admit();
        if (f == null) {
            releaseSlot();
            return;
        }
        enqueue(f, false, alone);
    }

    /** A slot is free: give it to the first waiting call that is not finished, or return it. Any thread. */
    void releaseSlot() {
        while (true) {
            final CallRecord next = waiting.poll();
            if (next == null) {
                slots.incrementAndGet();
                // A caller may have queued after our poll and missed the slot: take it back and retry.
                if (waiting.isEmpty() || tryTakeSlot() == 0) {
                    return;
                }
                continue;
            }
            final PooledBuffer f = next.admit();
            if (f != null) {
                enqueue(f, false);
                return;
            }
        }
    }

    /** The caller cancelled {@code call}'s future, or stopped waiting for it. */
    void abandon(final CallRecord call) {
        dropIfQueued(call); // a sent call keeps its slot until its reply comes back (see armTimeout)
    }

    /** A call that was never sent leaves at once: table, queue, frame. Returns false if it was sent. */
    private boolean dropIfQueued(final CallRecord call) {
        if (!call.finishIfQueued()) {
            return false;
        }
        unregister(call);
        waiting.remove(call);
        return true;
    }

    private void failIfPending(final CallRecord call, final Throwable error) {
        if (unregister(call)) {
            call.finish();
            call.completeExceptionally(error);
        }
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

    static BraidException unwrap(final Throwable t) {
        if (t instanceof BraidException b) {
            return b;
        }
        if (t instanceof CancellationException) {
            return new BraidException(BraidException.Category.CANCELLED, "the call was cancelled", t);
        }
        return new BraidException(BraidException.Category.IO, String.valueOf(t), t);
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
        final int serial = Frames.serial(frame);
        final CallRecord call;
        synchronized (pending) {
            final CallRecord found = pending.get(serial);
            if (found != null && !found.wasSent()) {
                final String what = Frames.describe(frame.byteBuffer(), 0);
                frame.release();
                throw new ProtocolException("REPLY for a call that was not sent yet: " + what);
            }
            call = found == null ? null : pending.remove(serial);
        }
        if (call == null) {
            if (!issued(serial)) {
                final String what = Frames.describe(frame.byteBuffer(), 0);
                frame.release();
                throw new ProtocolException("REPLY for a serial no call used: " + what);
            }
            frame.release();
            lateReplies++;
            return;
        }
        call.finish();
        final Procedure p = call.procedure;
        if (Frames.prog(frame) != p.program() || Frames.vers(frame) != p.version() || Frames.proc(frame) != p.procedure()) {
            final ProtocolException e = new ProtocolException("REPLY does not match its call " + p + ": "
                    + Frames.describe(frame.byteBuffer(), 0));
            frame.release();
            call.completeExceptionally(new ConnectionClosedException(Reason.PROTOCOL_ERROR, e.getMessage(), e));
            throw e;
        }
        if (Frames.status(frame) == STATUS_OK) {
            if (!call.completeWithReply(frame)) {
                frame.release();
                lateReplies++;
            }
            return;
        }
        final RemoteError error;
        try {
            error = RemoteErrorCodec.decode(Frames.payloadView(frame));
        } catch (ProtocolException e) {
            call.completeExceptionally(new ConnectionClosedException(Reason.PROTOCOL_ERROR, e.getMessage(), e));
            throw e;
        } finally {
            frame.release();
        }
        final RemoteException failure = new RemoteException(error);
        if (!call.completeWithRemoteError(failure)) {
            lateReplies++;
        }
    }

    @Override
    Listener listener(final int prog, final int vers, final int proc) {
        return listeners.get(new Procedure(prog, vers, proc));
    }

    // ------------------------------------------------------------------ streams

    @Override
    public BraidStream openStream(final Procedure p, final ByteBuffer args, final StreamOptions options) {
        IoThreads.checkBlockingAllowed("Connection.openStream");
        checkOpen();
        final java.util.concurrent.Semaphore slots = streamSlots;
        final int limit = limits.maxConcurrentStreams();
        try {
            if (!(options.waitForSlot().isZero() ? slots.tryAcquire()
                    : slots.tryAcquire(options.waitForSlot().toNanos(), TimeUnit.NANOSECONDS))) {
                throw new LimitExceededException("maxConcurrentStreams", limit, "no free stream slot on this connection"
                        + (options.waitForSlot().isZero() ? "" : " after waiting " + options.waitForSlot().toMillis()
                        + " ms") + " (" + streams.size() + " streams open here)");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new BraidException(BraidException.Category.CANCELLED, "interrupted while waiting for a stream slot", e);
        }
        final int serial;
        final StreamImpl s;
        try {
            checkOpen();
            checkOutboundSize(args.remaining(), "stream call " + p);
            serial = nextSerial();
            s = new StreamImpl(this, p, serial, false, flowControl, cfg.initialStreamWindow(), peerStreamWindow,
                    streamRelease ? 2 : 1);
            streams.put(serial, s); // before the call leaves: the server may send data right after its reply
            if (streamRelease) {
                awaitingRelease.put(serial, s); // likewise its RELEASE, right after the handler returns
            }
        } catch (RuntimeException e) {
            slots.release();
            throw e;
        }
        final FutureCall opening = new FutureCall(this);
        start(opening, p, serial, frameOf(p.program(), p.version(), p.procedure(), TYPE_CALL, serial,
                STATUS_OK, args), new CallOptions(options.timeout()));
        final FutureCall.Future call = opening.future;
        try {
            call.get().close(); // the opening reply's payload is not used
            return s;
        } catch (ExecutionException e) {
            final BraidException b = unwrap(e.getCause());
            if (b instanceof CallTimeoutException) {
                // The server may still accept it late: tell it, and let RELEASE (or its timer) free the slot.
                s.abort("the opening call timed out");
            } else {
                s.fail(b);
                if (streamRelease && awaitingRelease.remove(serial, s)) {
                    s.releaseHold(); // refused or never delivered: no RELEASE will come
                }
            }
            throw b;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            if (dropIfQueued(opening)) { // never left: the server never heard of the stream
                call.cancel(false);
                s.fail(new BraidException(BraidException.Category.CANCELLED, "interrupted while opening stream " + p));
                if (streamRelease && awaitingRelease.remove(serial, s)) {
                    s.releaseHold(); // the call never left: the server never heard of the stream
                }
            } else {
                call.thenAccept(Reply::close);
                s.abort("interrupted while opening");
            }
            throw new BraidException(BraidException.Category.CANCELLED, "interrupted while opening stream " + p, e);
        }
    }

    @Override
    void onStreamReleased(final int serial) {
        final StreamImpl s = awaitingRelease.remove(serial);
        if (s != null) {
            final java.util.concurrent.ScheduledFuture<?> t = s.releaseTimer;
            if (t != null) {
                t.cancel(false);
            }
            s.releaseHold();
        }
    }

    /** Streams done here whose server side has not said RELEASE yet. */
    private final ConcurrentHashMap<Integer, StreamImpl> awaitingRelease = new ConcurrentHashMap<>();

    /**
     * The client's side of {@code s} is done; with RELEASE negotiated the slot waits for the server's
     * RELEASE, but not forever: after streamFinishTimeout it is freed here (a server whose handler is still
     * running then refuses new streams beyond its limit itself, with an error naming it).
     */
    @Override
    void streamEnded(final StreamImpl s) {
        if (streamRelease && awaitingRelease.containsKey(s.serial)) {
            s.releaseTimer = rt.timer.schedule(() -> {
                if (awaitingRelease.remove(s.serial, s)) {
                    BraidRuntime.LOG.log(Level.DEBUG, "no RELEASE for stream " + s + " within "
                            + cfg.streamFinishTimeout().toMillis() + " ms; freeing its slot");
                    s.releaseHold();
                }
            }, cfg.streamFinishTimeout().toNanos(), TimeUnit.NANOSECONDS);
        }
    }

    @Override
    void streamSlotFree(final StreamImpl s) {
        awaitingRelease.remove(s.serial, s);
        streamSlots.release();
    }

    @Override
    public void onEvent(final Procedure procedure, final EventListener listener) {
        listeners.put(procedure, new Listener(procedure, listener, HandlerMode.BLOCKING));
    }

    // ------------------------------------------------------------------ closing

    @Override
    boolean closing() {
        return closing;
    }

    @Override
    void closed(final ConnectionClosedException reason) {
        failReady(reason);
        for (CallRecord call : pendingSnapshot()) {
            failIfPending(call, reason);
        }
        CallRecord w;
        while ((w = waiting.poll()) != null) {
            failIfPending(w, reason);
        }
    }

    private java.util.List<CallRecord> pendingSnapshot() {
        synchronized (pending) {
            return new java.util.ArrayList<>(pending.values());
        }
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
            try {
                rt.handlers.execute(this::close);
            } catch (java.util.concurrent.RejectedExecutionException e) {
                abort(); // the runtime is shutting down: nothing left to wait for
            }
            return;
        }
        closing = true;
        final long deadline = System.nanoTime() + cfg.closeTimeout().toNanos();
        boolean allDone;
        while (!(allDone = pendingSnapshot().stream().allMatch(CallRecord::isCompleted))
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
            BraidRuntime.LOG.log(Level.DEBUG, this + ": " + pendingSnapshot().size()
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
    ConnectionStats stats(final long bytesIn, final long bytesOut, final long evSent, final long evReceived,
                          final long evDropped, final long dropped) {
        final NegotiatedLimits l = limits;
        final int inFlight = l == null ? 0 : Math.max(0, l.maxOutstandingCalls() - slots.get());
        final java.util.concurrent.Semaphore slots = streamSlots;
        final long streamsHeld = l == null || slots == null ? 0 : l.maxConcurrentStreams() - slots.availablePermits();
        return new ConnectionStats(callsStarted.sum(), inFlight, queuedCalls.get(), lateReplies, 0, evSent,
                evReceived, evDropped, dropped, bytesIn, bytesOut, 0, extensionsNegotiated(), streamsHeld,
                slots == null ? 0 : slots.getQueueLength(), streamReadSuspensions, outboundSuspensions);
    }
}
