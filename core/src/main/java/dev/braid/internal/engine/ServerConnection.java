package dev.braid.internal.engine;

import dev.braid.ConnectionClosedException;
import dev.braid.spi.Transport;
import dev.braid.ConnectionStats;
import dev.braid.HandlerMode;
import dev.braid.ProtocolException;
import dev.braid.RemoteError;
import dev.braid.buffer.PooledBuffer;
import dev.braid.internal.engine.stream.StreamHandle;
import dev.braid.internal.engine.io.ReadGate;
import dev.braid.internal.wire.Extension;
import dev.braid.internal.wire.Frames;
import dev.braid.internal.wire.RemoteErrorCodec;

import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

import static dev.braid.internal.wire.FrameHeader.*;

/**
 * The server side of a connection: dispatches CALLs to handlers, answers HELLO, delivers events.
 *
 * <h2>Outstanding-call limit</h2>
 * {@link #inFlight} counts calls dispatched and not yet answered. A call that arrives while it is at
 * {@link dev.braid.BraidConfig#maxOutstandingCalls()} is parked (not dispatched), and the reader stops
 * decoding and asks the backend to stop reading the socket, so a client that ignores the advertised limit
 * cannot make the server buffer or run more than that. A braid client never sends past the limit, so it
 * never causes a suspension. The pause is a {@link ReadGate} hold ({@code CALL_LIMIT}): the reader takes it
 * and re-checks the count, a finishing call releases it (see ReadGate for why no resume is lost).
 *
 * <h2>Drain (issue 14 §1, docs/protocol.md §3.1)</h2>
 * {@link #drain(String)} hands {@link #beginDrain} to the reader context ({@code Transport.execute}), so the drain
 * begins between two frames: {@link #lastCallSerial} (reader-owned) is then exactly the last CALL this side
 * will serve, and every CALL read after it is refused with a drain error ({@link #drainRefusal}) without
 * running. With the DRAIN feature negotiated the peer is told with a DRAIN message carrying that serial and
 * closes the connection itself once its last answer arrived (it is the side that knows when it has read
 * everything, so no answer is lost to a reset); without it (a libvirt peer) this side closes once nothing is
 * in flight ({@link #checkDrained}), after the last answer was queued. {@link #shutdownNow} fails what is
 * left with a reason the peer sees (an ERROR reply per call, an abort per stream) and closes.
 */
public final class ServerConnection extends ConnectionEngine {
    private final ProcedureRegistry registry;
    private final Consumer<ServerConnection> onOpen;
    private final AtomicInteger inFlight = new AtomicInteger();
    private final ReadGate.Hold callLimit = gate.newHold(ReadGate.Reason.CALL_LIMIT);
    private final java.util.function.BooleanSupplier atLimit;
    private volatile boolean extensionsNegotiated;
    private final java.util.concurrent.atomic.LongAdder callsServed = new java.util.concurrent.atomic.LongAdder();
    private final int limit;
    private final AtomicInteger openStreams = new AtomicInteger();
    /** Dispatched calls not answered yet: abandoned (their arguments released) if the connection closes. */
    final java.util.Set<IncomingCallImpl> unanswered = java.util.concurrent.ConcurrentHashMap.newKeySet();
    /** Reader-owned: a call received while the limit was reached, dispatched when a slot frees. */
    private IncomingCallImpl parked;
    /** Reader-owned: the serial of the last CALL read and served (not refused); 0 before the first. */
    private int lastCallSerial;
    /** Set on the reader (beginDrain), read anywhere: no new calls are served. */
    private volatile boolean draining;
    /** The last serial served, fixed when the drain began (reader write before {@link #draining}). */
    private volatile int drainLastSerial;
    /** Why calls are refused, for messages: "server is shutting down" by default. */
    private volatile String drainReason = "the server is shutting down";

    /** The server's connection bounds; null when none apply (a connection made by hand, in tests). */
    private final ServerAdmission admission;
    /** Set on the reader once admitted (then released once, in {@link #closed}). */
    private volatile boolean admitted;
    /** Admitted and no whole frame yet: counted in the server's connections in HELLO. */
    private volatile boolean inHello;
    private java.net.SocketAddress remote;

    public ServerConnection(final BraidRuntime rt, final ProcedureRegistry registry,
                            final Consumer<ServerConnection> onOpen) {
        this(rt, registry, onOpen, null);
    }

    /**
     * @param admission the server's connection bounds, checked as the connection opens (null: none)
     */
    public ServerConnection(final BraidRuntime rt, final ProcedureRegistry registry,
                            final Consumer<ServerConnection> onOpen, final ServerAdmission admission) {
        super(rt, dev.braid.BraidObserver.Side.SERVER);
        this.registry = registry;
        this.onOpen = onOpen;
        this.admission = admission;
        this.limit = cfg.maxOutstandingCalls();
        this.atLimit = () -> inFlight.get() >= limit;
    }

    /** A connection that says nothing within helloTimeout of connecting is closed (it holds a slot). */
    @Override
    java.time.Duration firstFrameTimeout() {
        return cfg.helloTimeout();
    }

    @Override
    boolean pausesForUnreadAnswers() {
        return true;
    }

    /** Reader: the connection bounds were checked (at accept, before TLS; or as it opened). */
    private boolean admissionChecked;

    @Override
    public boolean admitBeforeOpen(final Transport t) {
        return admit(t);
    }

    /** Reader, once: counts the connection in, or closes {@code t} naming the bound that refused it. */
    private boolean admit(final Transport t) {
        admissionChecked = true;
        if (admission == null) {
            return true;
        }
        remote = t.remoteAddress();
        inHello = true; // before admit: from there on another admission may evict it
        final dev.braid.LimitExceededException refused = admission.admit(this, remote);
        if (refused != null) {
            inHello = false;
            rt.peerErrors.log(this, refused.getMessage());
            t.close(new ConnectionClosedException(ConnectionClosedException.Reason.LOCAL_CLOSE,
                    refused.getMessage(), refused));
            return false; // never announced to the server's onConnection
        }
        admitted = true;
        return true;
    }

    @Override
    void opened() {
        if (!admissionChecked && !admit(transport)) {
            return;
        }
        if (evicted) {
            return; // evicted while its TLS handshake ran: closing
        }
        if (onOpen != null) {
            onOpen.accept(this);
        }
    }

    @Override
    void firstFrame() {
        if (inHello && !evicted) {
            inHello = false;
            admission.leftHello(this);
        }
    }

    /** Set once by {@link #evictFromHello}: the connection is closing for the HELLO bound. */
    private volatile boolean evicted;

    /**
     * Any thread ({@link ServerAdmission}): closes this connection if it is still in HELLO, naming the limit.
     *
     * @return whether it was (and is now closing)
     */
    boolean evictFromHello(final dev.braid.LimitExceededException why) {
        if (!inHello || evicted) {
            return false;
        }
        evicted = true;
        rt.peerErrors.log(this, why.getMessage());
        final Transport t = transport != null ? transport : preOpenTransport(); // still in its TLS handshake
        if (t != null) {
            t.close(new ConnectionClosedException(ConnectionClosedException.Reason.LOCAL_CLOSE, why.getMessage(), why));
        }
        return true;
    }

    @Override
    boolean onCall(final PooledBuffer frame) {
        final int prog = Frames.prog(frame);
        final int vers = Frames.vers(frame);
        final int proc = Frames.proc(frame);
        if (prog == Extension.PROGRAM && cfg.extensions()) {
            onExtensionCall(frame, vers, proc);
            return true;
        }
        if (draining) {
            final int serial = Frames.serial(frame);
            frame.release();
            sendError(prog, vers, proc, serial, drainRefusal(prog, vers, proc, serial));
            return true;
        }
        final ProcedureRegistry.Entry entry = registry.lookup(prog, vers, proc);
        if (entry != null && entry.isStream() && !openAllowed(frame)) {
            return false; // the frame waits in throttledOpen; the timer's release re-enters beforeDecode
        }
        lastCallSerial = Frames.serial(frame);
        if (entry == null) {
            final int serial = Frames.serial(frame);
            final int length = Frames.length(frame);
            frame.release();
            if (obs.observed()) {
                refuseCall(new dev.braid.Procedure(prog, vers, proc), serial, length, registry.unknown(prog, vers, proc));
            } else {
                sendError(prog, vers, proc, serial, registry.unknown(prog, vers, proc));
            }
            return true;
        }
        StreamHandle stream = null;
        if (entry.isStream()) {
            final int serial = Frames.serial(frame);
            if (openStreams.get() >= cfg.maxConcurrentStreams()) {
                final int length = Frames.length(frame);
                frame.release();
                final String why = "too many concurrent streams on this connection (limit maxConcurrentStreams = "
                        + cfg.maxConcurrentStreams() + ")";
                obs.limitRefused("maxConcurrentStreams", cfg.maxConcurrentStreams(), "stream " + entry.procedure()
                        + " serial " + Integer.toUnsignedString(serial) + " refused: " + why);
                refuseCall(entry.procedure(), serial, length, RemoteError.of(RemoteError.VIR_ERR_RPC,
                        RemoteError.VIR_FROM_RPC, why));
                return true;
            }
            if (streams.contains(serial)) {
                final String what = Frames.describe(frame.byteBuffer(), 0);
                frame.release();
                throw new ProtocolException("a stream call reuses the serial of an open stream: " + what);
            }
            openStreams.incrementAndGet();
            stream = streams.register(entry.procedure(), serial, true, flowControl, peerStreamWindow,
                    maxOutboundMessage, 2);
        }
        final IncomingCallImpl spare = stream == null ? spareCalls.remove(entry) : null;
        final IncomingCallImpl call = spare != null ? spare.reuse(frame)
                : new IncomingCallImpl(this, entry, frame, stream);
        if (inFlight.get() >= limit) { // only this thread increments, so the count cannot rise under us
            parked = call;
            return pauseReading();
        }
        dispatch(call);
        return true;
    }

    private void dispatch(final IncomingCallImpl call) {
        inFlight.incrementAndGet();
        if (call.mode() == HandlerMode.NON_BLOCKING && call.stream == null) {
            runInline(call);
            return;
        }
        unanswered.add(call);
        if (closedReason != null && unanswered.remove(call)) {
            call.neverRun(); // raced with close
            return;
        }
        if (call.mode() == HandlerMode.NON_BLOCKING) {
            call.run();
        } else {
            try {
                rt.handlers.execute(call);
            } catch (RejectedExecutionException e) {
                call.rejected(e);
            }
        }
    }

    /**
     * Reader thread: a plain non-blocking call runs here and now. It is entered in {@link #unanswered} only
     * if it deferred its answer (most answer before returning, and then cost no set entry); one that
     * answered is kept in {@link #spareCalls} for the next call of the same procedure, so this path
     * allocates nothing.
     *
     * <p>Reuse is limited so that a reference the application kept against the rules (see
     * {@code IncomingCall}) cannot answer an unrelated call: a record only serves its own procedure again,
     * never one whose handler has ever deferred on this connection ({@link #deferringProcedures}), and while
     * not deferred it accepts answers only from this thread, so a stale answer from another thread is
     * refused with {@link IllegalStateException}.
     */
    private void runInline(final IncomingCallImpl call) {
        if (closedReason != null) {
            call.neverRun();
            return;
        }
        call.runInline(Thread.currentThread());
        if (call.deferredAndUnanswered()) {
            unanswered.add(call);
            if ((!call.deferredAndUnanswered() || closedReason != null) && unanswered.remove(call)) {
                if (closedReason != null) {
                    call.abandon(); // the close may have missed it: it was not in the set yet
                }
            }
        } else if (!call.isDeferred() && !deferringProcedures.containsKey(call.entry())) {
            spareCalls.put(call.entry(), call);
        }
    }

    /**
     * Reader-owned: per procedure, a record that ran inline and answered, reused by its next call. An
     * identity map (open addressing: no node per entry), so keeping and taking a spare allocates nothing.
     */
    private final java.util.IdentityHashMap<ProcedureRegistry.Entry, IncomingCallImpl> spareCalls =
            new java.util.IdentityHashMap<>();
    /** Reader-owned: procedures whose inline handler deferred at least once here: their records are not reused. */
    private final java.util.IdentityHashMap<ProcedureRegistry.Entry, Boolean> deferringProcedures =
            new java.util.IdentityHashMap<>();

    /** Reader thread (an inline handler deferring): stop reusing records of this procedure. */
    void procedureDefers(final ProcedureRegistry.Entry entry) {
        deferringProcedures.put(entry, Boolean.TRUE);
        spareCalls.remove(entry);
    }

    /** Reader context, when reading resumes: dispatch the call that was parked at the limit, if a slot is free. */
    @Override
    boolean beforeDecode() {
        final IncomingCallImpl call = parked;
        if (call != null) {
            if (inFlight.get() >= limit) {
                return pauseReading();
            }
            parked = null;
            dispatch(call);
        }
        final PooledBuffer open = throttledOpen;
        if (open != null) {
            throttledOpen = null;
            retryingOpen = true;
            final boolean more = onCall(open); // through the bucket again: parked anew if its token is not due yet
            retryingOpen = false;
            return more;
        }
        return true;
    }

    // ------------------------------------------------------------------ stream-open rate

    /**
     * Reader: a stream-opening CALL takes a token from {@link #openThrottle} ({@code maxStreamOpensPerSecond}).
     * Without one, the frame waits in {@link #throttledOpen} and reading stops ({@code STREAM_OPEN_RATE} hold)
     * until the runtime's timer releases the hold when a token is due; the resume re-enters
     * {@link #beforeDecode}, which hands the frame back to {@link #onCall}. So the peer's opens wait, in order,
     * and nothing is refused; calls already read go on and are answered.
     *
     * @return whether the open may go ahead (false: decoding stops; the frame is kept)
     */
    private boolean openAllowed(final PooledBuffer frame) {
        final long wait = openThrottle.tryOpen(System.nanoTime());
        final boolean retry = retryingOpen;
        retryingOpen = false;
        if (wait == 0) {
            if (!retry) {
                throttledSince = 0; // an open that did not wait: the peer is under the rate, the run is over
            }
            return true;
        }
        throttledOpen = frame;
        final long now = System.nanoTime();
        if (throttledSince == 0) {
            throttledSince = now;
        } else if (!throttleLogged && now - throttledSince >= THROTTLE_LOG_AFTER_NANOS) {
            throttleLogged = true;
            rt.peerErrors.log(this, "stream opens throttled for over "
                    + java.util.concurrent.TimeUnit.NANOSECONDS.toMillis(now - throttledSince) + " ms ("
                    + openThrottle.describe() + "): reading waits for the rate, nothing is refused");
        }
        if (openRate.pause(openDue)) {
            try {
                rt.timer.schedule(openRate::release, wait, java.util.concurrent.TimeUnit.NANOSECONDS);
            } catch (RejectedExecutionException e) {
                openRate.release(); // braid is closing: no timer left to wait on
            }
        }
        return false;
    }

    /** Logged once per connection (dev.braid.peer) when its opens have been throttled without a break this long. */
    private static final long THROTTLE_LOG_AFTER_NANOS = 1_000_000_000L;
    /** Reader-owned: the peer's stream-open bucket (the stream table's, which also charges the peer's aborts). */
    private final dev.braid.internal.engine.stream.StreamOpenThrottle openThrottle = streams.openThrottle();
    /** Reading stops while the peer's next stream open waits for a token; the timer releases it. */
    private final ReadGate.Hold openRate = gate.newHold(ReadGate.Reason.STREAM_OPEN_RATE);
    /** The hold's cause, re-checked after taking it (ReadGate's protocol): no token is due yet. */
    private final java.util.function.BooleanSupplier openDue = () -> throttledOpenWaits();
    /** Reader-owned: a stream-opening CALL read while no token was there; handed back by {@link #beforeDecode}. */
    private PooledBuffer throttledOpen;
    /** Reader-owned: when this run of throttled opens began (System.nanoTime; 0: not throttled). */
    private long throttledSince;
    /** Reader-owned: the open being decoded is {@link #throttledOpen} handed back (so the run goes on). */
    private boolean retryingOpen;
    /** Reader-owned: the long-throttle line was logged for this connection. */
    private boolean throttleLogged;

    /** Reader (inside {@link ReadGate.Hold#pause}): whether the throttled open still has no token due. */
    private boolean throttledOpenWaits() {
        return throttledOpen != null && openThrottle.wouldWait(System.nanoTime());
    }

    private boolean pauseReading() {
        callLimit.pause(atLimit); // taken or not, stop decoding now: the resume re-enters onInbound(0)
        return false;
    }

    // ------------------------------------------------------------------ drain

    /**
     * Begins a graceful drain: from the reader context, soon. Any thread; idempotent.
     *
     * @param reason why, for the peer's messages ("the server is shutting down")
     */
    public void drain(final String reason) {
        drainReason = reason;
        final dev.braid.spi.Transport t = transport;
        if (t == null) {
            return; // not open yet: BraidServer's closed flag makes it abort itself as it opens
        }
        t.execute(this::beginDrain);
    }

    /** Reader context: the drain starts between two frames. */
    private void beginDrain() {
        if (draining || closedReason != null) {
            return;
        }
        drainLastSerial = lastCallSerial;
        draining = true;
        if (drainFeature) {
            sendDrain(lastCallSerial);
        }
        checkDrained();
    }

    /** Whether a drain began on this connection. */
    public boolean draining() {
        return draining;
    }

    /** The remote_error a CALL read after the drain began gets: names the drain, marked for braid clients. */
    private RemoteError drainRefusal(final int prog, final int vers, final int proc, final int serial) {
        return new RemoteError(RemoteError.VIR_ERR_RPC, RemoteError.VIR_FROM_RPC, "draining: " + drainReason
                + "; call " + new dev.braid.Procedure(prog, vers, proc) + " serial " + Integer.toUnsignedString(serial)
                + " was not executed (the last call served is serial " + Integer.toUnsignedString(drainLastSerial)
                + "); retry it on another connection", RemoteError.VIR_ERR_ERROR, null, null, null, null,
                Extension.DRAIN_REFUSAL_MARKER, drainLastSerial, null);
    }

    /**
     * The client's DRAIN: it starts no new calls here. Nothing to do: the server serves what still comes (calls
     * queued before the DRAIN left the client may follow it) and the client closes once it is done.
     */
    @Override
    void onPeerDrain(final int lastSerial) {
        // accepted, not counted as dropped
    }

    /**
     * Any thread, after an answer was queued or a stream's slot freed: once draining with nothing in flight,
     * a peer without the DRAIN feature is closed here (after what is queued is written); one with it closes
     * the connection itself when it has read its last answer.
     */
    void checkDrained() {
        if (!draining || closedReason != null || inFlight.get() > 0 || openStreams.get() > 0) {
            return;
        }
        if (!drainFeature) {
            closeAfterFlush();
        }
    }

    /**
     * Ends the connection now, with a reason the peer sees: every call still running is answered with an
     * ERROR naming {@code reason} (its handler's later answer is dropped), every open stream is aborted with
     * it, and the connection closes once that is written, or after {@code flushMillis} at the latest.
     * Any thread.
     */
    public void shutdownNow(final String reason, final long flushMillis) {
        draining = true;
        for (IncomingCallImpl c : unanswered) {
            c.failForShutdown(reason);
        }
        streams.abortAll(reason);
        closeAfterFlush();
        try {
            rt.timer.schedule(this::abort, Math.max(1, flushMillis), java.util.concurrent.TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.RejectedExecutionException e) {
            abort(); // braid is closing: no timer left to wait on
        }
    }

    /**
     * Reader: the connection closes next because the peer broke a limit ({@code reason} names it): every call
     * still running is answered with an ERROR naming it (its handler's later answer is dropped), as
     * {@link #shutdownNow} does, so the peer reads why instead of a bare close.
     */
    @Override
    public void closingForPeer(final String reason) {
        for (IncomingCallImpl c : unanswered) {
            c.failForClose(reason);
        }
    }

    /** A call was answered (or dropped with the connection). Any thread. Returns the calls still in flight. */
    int callDone() {
        callsServed.increment();
        final int left = inFlight.decrementAndGet();
        callLimit.releaseUnless(atLimit); // the reader may have filled this slot already (see releaseUnless)
        return left;
    }

    private void onExtensionCall(final PooledBuffer frame, final int vers, final int proc) {
        final int serial = Frames.serial(frame);
        final RemoteError refused = Handshake.refusal(vers, proc, extensionsNegotiated);
        if (refused != null) {
            frame.release();
            sendError(Extension.PROGRAM, vers, proc, serial, refused);
            return;
        }
        final Extension.Hello theirs;
        try {
            theirs = Extension.Hello.decode(Frames.payloadView(frame));
        } catch (ProtocolException e) {
            frame.release();
            sendError(Extension.PROGRAM, vers, proc, serial, RemoteError.of(RemoteError.VIR_ERR_RPC,
                    RemoteError.VIR_FROM_RPC, e.getMessage()));
            return;
        }
        frame.release();
        final Extension.Hello mine = Handshake.serverAnswer(cfg, theirs);
        negotiated(Handshake.serverLimits(mine, theirs));
        extensionsNegotiated = true;
        enqueue(frameOf(Extension.PROGRAM, Extension.VERSION, Extension.PROC_HELLO, TYPE_REPLY, serial, STATUS_OK,
                Extension.HELLO_LENGTH, mine::encode), false);
        streams.startTuning(); // its PINGs go behind the answer
        if (draining && drainFeature) {
            sendDrain(drainLastSerial); // negotiated while draining: the client learns it at once
        }
    }

    /** Sends an ERROR reply. Any thread. */
    void sendError(final int prog, final int vers, final int proc, final int serial, final RemoteError error) {
        enqueue(errorFrame(prog, vers, proc, serial, error), false);
    }

    /** An ERROR reply, fitted to the largest message; the caller owns it. Any thread. */
    PooledBuffer errorFrame(final int prog, final int vers, final int proc, final int serial, final RemoteError error) {
        final RemoteError e = fit(error);
        final PooledBuffer f = Frames.claim(pool, RemoteErrorCodec.encodedSize(e));
        RemoteErrorCodec.encode(e, f.byteBuffer());
        Frames.commit(f, prog, vers, proc, TYPE_REPLY, serial, STATUS_ERROR);
        return f;
    }

    /**
     * Reader thread: a call answered with an error before any handler saw it (unknown procedure, refused
     * stream): reported as a call that started and ended at once, then sent.
     */
    private void refuseCall(final dev.braid.Procedure p, final int serial, final int requestBytes,
                            final RemoteError error) {
        final long start = obs.callStart();
        obs.callStarted(p, serial);
        final PooledBuffer f = errorFrame(p.program(), p.version(), p.procedure(), serial, error);
        obs.callEnded(p, serial, dev.braid.BraidObserver.CallOutcome.ERROR, start, requestBytes, Frames.length(f));
        enqueue(f, false);
    }

    /**
     * Makes an error fit the largest message this side may send: first without its optional parts, then
     * with its message cut. HELLO and the configuration guarantee at least 256 payload bytes, which always
     * leaves room for the fixed fields and a shortened message.
     */
    private RemoteError fit(final RemoteError e) {
        final int budget = maxOutboundMessage - HEADER_LENGTH;
        if (RemoteErrorCodec.encodedSize(e) <= budget) {
            return e;
        }
        final RemoteError bare = new RemoteError(e.code(), e.domain(), null, e.level(), null, null, null, null,
                e.int1(), e.int2(), null);
        final int room = budget - RemoteErrorCodec.encodedSize(bare) - 12; // presence flag, length, padding
        final String m = e.message() == null ? "" : e.message();
        final String suffix = "... (truncated)";
        final int chars = Math.max(0, Math.min(m.length(), (room - suffix.length()) / 3)); // 3 bytes per char at most
        return new RemoteError(e.code(), e.domain(), m.substring(0, chars) + suffix, e.level(), null, null, null,
                null, e.int1(), e.int2(), null);
    }

    /** Both the handler and the stream are done: the slot is free; tell the client (if it asked). */
    @Override
    public void streamSlotFree(final StreamHandle s) {
        openStreams.decrementAndGet();
        if (streamRelease && s.accepted() && closedReason == null) {
            final PooledBuffer f = Frames.claim(pool, Extension.RELEASE_LENGTH);
            f.byteBuffer().putInt(s.serial());
            Frames.commit(f, Extension.PROGRAM, Extension.VERSION, Extension.PROC_RELEASE, TYPE_MESSAGE, 0, STATUS_OK);
            enqueue(f, false); // after the stream's own last packets, which left through the stream lane
        }
        checkDrained();
    }

    @Override
    void onReply(final PooledBuffer frame) {
        final String what = Frames.describe(frame.byteBuffer(), 0);
        frame.release();
        throw new ProtocolException("a client sent a REPLY to a server: " + what);
    }

    @Override
    Listener listener(final int prog, final int vers, final int proc) {
        return registry.listener(prog, vers, proc);
    }

    @Override
    void closed(final ConnectionClosedException reason) {
        if (admitted) {
            admitted = false;
            admission.release(this, remote, inHello);
            inHello = false;
        }
        // Handlers still running keep their args until they return; their replies are dropped by enqueue().
        final IncomingCallImpl call = parked;
        if (call != null) {
            parked = null;
            call.discard();
        }
        final PooledBuffer open = throttledOpen;
        if (open != null) {
            throttledOpen = null;
            open.release();
        }
        for (IncomingCallImpl c : unanswered) {
            unanswered.remove(c);
            c.abandon();
        }
    }

    @Override
    public void close() {
        closeAfterFlush();
        if (!dev.braid.spi.IoThreads.isIoThread()) { // on a loop (a non-blocking handler): never wait there
            awaitClosed(cfg.closeTimeout().toMillis());
        }
    }

    @Override
    public ConnectionStats stats() {
        return stats(0, inFlight.get(), 0, 0, callsServed.sum(), extensionsNegotiated, openStreams.get(), 0);
    }
}
