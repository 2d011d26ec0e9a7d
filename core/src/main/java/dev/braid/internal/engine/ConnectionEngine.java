package dev.braid.internal.engine;

import dev.braid.BraidConfig;
import dev.braid.BraidException;
import dev.braid.ConnectionClosedException;
import dev.braid.ConnectionClosedException.Reason;
import dev.braid.ConnectionStats;
import dev.braid.Event;
import dev.braid.EventListener;
import dev.braid.HandlerMode;
import dev.braid.LimitExceededException;
import dev.braid.PayloadWriter;
import dev.braid.Peer;
import dev.braid.Procedure;
import dev.braid.ProtocolException;
import dev.braid.buffer.BufferPool;
import dev.braid.internal.concurrent.MpscBufferQueue;
import dev.braid.buffer.PooledBuffer;
import dev.braid.internal.wire.Extension;
import dev.braid.internal.wire.FrameDecoder;
import dev.braid.internal.wire.Frames;
import dev.braid.spi.ConnectionHandler;
import dev.braid.spi.Transport;

import java.io.IOException;
import java.lang.System.Logger.Level;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import static dev.braid.internal.wire.FrameHeader.*;

/**
 * The part of a connection shared by both roles: decoding, the outbound lanes, keepalive, events, and
 * closing. {@link ClientConnection} adds calls; {@link ServerConnection} adds dispatch to handlers.
 *
 * <h2>Threads</h2>
 * <ul>
 *   <li><b>Reader</b> (the backend's reader context): {@link #onOpen}, {@link #inboundBuffer()},
 *       {@link #onInbound(int)}, {@link #onInputClosed()}, and therefore {@link #onFrame} and everything it
 *       calls. Owns the {@link FrameDecoder} and the plain inbound counters.</li>
 *   <li><b>Writer</b> (the backend's writer context, the same thread as the reader on nio):
 *       {@link #gatherOutbound}, {@link #onOutboundWritten}. Owns {@link #batch} and is the only consumer of
 *       the lanes.</li>
 *   <li><b>Any thread</b>: {@link #enqueue} (producers of the lanes), {@link #sendEvent}, {@link #abort},
 *       {@link #close}, {@link #stats()}.</li>
 *   <li><b>Timer thread</b>: the keepalive check.</li>
 * </ul>
 *
 * <h2>Outbound lanes</h2>
 * Frames leave in lanes: {@link #controlLane} (keepalive, and later credits and aborts) before
 * {@link #mainLane} (calls, replies, events). Each lane is an intrusive MPSC queue: producers offer with a
 * CAS (release), the writer takes with an acquiring swap, so a frame's bytes written by the producer are
 * visible to the writer. A producer then calls {@link #scheduleFlush()}, which asks the backend to write
 * only when {@code flushScheduled} goes from false to true; the writer clears the flag before it polls the
 * lanes, so a frame offered after the writer looked always triggers another flush.
 *
 * <h2>Closing</h2>
 * {@link #onClosed} runs once, after the backend's last reader and writer call. It records the reason
 * ({@code closedReason}, volatile) before anything else; producers check it after offering and, if set,
 * drain the lanes themselves under {@link #closeLock} (the writer no longer consumes, so the lock makes the
 * drain single-consumer). Every frame therefore ends released exactly once.
 */
public abstract class ConnectionEngine implements ConnectionHandler, FrameDecoder.FrameSink, Peer {
    private static final VarHandle FLUSH_SCHEDULED;
    private static final int MAX_BATCH = 64;
    private static final int MAX_BATCH_BYTES = 1 << 20;

    static {
        try {
            FLUSH_SCHEDULED = MethodHandles.lookup().findVarHandle(ConnectionEngine.class, "flushScheduled",
                    boolean.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    final BraidRuntime rt;
    final BraidConfig cfg;
    final BufferPool pool;
    private final FrameDecoder decoder;
    final MpscBufferQueue controlLane = new MpscBufferQueue();
    final MpscBufferQueue mainLane = new MpscBufferQueue();
    private final Object closeLock = new Object();
    volatile Transport transport;
    @SuppressWarnings("unused") // accessed through FLUSH_SCHEDULED
    private volatile boolean flushScheduled;

    // writer-owned
    private final PooledBuffer[] batch = new PooledBuffer[MAX_BATCH];
    private int batchCount;
    /** Set by any thread, read by the writer: close once the lanes are empty. */
    private volatile boolean closeWhenFlushed;

    // close state
    volatile ConnectionClosedException closedReason;
    private final CompletableFuture<ConnectionClosedException> closeFuture = new CompletableFuture<>();

    // keepalive
    private volatile long lastReceivedNanos = System.nanoTime();
    private final java.util.concurrent.atomic.AtomicInteger unansweredPings = new java.util.concurrent.atomic.AtomicInteger();
    private ScheduledFuture<?> keepaliveTask;

    /** Open streams by the serial of their opening call (one stream per call, as in libvirt). */
    final java.util.concurrent.ConcurrentHashMap<Integer, StreamImpl> streams = new java.util.concurrent.ConcurrentHashMap<>();
    /** The stream send budget shared by this side's sending streams. */
    final SendBudget sendBudget;
    /** Writer-owned stream lane. */
    final StreamScheduler scheduler = new StreamScheduler();
    /** Negotiated: per-stream windows and CREDIT messages. */
    volatile boolean flowControl;
    /** Negotiated: the server announces freed stream slots with RELEASE. */
    volatile boolean streamRelease;
    /** Window the peer grants each of our streams (its advertised initial window). */
    volatile long peerStreamWindow;
    private ScheduledFuture<?> streamIdleTask;

    /** Largest message this side may send (negotiated). Written before the connection is published. */
    volatile int maxOutboundMessage;
    private final SerialExecutor eventExecutor;

    // counters: single writer each (reader or writer thread), read racily by stats()
    volatile long bytesRead;
    volatile long bytesWritten;
    volatile long eventsReceived;
    volatile long eventsDropped;
    volatile long framesDropped;
    final java.util.concurrent.atomic.LongAdder eventsSent = new java.util.concurrent.atomic.LongAdder();

    ConnectionEngine(final BraidRuntime rt) {
        this.rt = rt;
        this.cfg = rt.config;
        this.pool = rt.pool;
        this.maxOutboundMessage = cfg.maxMessageSize();
        this.sendBudget = new SendBudget(cfg.streamSendBudget());
        this.decoder = new FrameDecoder(pool, cfg.maxMessageSize(), cfg.readBufferSize());
        this.eventExecutor = new SerialExecutor(rt.handlers, (t, e) -> BraidRuntime.LOG.log(Level.WARNING,
                "event listener failed on " + this, e));
        rt.register(this);
    }

    // ------------------------------------------------------------------ reader side

    @Override
    public void onOpen(final Transport transport) {
        this.transport = transport;
        final long interval = cfg.keepaliveInterval().toNanos();
        if (interval > 0) {
            keepaliveTask = rt.timer.scheduleWithFixedDelay(this::keepaliveTick, interval, interval,
                    TimeUnit.NANOSECONDS);
        }
        final long idle = cfg.streamReadIdleTimeout().toNanos();
        if (idle > 0) {
            final long period = Math.max(idle / 4, TimeUnit.MILLISECONDS.toNanos(10));
            streamIdleTask = rt.timer.scheduleWithFixedDelay(this::abortIdleStreams, period, period, TimeUnit.NANOSECONDS);
        }
        opened();
    }

    /** Timer thread: aborts streams whose received data nobody read for streamReadIdleTimeout. */
    private void abortIdleStreams() {
        final long idle = cfg.streamReadIdleTimeout().toNanos();
        final long now = System.nanoTime();
        for (StreamImpl s : streams.values()) {
            final long waiting = s.flow.queued();
            if (waiting > 0 && now - s.lastReadNanos > idle) {
                s.abort("nobody read the stream for " + cfg.streamReadIdleTimeout().toMillis()
                        + " ms (streamReadIdleTimeout) with " + waiting + " bytes waiting");
            }
        }
    }

    /** Role-specific work once the transport is attached (reader context). */
    abstract void opened();

    @Override
    public ByteBuffer inboundBuffer() {
        return decoder.inboundBuffer();
    }

    @Override
    public void onInbound(final int bytes) {
        if (bytes > 0) {
            lastReceivedNanos = System.nanoTime();
            unansweredPings.set(0);
            bytesRead = bytesRead + bytes;
        }
        try {
            if (beforeDecode()) {
                decoder.decode(this);
            }
        } catch (ProtocolException e) {
            protocolError(e);
        }
    }

    /** Reader context, before each decode: false keeps decoding paused. */
    boolean beforeDecode() {
        return true;
    }

    /** Reader context: the peer broke the protocol. Closes the connection with that reason. */
    final void protocolError(final ProtocolException e) {
        BraidRuntime.LOG.log(Level.DEBUG, "protocol error on " + this + ": " + e.getMessage());
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
        final int type = Frames.type(frame);
        final boolean more = switch (type) {
            case TYPE_CALL -> onCall(frame);
            case TYPE_REPLY -> {
                onReply(frame);
                yield true;
            }
            case TYPE_MESSAGE -> onMessage(frame);
            default -> onStreamPacket(frame); // STREAM, STREAM_HOLE
        };
        return more && !pauseForUnreadAnswers();
    }

    /**
     * Reader context, after each frame: when answers to this peer pile up beyond the high-water mark (it does
     * not read them), stop reading its requests. Only the reader starts this pause, as every other pause, so
     * the suspension is in place before decoding stops; the writer ends it below the low-water mark, and the
     * re-check here catches a drain that happened before the flag was seen.
     */
    private boolean pauseForUnreadAnswers() {
        if (laneBytes.get() <= LANE_HIGH_WATER || !pausesForUnreadAnswers()
                || !outboundPaused.compareAndSet(false, true)) {
            return outboundPaused.get();
        }
        outboundSuspensions++;
        transport.setReadSuspended(true);
        if (laneBytes.get() < LANE_LOW_WATER && outboundPaused.compareAndSet(true, false)) {
            transport.setReadSuspended(false);
            return false;
        }
        return true;
    }

    /**
     * Reader context: a packet for a stream. Packets for no open stream (a stream that just finished or
     * was aborted here, with packets still in flight) are dropped and counted, as libvirt does.
     */
    private boolean onStreamPacket(final PooledBuffer frame) {
        final StreamImpl s = streamFor(Frames.serial(frame));
        if (s == null || Frames.prog(frame) != s.procedure.program() || Frames.vers(frame) != s.procedure.version()
                || Frames.proc(frame) != s.procedure.procedure()) {
            frame.release();
            framesDropped++;
            return true;
        }
        s.onPacket(frame);
        if (s.shouldPauseReads() && s.pausedReads.compareAndSet(false, true)) {
            // libvirt-compatible mode: a full receive queue stops the socket's reads, as libvirt does.
            transport.setReadSuspended(true);
            streamReadSuspensions++;
            if (!s.shouldPauseReads() && s.pausedReads.compareAndSet(true, false)) {
                transport.setReadSuspended(false);
            }
            return false; // stop decoding; the resume re-enters onInbound(0)
        }
        return true;
    }

    /** A stream's reader drained its queue below half the window: undo its read suspension. Any thread. */
    final void resumeReadsForStream() {
        final Transport t = transport;
        if (t != null) {
            t.setReadSuspended(false);
        }
    }

    /** Times a stream's full queue stopped the reads (libvirt-compatible mode). */
    volatile long streamReadSuspensions;

    /** Any thread: queue {@code s} for the writer's stream lane. */
    final void scheduleStream(final StreamImpl s) {
        if (s.trySchedule()) {
            scheduler.offer(s);
        }
        scheduleFlush();
        if (closedReason != null) {
            s.drainOutbound();
        }
    }

    /** Reader thread: tell the peer that {@code bytes} of stream {@code serial} were consumed. */
    final void sendCredit(final int serial, final long bytes) {
        final PooledBuffer f = Frames.claim(pool, Extension.CREDIT_LENGTH);
        f.byteBuffer().putInt(serial).putInt((int) Math.min(bytes, Integer.MAX_VALUE));
        Frames.commit(f, Extension.PROGRAM, Extension.VERSION, Extension.PROC_CREDIT, TYPE_MESSAGE, 0, STATUS_OK);
        enqueue(f, true);
    }

    /** Reader context: a MESSAGE on braid's extension program. */
    private void onExtensionMessage(final PooledBuffer frame) {
        final int proc = Frames.proc(frame);
        final ByteBuffer p = Frames.lentPayload(frame); // a reusable view: no allocation per CREDIT
        try {
            if (proc == Extension.PROC_CREDIT && flowControl) {
                if (p.remaining() != Extension.CREDIT_LENGTH) {
                    throw new ProtocolException("malformed CREDIT: " + p.remaining() + " bytes, expected "
                            + Extension.CREDIT_LENGTH);
                }
                final long bytes = p.getInt(4) & 0xFFFF_FFFFL;
                final StreamImpl s = streamFor(p.getInt(0));
                if (s != null) {
                    if (s.flow.creditReturned(bytes)) {
                        scheduler.offer(s);
                        scheduleFlush();
                    }
                } else {
                    framesDropped++; // the stream ended here already
                }
            } else if (proc == Extension.PROC_RELEASE && streamRelease) {
                if (p.remaining() != Extension.RELEASE_LENGTH) {
                    throw new ProtocolException("malformed RELEASE: " + p.remaining() + " bytes, expected "
                            + Extension.RELEASE_LENGTH);
                }
                onStreamReleased(p.getInt(0));
            } else {
                framesDropped++;
            }
        } finally {
            frame.release();
        }
    }

    /** Client: the server freed the slot of stream {@code serial}. */
    void onStreamReleased(final int serial) {
        framesDropped++;
    }

    /**
     * Reader thread: the open stream with this serial, or null. A small direct-mapped cache in front of
     * {@link #streams} (whose Integer keys box serials above 127 on every lookup): a packet or CREDIT for one
     * of the streams that are sending costs no allocation. An entry is trusted only while its stream has not
     * been unregistered ({@code StreamImpl.unregistered}, set before it leaves the map); a stale hit in the
     * instant after that only hands a packet to a finished stream, which drops it, as the map would.
     */
    final StreamImpl streamFor(final int serial) {
        final int slot = serial & (STREAM_CACHE - 1);
        final StreamImpl cached = streamCache[slot];
        if (cached != null && cached.serial == serial && !cached.unregistered) {
            return cached;
        }
        final StreamImpl s = streams.get(serial);
        if (s != null) {
            streamCache[slot] = s;
        }
        return s;
    }

    private static final int STREAM_CACHE = 16;
    /** Reader-owned, see {@link #streamFor}. */
    private final StreamImpl[] streamCache = new StreamImpl[STREAM_CACHE];

    /** A stream finished or failed here (called once per stream): forget it. Any thread. */
    final void streamDone(final StreamImpl s) {
        s.unregistered = true;
        streams.remove(s.serial, s);
        s.flow.leaveBudget();
        streamEnded(s);
    }

    /** Role hook after a stream is done on this side. */
    void streamEnded(final StreamImpl s) {
    }

    /** Both sides are done with the stream: its slot is free. Any thread, once per stream. */
    abstract void streamSlotFree(StreamImpl s);

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
            final int proc = Frames.proc(frame);
            final int vers = Frames.vers(frame);
            frame.release();
            if (vers == Extension.KEEPALIVE_VERSION && proc == Extension.KEEPALIVE_PING) {
                enqueue(Frames.empty(pool, Extension.KEEPALIVE_PROGRAM, Extension.KEEPALIVE_VERSION,
                        Extension.KEEPALIVE_PONG, TYPE_MESSAGE, 0, STATUS_OK), true);
            } else if (vers != Extension.KEEPALIVE_VERSION || proc != Extension.KEEPALIVE_PONG) {
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
        eventsReceived++;
        final EventImpl event = new EventImpl(l.procedure, frame, this);
        if (l.mode == HandlerMode.NON_BLOCKING) {
            deliver(l.listener, event);
            return true;
        }
        final int length = frame.byteBuffer().remaining();
        eventBytes.addAndGet(length);
        eventExecutor.execute(() -> {
            deliver(l.listener, event);
            if (eventBytes.addAndGet(-length) < EVENT_LOW_WATER && eventsPaused.get()
                    && eventsPaused.compareAndSet(true, false)) {
                transport.setReadSuspended(false);
            }
        });
        if (eventBytes.get() > EVENT_HIGH_WATER && eventsPaused.compareAndSet(false, true)) {
            // Listeners are slower than the peer's events: stop reading until they catch up.
            eventSuspensions++;
            transport.setReadSuspended(true);
            if (eventBytes.get() < EVENT_LOW_WATER && eventsPaused.compareAndSet(true, false)) {
                transport.setReadSuspended(false);
                return true;
            }
            return false;
        }
        return true;
    }

    /** Bytes of events handed to listeners and not yet delivered. */
    private final java.util.concurrent.atomic.AtomicLong eventBytes = new java.util.concurrent.atomic.AtomicLong();
    private final java.util.concurrent.atomic.AtomicBoolean eventsPaused = new java.util.concurrent.atomic.AtomicBoolean();
    private static final long EVENT_HIGH_WATER = 8L << 20;
    private static final long EVENT_LOW_WATER = 2L << 20;
    /** Times slow event listeners stopped the reads. */
    volatile long eventSuspensions;

    private void deliver(final EventListener listener, final EventImpl event) {
        try {
            listener.onEvent(event);
        } catch (Throwable t) {
            BraidRuntime.LOG.log(Level.WARNING, "event listener for " + event.procedure() + " failed on " + this, t);
        } finally {
            event.release();
        }
    }

    /** A registered listener. */
    record Listener(Procedure procedure, EventListener listener, HandlerMode mode) {
    }

    /** The listener for events on (prog, vers, proc), or null. Reader context. */
    abstract Listener listener(int prog, int vers, int proc);

    // ------------------------------------------------------------------ keepalive (timer thread)

    private void keepaliveTick() {
        if (closedReason != null) {
            return;
        }
        final long interval = cfg.keepaliveInterval().toNanos();
        if (System.nanoTime() - lastReceivedNanos < interval) {
            return;
        }
        final int unanswered = unansweredPings.get();
        if (unanswered >= cfg.keepaliveCount()) {
            transport.close(new ConnectionClosedException(Reason.PEER_NOT_RESPONDING, "no answer to " + unanswered
                    + " keepalive PINGs sent every " + cfg.keepaliveInterval().toMillis() + " ms", null));
            return;
        }
        if (!unansweredPings.compareAndSet(unanswered, unanswered + 1)) {
            return; // something arrived meanwhile: the peer is alive
        }
        enqueue(Frames.empty(pool, Extension.KEEPALIVE_PROGRAM, Extension.KEEPALIVE_VERSION, Extension.KEEPALIVE_PING,
                TYPE_MESSAGE, 0, STATUS_OK), true);
    }

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
        if (closedReason != null) {
            frame.release();
            return false;
        }
        final int length = frame.byteBuffer().remaining();
        // Counted before the offer: the writer subtracts once it takes the frame, so the count never goes
        // below what is really queued (counted after, it went briefly negative and reads resumed early).
        laneBytes.addAndGet(length);
        (control ? controlLane : mainLane).offer(frame);
        if (closedReason != null) {
            drainLanesAfterClose();
            return false;
        }
        if (urgent) {
            scheduleUrgentFlush();
        } else {
            scheduleFlush();
        }
        return true;
    }

    /**
     * Whether this side stops reading when its own outbound frames pile up. Only a server does: what piles
     * up there are answers to the peer's requests, so not reading more requests bounds them. A client must
     * keep reading (its replies are what drains the server), or two busy peers could stop each other.
     */
    boolean pausesForUnreadAnswers() {
        return false;
    }

    /** Times reads were suspended because the lanes passed the high-water mark. */
    volatile long outboundSuspensions;
    /** Bytes waiting in the control and main lanes (not yet taken by the writer). */
    private final java.util.concurrent.atomic.AtomicLong laneBytes = new java.util.concurrent.atomic.AtomicLong();
    /** Reads are suspended because the lanes passed the high-water mark. */
    private final java.util.concurrent.atomic.AtomicBoolean outboundPaused = new java.util.concurrent.atomic.AtomicBoolean();
    private static final long LANE_HIGH_WATER = 8L << 20;
    private static final long LANE_LOW_WATER = 2L << 20;

    final void scheduleFlush() {
        if (!(boolean) FLUSH_SCHEDULED.getAndSet(this, true)) {
            final Transport t = transport;
            if (t != null) {
                t.requestFlush();
            }
        }
    }

    private void scheduleUrgentFlush() {
        if (!(boolean) FLUSH_SCHEDULED.getAndSet(this, true)) {
            final Transport t = transport;
            if (t != null) {
                t.requestUrgentFlush();
            }
        }
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
            throw new LimitExceededException("maxMessageSize", maxOutboundMessage, what + " of " + frameLength
                    + " bytes (payload " + payloadLength + ") is larger than the largest message");
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

    /** Events are refused, not queued without bound, when the peer does not read. */
    private void checkEventQueue(final Procedure p) {
        final long queued = laneBytes.get();
        if (queued > cfg.maxQueuedEventBytes()) {
            throw new LimitExceededException("maxQueuedEventBytes", cfg.maxQueuedEventBytes(), "event " + p
                    + " refused: " + queued + " bytes already wait to be sent (the peer is not reading)");
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
        FLUSH_SCHEDULED.setVolatile(this, false);
        long bytes = 0;
        for (int i = 0; i < batchCount; i++) {
            bytes += batch[i].byteBuffer().remaining();
        }
        final int max = Math.min(dst.length, MAX_BATCH);
        long taken = 0;
        while (batchCount < max && bytes < MAX_BATCH_BYTES) {
            PooledBuffer f = controlLane.poll();
            if (f == null) {
                f = mainLane.poll();
                if (f == null) {
                    break;
                }
            }
            batch[batchCount++] = f;
            bytes += f.byteBuffer().remaining();
            taken += f.byteBuffer().remaining();
        }
        if (taken > 0 && laneBytes.addAndGet(-taken) < LANE_LOW_WATER && outboundPaused.get()
                && outboundPaused.compareAndSet(true, false)) {
            transport.setReadSuspended(false);
        }
        if (batchCount < max && bytes < MAX_BATCH_BYTES) {
            batchCount = scheduler.pump(batch, batchCount, max, StreamScheduler.QUANTUM);
        }
        for (int i = 0; i < batchCount; i++) {
            dst[i] = batch[i].byteBuffer();
        }
        if (batchCount == 0 && closeWhenFlushed) {
            transport.close(new ConnectionClosedException(Reason.LOCAL_CLOSE, "closed gracefully", null));
        }
        return batchCount;
    }

    @Override
    public void onOutboundWritten(final long bytes) {
        bytesWritten = bytesWritten + bytes;
        int done = 0;
        while (done < batchCount && !batch[done].byteBuffer().hasRemaining()) {
            batch[done].release();
            batch[done] = null;
            done++;
        }
        if (done > 0) {
            final int left = batchCount - done;
            System.arraycopy(batch, done, batch, 0, left);
            for (int i = left; i < batchCount; i++) {
                batch[i] = null;
            }
            batchCount = left;
        }
    }

    /** Asks the writer to close the socket once everything queued so far is written. Any thread. */
    final void closeAfterFlush() {
        closeWhenFlushed = true;
        FLUSH_SCHEDULED.setVolatile(this, false); // force a writer pass even if a flush is already scheduled
        scheduleFlush();
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
        if (keepaliveTask != null) {
            keepaliveTask.cancel(false);
        }
        if (streamIdleTask != null) {
            streamIdleTask.cancel(false);
        }
        decoder.close();
        for (int i = 0; i < batchCount; i++) {
            batch[i].release();
            batch[i] = null;
        }
        batchCount = 0;
        drainLanesAfterClose();
        for (StreamImpl s : streams.values()) {
            s.connectionClosed(cce);
        }
        try {
            closed(cce);
        } finally {
            rt.unregister(this);
            closeFuture.complete(cce);
        }
    }

    /** Role-specific cleanup: fail pending calls. Runs once, in {@link #onClosed}. */
    abstract void closed(ConnectionClosedException reason);

    private void drainLanesAfterClose() {
        synchronized (closeLock) {
            PooledBuffer f;
            while ((f = controlLane.poll()) != null) {
                laneBytes.addAndGet(-f.byteBuffer().remaining());
                f.release();
            }
            while ((f = mainLane.poll()) != null) {
                laneBytes.addAndGet(-f.byteBuffer().remaining());
                f.release();
            }
        }
    }

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
        final Transport t = transport;
        if (t != null) {
            t.close(new ConnectionClosedException(Reason.LOCAL_CLOSE, "aborted", null));
        }
    }

    /** Waits up to the close timeout for {@link #onClosed}. */
    public final void awaitClosed() {
        awaitClosed(cfg.closeTimeout().toMillis());
    }

    /** Waits up to {@code millis} for {@link #onClosed}. */
    final void awaitClosed(final long millis) {
        try {
            closeFuture.get(millis, TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            BraidRuntime.LOG.log(Level.WARNING, this + " did not close within " + millis + " ms");
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
    public SocketAddress remoteAddress() {
        final Transport t = transport;
        return t == null ? null : t.remoteAddress();
    }

    @Override
    public SocketAddress localAddress() {
        final Transport t = transport;
        return t == null ? null : t.localAddress();
    }

    @Override
    public String backendName() {
        return rt.backend.name();
    }

    /** Role-specific counters completed with the shared ones. */
    abstract ConnectionStats stats(long bytesIn, long bytesOut, long evSent, long evReceived, long evDropped,
                                   long dropped);

    @Override
    public ConnectionStats stats() {
        return stats(bytesRead, bytesWritten, eventsSent.sum(), eventsReceived, eventsDropped, framesDropped);
    }

    @Override
    public String toString() {
        return getClass().getSimpleName() + "[" + remoteAddress() + "]";
    }
}
