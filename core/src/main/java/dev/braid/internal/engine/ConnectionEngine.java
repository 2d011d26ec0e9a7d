package dev.braid.internal.engine;

import dev.braid.BraidConfig;
import dev.braid.BraidObserver;
import dev.braid.BraidException;
import dev.braid.ConnectionClosedException;
import dev.braid.ConnectionClosedException.Reason;
import dev.braid.ConnectionStats;
import dev.braid.EventListener;
import dev.braid.HandlerMode;
import dev.braid.LimitExceededException;
import dev.braid.Marshaller;
import dev.braid.PayloadWriter;
import dev.braid.Peer;
import dev.braid.Procedure;
import dev.braid.ProtocolException;
import dev.braid.buffer.BufferPool;
import dev.braid.internal.engine.io.Keepalive;
import dev.braid.internal.engine.io.Outbound;
import dev.braid.internal.engine.io.PeerDeadlines;
import dev.braid.internal.engine.io.ReadGate;
import dev.braid.internal.engine.stream.StreamHandle;
import dev.braid.internal.engine.stream.StreamScheduler;
import dev.braid.internal.engine.stream.StreamTable;
import dev.braid.buffer.PooledBuffer;
import dev.braid.internal.observe.Observation;
import dev.braid.internal.wire.Extension;
import dev.braid.internal.wire.FrameDecoder;
import dev.braid.internal.wire.Frames;
import dev.braid.spi.ConnectionHandler;
import dev.braid.spi.Transport;

import java.io.IOException;
import java.lang.System.Logger.Level;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import static dev.braid.internal.wire.FrameHeader.*;

/**
 * The part of a connection shared by both roles: it wires the connection's parts together and routes each
 * inbound frame to the part that owns it. {@link ClientConnection} adds calls; {@link ServerConnection}
 * adds dispatch to handlers.
 *
 * <h2>Parts</h2>
 * <ul>
 *   <li>{@link Outbound}: lanes, flush handshake, the writer's batch and the order frames leave in.</li>
 *   <li>{@link ReadGate}: every reason to stop reading, one protocol, one count.</li>
 *   <li>{@link Keepalive}: PING/PONG and the dead-peer check.</li>
 *   <li>Streams: the stream table ({@link #streams}), the scheduler ({@link StreamScheduler}), per-stream
 *       flow control ({@link StreamFlowControl}) and the shared send budget ({@link SendBudget}).</li>
 *   <li>Events: delivery to listeners, with their own read hold.</li>
 * </ul>
 *
 * <p>At about 550 lines this class is above the engine's usual 500: it implements three interfaces whose
 * surfaces live here on purpose ({@link ConnectionHandler} for the backend, {@link Peer} for handlers,
 * {@link FrameDecoder.FrameSink} for the decoder), each a few lines delegating to a part, plus the frame
 * builders every role uses.
 *
 * <h2>Threads</h2>
 * <ul>
 *   <li><b>Reader</b> (the backend's reader context): {@link #onOpen}, {@link #inboundBuffer()},
 *       {@link #onInbound(int)}, {@link #onInputClosed()}, and therefore {@link #onFrame} and everything it
 *       calls. Owns the {@link FrameDecoder} and the plain inbound counters.</li>
 *   <li><b>Writer</b> (the backend's writer context): {@link #gatherOutbound}, {@link #onOutboundWritten},
 *       delegated to {@link Outbound}.</li>
 *   <li><b>Any thread</b>: {@link #enqueue}, {@link #sendEvent}, {@link #abort}, {@link #close},
 *       {@link #stats()}.</li>
 *   <li><b>Timer thread</b>: the keepalive check, the idle-stream check.</li>
 * </ul>
 *
 * <h2>Closing</h2>
 * {@link #onClosed} runs once, after the backend's last reader and writer call. It records the reason
 * ({@code closedReason}, volatile) before anything else, then closes the parts: the outbound side releases
 * what is queued (and every frame offered later), streams and calls fail with the reason.
 */
public abstract class ConnectionEngine implements ConnectionHandler, FrameDecoder.FrameSink, Peer,
        StreamTable.Role {

    /** A connection's life: closing, late RELEASEs. */
    static final System.Logger CONNECTION_LOG = System.getLogger("dev.braid.connection");
    /** The wire: the full detail of a protocol error (the rate-limited line goes to dev.braid.peer). */
    static final System.Logger WIRE_LOG = System.getLogger("dev.braid.wire");
    /** The first bytes checked for a TLS record on a plaintext connection. */
    private static final int TLS_SNIFF_BYTES = 3;
    final BraidRuntime rt;
    final BraidConfig cfg;
    final BufferPool pool;
    private final FrameDecoder decoder;
    final ReadGate gate = new ReadGate();
    /** Where this connection reports to the observer and the flight recorder (see Observation). */
    final Observation obs;
    final Outbound outbound;
    private final Keepalive keepalive;
    /** Deadlines on the peer's progress (set on open, read on close: reader, then onClosed after it). */
    private PeerDeadlines deadlines;
    private final Object closeLock = new Object();
    volatile Transport transport;
    /** A transport that may be closed before the connection opens (TLS: during the handshake), or null. */
    private volatile Transport preOpenTransport;

    // close state
    volatile ConnectionClosedException closedReason;
    private final CompletableFuture<ConnectionClosedException> closeFuture = new CompletableFuture<>();


    /** Open streams, their scheduling and flow control. */
    final StreamTable streams;
    /** Negotiated: per-stream windows and CREDIT messages. */
    volatile boolean flowControl;
    /** Negotiated: the server announces freed stream slots with RELEASE. */
    volatile boolean streamRelease;
    /** Negotiated: graceful drain with DRAIN messages both ways. */
    volatile boolean drainFeature;
    /** Negotiated: PING/PONG and WINDOW (auto-tuned stream windows). */
    volatile boolean windowTuning;
    /** Window the peer grants each of our streams (its advertised initial window). */
    volatile long peerStreamWindow;

    /** Largest message this side may send (negotiated). Written before the connection is published. */
    volatile int maxOutboundMessage;
    private final EventDelivery events;

    // counters: single writer each (reader or writer thread), read racily by stats()
    volatile long bytesRead;
    volatile long eventsDropped;
    volatile long framesDropped;
    final java.util.concurrent.atomic.LongAdder eventsSent = new java.util.concurrent.atomic.LongAdder();

    ConnectionEngine(final BraidRuntime rt, final BraidObserver.Side side) {
        this.rt = rt;
        this.cfg = rt.config;
        this.obs = new Observation(cfg.observer(), this, side, cfg.slowCallThreshold());
        gate.observe(obs);
        this.pool = rt.pool;
        this.maxOutboundMessage = cfg.maxMessageSize();
        this.decoder = new FrameDecoder(pool, cfg.maxMessageSize(), cfg.readBufferSize());
        final StreamScheduler scheduler = new StreamScheduler();
        this.outbound = new Outbound(scheduler, gate, cfg.maxQueuedControlReplies());
        this.streams = new StreamTable(cfg, pool, outbound, scheduler, gate, this, rt.handlers, rt.callbacks, obs);
        this.keepalive = new Keepalive(cfg.keepaliveInterval(), cfg.keepaliveCount(), pool, outbound, gate);
        this.events = new EventDelivery(rt, gate, this);
        rt.register(this);
    }

    // ------------------------------------------------------------------ reader side

    /**
     * Reader, before {@link #onOpen}: the transport this connection will open on, known early so that
     * {@link #abort()} (a cancelled connect, braid closing) can close it while TLS is still handshaking.
     *
     * @param t the transport
     */
    public final void preOpen(final Transport t) {
        preOpenTransport = t;
    }

    /** {@return the transport given to {@link #preOpen}, or null} Any thread. */
    final Transport preOpenTransport() {
        return preOpenTransport;
    }

    /**
     * Reader, as the socket is accepted, before a TLS handshake (after {@link #preOpen}): a server counts the
     * connection against its connection bounds now, so handshakes in progress are bounded like connections in
     * HELLO. Closes {@code t} naming the limit and returns false if a bound refuses it.
     *
     * @param t the transport the connection will open on
     * @return whether the connection may go on
     */
    public boolean admitBeforeOpen(final Transport t) {
        return true;
    }

    @Override
    public void onOpen(final Transport transport) {
        final ConnectionClosedException already = closedReason;
        if (already != null) { // closed by Braid.close while still connecting: its parts are released
            transport.close(already);
            return;
        }
        this.transport = transport;
        gate.attach(transport);
        outbound.attach(transport);
        if (keepaliveFromOpen()) {
            keepalive.start(transport, rt.timer);
        }
        deadlines = new PeerDeadlines(cfg.frameTimeout(), cfg.minFrameRate(), firstFrameTimeout(), decoder, gate);
        deadlines.start(transport, rt.timer);
        streams.start(transport, rt.timer);
        obs.connectionOpened();
        opened();
    }

    /** HELLO is done (or skipped): what this side may send from now on. Once, before the limits are used. */
    final void negotiated(final dev.braid.NegotiatedLimits l) {
        maxOutboundMessage = l.maxMessageSize();
        flowControl = (l.features() & Extension.FEATURE_FLOW_CONTROL) != 0;
        streamRelease = (l.features() & Extension.FEATURE_STREAM_RELEASE) != 0;
        drainFeature = (l.features() & Extension.FEATURE_DRAIN) != 0;
        peerStreamWindow = l.initialStreamWindow();
        windowTuning = flowControl && (l.features() & Extension.FEATURE_WINDOW_TUNING) != 0;
        streams.windowTuning(windowTuning);
    }

    /**
     * Whether keepalive starts when the connection opens (a server: a libvirt client may never send HELLO),
     * or only once the handshake is done ({@link #startKeepalive()}: a client, whose HELLO has its own
     * deadline and must leave before any PING).
     */
    boolean keepaliveFromOpen() {
        return true;
    }

    /** Once, when this side's handshake is done (see {@link #keepaliveFromOpen()}). */
    final void startKeepalive() {
        keepalive.start(transport, rt.timer);
    }

    /** How long the peer has to send its first frame after connecting (servers); zero: no deadline. */
    java.time.Duration firstFrameTimeout() {
        return java.time.Duration.ZERO;
    }

    /** Role-specific work once the transport is attached (reader context). */
    abstract void opened();

    @Override
    public ByteBuffer inboundBuffer() {
        return decoder.inboundBuffer();
    }

    @Override
    public void onInbound(final int bytes) {
        final long now = System.nanoTime();
        if (bytes > 0) {
            if (bytesRead < TLS_SNIFF_BYTES && cfg.tls() == null && decoder.startsWithTlsRecord()) {
                protocolError(new ProtocolException("the peer speaks TLS (a TLS record arrived where a braid frame "
                        + "was expected): configure TLS on this side too (BraidConfig.tls)"));
                return;
            }
            keepalive.received(now);
            bytesRead = bytesRead + bytes;
        }
        obs.readStarted(now); // one clock read per pass, shared by the keepalive and the observer
        try {
            if (beforeDecode()) {
                decoder.decode(this);
            }
        } catch (ProtocolException e) {
            protocolError(e);
        } finally {
            obs.readEnded();
        }
    }

    /** Reader-owned: a whole frame has arrived on this connection. */
    private boolean firstFrameSeen;

    /** Reader context, once: the connection's first whole frame arrived (a server stops counting it in HELLO). */
    void firstFrame() {
    }

    /** Reader context, before each decode: false keeps decoding paused. */
    boolean beforeDecode() {
        return true;
    }

    /** Reader context: the peer broke the protocol. Closes the connection with that reason. */
    final void protocolError(final ProtocolException e) {
        // logged (dev.braid.peer, rate-limited) when the close it causes lands, in logClose
        WIRE_LOG.log(Level.DEBUG, () -> this + ": protocol error", e);
        obs.protocolError(e);
        final Transport t = transport;
        final ConnectionClosedException reason = new ConnectionClosedException(Reason.PROTOCOL_ERROR, e.getMessage(), e);
        if (t != null) {
            t.close(reason);
        }
    }

    @Override
    public void onInputClosed() {
        final Transport t = transport;
        if (t == null) {
            return;
        }
        if (decoder.hasPartialFrame()) {
            t.close(new ConnectionClosedException(Reason.PEER_CLOSED, "in the middle of a frame ("
                    + decoder.partialBytes() + " bytes of it received)", null));
        } else {
            t.close(new ConnectionClosedException(Reason.PEER_CLOSED, String.valueOf(t.remoteAddress()), null));
        }
    }

    /** Reader context: one whole, header-validated frame. Ownership of {@code frame} passes here. */
    @Override
    public final boolean onFrame(final PooledBuffer frame) {
        if (!firstFrameSeen) {
            firstFrameSeen = true;
            firstFrame();
        }
        deadlines.frameSeen();
        final int type = Frames.type(frame);
        final boolean more = switch (type) {
            case TYPE_CALL -> onCall(frame);
            case TYPE_REPLY -> {
                onReply(frame);
                yield true;
            }
            case TYPE_MESSAGE -> onMessage(frame);
            default -> streams.onPacket(frame); // STREAM, STREAM_HOLE
        };
        return more && !pauseForUnreadAnswers();
    }

    /**
     * Reader context, after each frame: a server stops reading a peer that does not read its answers (see
     * {@link Outbound#pauseIfPeerNotReading()}).
     */
    private boolean pauseForUnreadAnswers() {
        return pausesForUnreadAnswers() && outbound.pauseIfPeerNotReading();
    }

    /** Reader context: a MESSAGE on braid's extension program. */
    private void onExtensionMessage(final PooledBuffer frame) {
        final int proc = Frames.proc(frame);
        final ByteBuffer p = Frames.lentPayload(frame); // a reusable view: no allocation per CREDIT
        try {
            if (proc == Extension.PROC_CREDIT && flowControl) {
                streams.onCredit(p);
            } else if (proc == Extension.PROC_PING && windowTuning) {
                streams.onPing(p);
            } else if (proc == Extension.PROC_PONG && windowTuning) {
                streams.onPong(p);
            } else if (proc == Extension.PROC_WINDOW && windowTuning) {
                streams.onWindow(p);
            } else if (proc == Extension.PROC_RELEASE && streamRelease) {
                if (p.remaining() != Extension.RELEASE_LENGTH) {
                    throw new ProtocolException("malformed RELEASE: " + p.remaining() + " bytes, expected "
                            + Extension.RELEASE_LENGTH);
                }
                onStreamReleased(p.getInt(0));
            } else if (proc == Extension.PROC_DRAIN && drainFeature) {
                if (p.remaining() != Extension.DRAIN_LENGTH) {
                    throw new ProtocolException("malformed DRAIN: " + p.remaining() + " bytes, expected "
                            + Extension.DRAIN_LENGTH);
                }
                onPeerDrain(p.getInt(Extension.DRAIN_LAST_SERIAL_OFFSET));
            } else {
                framesDropped++;
            }
        } finally {
            frame.release();
        }
    }

    /** Reader context: the peer sent DRAIN (negotiated): it starts no new calls or streams here. */
    void onPeerDrain(final int lastSerial) {
        framesDropped++;
    }

    /** Sends DRAIN with {@code lastSerial}. Any thread; only when the feature was negotiated. */
    final void sendDrain(final int lastSerial) {
        final PooledBuffer f = Frames.claim(pool, Extension.DRAIN_LENGTH);
        f.byteBuffer().putInt(lastSerial);
        Frames.commit(f, Extension.PROGRAM, Extension.VERSION, Extension.PROC_DRAIN, TYPE_MESSAGE, 0, STATUS_OK);
        enqueue(f, true); // control lane: ahead of bulk data, so the peer stops starting work soon
    }

    /** Client: the server freed the slot of stream {@code serial}. */
    void onStreamReleased(final int serial) {
        framesDropped++;
    }

    /** Role hook after a stream is done on this side. Any thread, once per stream. */
    @Override
    public void streamEnded(final StreamHandle s) {
    }

    /** Both sides are done with the stream: its slot is free. Any thread, once per stream. */
    @Override
    public abstract void streamSlotFree(StreamHandle s);

    /** A CALL arrived. Returns false to pause decoding. */
    abstract boolean onCall(PooledBuffer frame);

    /** A REPLY arrived. */
    abstract void onReply(PooledBuffer frame);

    /** Returns false to pause decoding (slow listeners). */
    private boolean onMessage(final PooledBuffer frame) {
        final int prog = Frames.prog(frame);
        if (prog == Extension.PROGRAM && Frames.vers(frame) == Extension.VERSION && cfg.extensions()) {
            onExtensionMessage(frame);
            return true;
        }
        if (prog == Extension.KEEPALIVE_PROGRAM) {
            if (!keepalive.onMessage(frame)) {
                framesDropped++;
            }
            return true;
        }
        final Listener l = listener(prog, Frames.vers(frame), Frames.proc(frame));
        if (l == null) {
            frame.release();
            eventsDropped++;
            return true;
        }
        return events.deliver(l, frame);
    }

    /** A registered listener. */
    record Listener(Procedure procedure, EventListener listener, HandlerMode mode) {
    }

    /** The listener for events on (prog, vers, proc), or null. Reader context. */
    abstract Listener listener(int prog, int vers, int proc);

    // ------------------------------------------------------------------ outbound, any thread

    /**
     * Hands {@code frame} (ready to write) to the writer. Any thread. Ownership passes to the connection in
     * every case: if the connection is closed the frame is released here.
     *
     * @return false if the connection was already closed
     */
    final boolean enqueue(final PooledBuffer frame, final boolean control) {
        return enqueue(frame, control, false);
    }

    /**
     * {@link #enqueue(PooledBuffer, boolean)}; {@code urgent}: the frame is latency-sensitive and the
     * connection otherwise quiet, so the backend may write it on this thread (see
     * {@link Transport#requestUrgentFlush()}).
     */
    final boolean enqueue(final PooledBuffer frame, final boolean control, final boolean urgent) {
        return outbound.enqueue(frame, control, urgent);
    }

    /**
     * Whether this side stops reading when its own outbound frames pile up. Only a server does: what piles
     * up there are answers to the peer's requests, so not reading more requests bounds them. A client must
     * keep reading (its replies are what drains the server), or two busy peers could stop each other.
     */
    boolean pausesForUnreadAnswers() {
        return false;
    }

    final void scheduleFlush() {
        outbound.scheduleFlush();
    }

    /**
     * Checks an outbound payload against the negotiated maximum message size before anything is allocated.
     *
     * @throws LimitExceededException naming the limit
     */
    final void checkOutboundSize(final int payloadLength, final String kind, final Procedure p) {
        if (payloadLength < 0 || (long) HEADER_LENGTH + payloadLength > maxOutboundMessage) {
            checkOutboundSize(payloadLength, kind + " " + p); // builds the message only when it fails
        }
    }

    final void checkOutboundSize(final int payloadLength, final String what) {
        final long frameLength = (long) HEADER_LENGTH + payloadLength;
        if (payloadLength < 0 || frameLength > maxOutboundMessage) {
            throw obs.refused(new LimitExceededException("maxMessageSize", maxOutboundMessage, what + " of "
                    + frameLength + " bytes (payload " + payloadLength + ") is larger than the largest message"));
        }
    }

    /** Builds a frame from a payload copy; the caller owns the result. */
    final PooledBuffer frameOf(final int prog, final int vers, final int proc, final int type, final int serial,
                               final int status, final ByteBuffer payload) {
        final PooledBuffer f = Frames.claim(pool, payload.remaining());
        final int n = payload.remaining();
        final ByteBuffer b = f.byteBuffer();
        b.put(PAYLOAD_OFFSET, payload, payload.position(), n); // absolute: no duplicate per frame
        b.position(PAYLOAD_OFFSET + n);
        Frames.commit(f, prog, vers, proc, type, serial, status);
        return f;
    }

    /** Builds a frame whose payload {@code writer} writes; the caller owns the result. */
    final PooledBuffer frameOf(final int prog, final int vers, final int proc, final int type, final int serial,
                               final int status, final int length, final PayloadWriter writer) {
        final PooledBuffer f = Frames.claim(pool, length);
        final ByteBuffer b = f.byteBuffer();
        final int end = PAYLOAD_OFFSET + length;
        try {
            final ByteBuffer dst = b.slice(PAYLOAD_OFFSET, length);
            writer.write(dst);
            if (dst.hasRemaining()) { // never send stale pool memory
                throw new IllegalStateException("PayloadWriter wrote " + dst.position() + " of the " + length
                        + " bytes it declared");
            }
        } catch (Throwable t) {
            f.release();
            throw t;
        }
        b.position(end);
        Frames.commit(f, prog, vers, proc, type, serial, status);
        return f;
    }

    /**
     * Builds a frame whose payload is {@code value} encoded by {@code m} (typed calls, replies, events): its
     * {@link Marshaller#encode whole encoding} copied in, or {@link Marshaller#size} bytes written by
     * {@link Marshaller#write} straight into the pooled frame, whose limit bounds the marshaller to what it
     * declared. Checks the size against the largest outbound message first. No allocation of its own. The
     * caller owns the result.
     *
     * @param kind what the frame is, for the size error ("call", "reply to", "event")
     */
    final <T> PooledBuffer frameOf(final int type, final int serial, final int status, final Procedure p,
                                   final Marshaller<T> m, final T value, final String kind) {
        final ByteBuffer whole = m.encode(value);
        if (whole != null) {
            checkOutboundSize(whole.remaining(), kind, p);
            return frameOf(p.program(), p.version(), p.procedure(), type, serial, status, whole);
        }
        final int length = m.size(value);
        checkOutboundSize(length, kind, p);
        final PooledBuffer f = Frames.claim(pool, length);
        final ByteBuffer b = f.byteBuffer();
        final int end = PAYLOAD_OFFSET + length;
        try {
            b.limit(end);
            m.write(value, b);
            if (b.position() != end) { // never send stale pool memory
                throw new IllegalStateException("the marshaller of " + p + " wrote " + (b.position() - PAYLOAD_OFFSET)
                        + " bytes; its size() said " + length);
            }
        } catch (Throwable t) {
            f.release();
            throw t;
        }
        Frames.commit(f, p.program(), p.version(), p.procedure(), type, serial, status);
        return f;
    }

    /** Events are refused, not queued without bound, when the peer does not read. */
    private void checkEventQueue(final Procedure p) {
        final long queued = outbound.queuedBytes();
        if (queued > cfg.maxQueuedEventBytes()) {
            throw obs.refused(new LimitExceededException("maxQueuedEventBytes", cfg.maxQueuedEventBytes(), "event "
                    + p + " refused: " + queued + " bytes already wait to be sent (the peer is not reading)"));
        }
    }

    @Override
    public void sendEvent(final Procedure p, final ByteBuffer payload) {
        checkOpen();
        checkOutboundSize(payload.remaining(), "event", p);
        checkEventQueue(p);
        sent(enqueue(frameOf(p.program(), p.version(), p.procedure(), TYPE_MESSAGE, 0, STATUS_OK, payload), false));
    }

    @Override
    public <T> void sendEvent(final Procedure p, final Marshaller<T> m, final T value) {
        checkOpen();
        checkEventQueue(p);
        sent(enqueue(frameOf(TYPE_MESSAGE, 0, STATUS_OK, p, m, value, "event"), false));
    }

    @Override
    public void sendEvent(final Procedure p, final int length, final PayloadWriter writer) {
        checkOpen();
        checkOutboundSize(length, "event", p);
        checkEventQueue(p);
        sent(enqueue(frameOf(p.program(), p.version(), p.procedure(), TYPE_MESSAGE, 0, STATUS_OK, length, writer),
                false));
    }

    private void sent(final boolean enqueued) {
        if (!enqueued) {
            throw closedException();
        }
        eventsSent.increment();
    }

    final void checkOpen() {
        if (closedReason != null || closing()) {
            throw closedException();
        }
    }

    /** Whether a graceful close has begun (no new work accepted). */
    boolean closing() {
        return false;
    }

    final ConnectionClosedException closedException() {
        final ConnectionClosedException r = closedReason;
        return r != null ? r : new ConnectionClosedException(Reason.LOCAL_CLOSE, "connection is closing", null);
    }

    // ------------------------------------------------------------------ writer side

    @Override
    public int gatherOutbound(final ByteBuffer[] dst) {
        return outbound.gather(dst);
    }

    @Override
    public void onOutboundWritten(final long bytes) {
        outbound.written(bytes);
    }

    /** Asks the writer to close the socket once everything queued so far is written. Any thread. */
    final void closeAfterFlush() {
        outbound.closeAfterFlush(new ConnectionClosedException(Reason.LOCAL_CLOSE, "closed gracefully", null));
    }

    // ------------------------------------------------------------------ closing

    @Override
    public void onClosed(final Throwable reason) {
        final ConnectionClosedException cce = toClosedException(reason);
        synchronized (closeLock) {
            if (closedReason != null) {
                return;
            }
            closedReason = cce;
        }
        logClose(cce);
        keepalive.stop();
        if (deadlines != null) {
            deadlines.stop();
        }
        decoder.close();
        outbound.close();
        streams.failAll(cce);
        try {
            closed(cce);
        } finally {
            rt.unregister(this);
            obs.connectionClosed(cce);
            closeFuture.complete(cce);
        }
    }

    /**
     * Once, from {@link #onClosed}: a close an operator must see is logged at WARNING, rate-limited, naming the
     * connection (and so the peer's address) and the reason (issue 11 §1.7). A protocol violation or a peer
     * that stopped responding (keepalive, HELLO, a frame or a first frame not completed in time) goes to
     * {@code dev.braid.peer}; an internal error (an exception in the engine or in a callback run on the I/O
     * thread) goes to {@code dev.braid.connection} with its stack trace, once. Limit refusals and evictions are logged where
     * they are decided ({@link ServerConnection}); closes this side asked for, and orderly or reset ends, are not.
     */
    private void logClose(final ConnectionClosedException cce) {
        switch (cce.reason()) {
            case PROTOCOL_ERROR, PEER_NOT_RESPONDING -> rt.peerErrors.log(this, "closed: " + cce.getMessage());
            case INTERNAL_ERROR -> rt.internalErrors.log(this, "closed: " + cce.getMessage(),
                    cce.getCause() != null ? cce.getCause() : cce);
            default -> {
            }
        }
    }

    /** Role-specific cleanup: fail pending calls. Runs once, in {@link #onClosed}. */
    abstract void closed(ConnectionClosedException reason);

    static ConnectionClosedException toClosedException(final Throwable reason) {
        if (reason instanceof ConnectionClosedException cce) {
            return cce;
        }
        if (reason instanceof ProtocolException pe) {
            return new ConnectionClosedException(Reason.PROTOCOL_ERROR, pe.getMessage(), pe);
        }
        if (reason instanceof IOException io) {
            return new ConnectionClosedException(Reason.RESET, io.getMessage(), io);
        }
        if (reason instanceof BraidException be) {
            return new ConnectionClosedException(Reason.LOCAL_CLOSE, be.getMessage(), be);
        }
        if (reason instanceof RuntimeException || reason instanceof Error) {
            return new ConnectionClosedException(Reason.INTERNAL_ERROR, String.valueOf(reason), reason);
        }
        return new ConnectionClosedException(Reason.RESET, reason == null ? null : String.valueOf(reason), reason);
    }

    @Override
    public void abort() {
        final Transport t = transport != null ? transport : preOpenTransport;
        if (t != null) {
            t.close(new ConnectionClosedException(Reason.LOCAL_CLOSE, "aborted", null));
        }
    }

    /** Waits up to the close timeout for {@link #onClosed}. */
    public final void awaitClosed() {
        awaitClosed(cfg.closeTimeout().toMillis());
    }

    /**
     * Waits for {@link #onClosed} until {@code deadlineNanos} ({@code System.nanoTime()}), without logging: for a
     * caller that waits on many connections against one deadline. Any thread that may block.
     *
     * @return whether the connection is closed
     */
    public final boolean awaitClosedUntil(final long deadlineNanos) {
        try {
            closeFuture.get(Math.max(0, deadlineNanos - System.nanoTime()), TimeUnit.NANOSECONDS);
            return true;
        } catch (TimeoutException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return closeFuture.isDone();
        } catch (java.util.concurrent.ExecutionException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Waits up to {@code millis} for {@link #onClosed}. */
    final void awaitClosed(final long millis) {
        try {
            closeFuture.get(millis, TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            CONNECTION_LOG.log(Level.WARNING, this + " did not close within " + millis + " ms");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (java.util.concurrent.ExecutionException e) {
            throw new IllegalStateException(e);
        }
    }

    // ------------------------------------------------------------------ Peer

    @Override
    public boolean isOpen() {
        return closedReason == null;
    }

    @Override
    public CompletableFuture<ConnectionClosedException> closeFuture() {
        return closeFuture;
    }

    @Override
    public java.util.Optional<dev.braid.TlsIdentity> tls() {
        return transport instanceof dev.braid.internal.tls.TlsConnection.TlsTransport t
                ? java.util.Optional.ofNullable(t.identity()) : java.util.Optional.empty();
    }

    @Override
    public SocketAddress remoteAddress() {
        final Transport t = transport != null ? transport : preOpenTransport;
        return t == null ? null : t.remoteAddress();
    }

    @Override
    public SocketAddress localAddress() {
        final Transport t = transport != null ? transport : preOpenTransport;
        return t == null ? null : t.localAddress();
    }

    @Override
    public String backendName() {
        return rt.backend.name();
    }

    /** Role-specific counters: the role calls {@link #stats(long, long, long, long, long, boolean, long, long)}. */
    @Override
    public abstract ConnectionStats stats();

    @Override
    public java.util.List<dev.braid.StreamStats> streams() {
        return streams.snapshot();
    }

    /** The role's counters completed with the ones every connection keeps. Any thread. */
    final ConnectionStats stats(final long callsStarted, final long callsInFlight, final long callsQueued,
                                final long lateReplies, final long callsServed, final boolean extensions,
                                final long streamsOpen, final long streamsWaiting) {
        final StreamTable.Totals t = streams.totals();
        return new ConnectionStats(callsStarted, callsInFlight, callsQueued, lateReplies, callsServed,
                eventsSent.sum(), events.received(), eventsDropped, framesDropped + streams.dropped(), bytesRead,
                outbound.bytesWritten(), gate.pauses(ReadGate.Reason.CALL_LIMIT), extensions, streamsOpen,
                streamsWaiting, gate.pauses(ReadGate.Reason.STREAM_QUEUE_FULL),
                gate.pauses(ReadGate.Reason.UNREAD_ANSWERS), gate.pauses(ReadGate.Reason.SLOW_EVENT_LISTENERS),
                outbound.queuedBytes(), events.pendingBytes(), t.opened(), t.aborted(), t.bytesSent(),
                t.bytesReceived(), t.queued(), t.sendQueued(), t.receiveWindow(), t.sendCredit());
    }

    @Override
    public String toString() {
        return getClass().getSimpleName() + "[" + remoteAddress() + "]";
    }
}
