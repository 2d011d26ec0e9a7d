package dev.braid.internal.engine.stream;

import dev.braid.BraidConfig;
import dev.braid.ConnectionClosedException;
import dev.braid.Procedure;
import dev.braid.ProtocolException;
import dev.braid.buffer.BufferPool;
import dev.braid.buffer.PooledBuffer;
import dev.braid.internal.engine.io.Outbound;
import dev.braid.internal.engine.io.ReadGate;
import dev.braid.internal.observe.Observation;
import dev.braid.internal.wire.Extension;
import dev.braid.internal.wire.Frames;
import dev.braid.spi.Transport;

import java.nio.ByteBuffer;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

import static dev.braid.internal.wire.FrameHeader.HEADER_LENGTH;
import static dev.braid.internal.wire.FrameHeader.STATUS_OK;
import static dev.braid.internal.wire.FrameHeader.TYPE_MESSAGE;

/**
 * A connection's streams: the table of open streams, the routing of their packets and CREDITs, the
 * scheduler that feeds the writer, the shared send budget, and what a stream needs from its connection.
 * Streams reference this table, never the connection classes; the role (client or server) hears about a
 * stream's end through {@link Role}.
 *
 * <h2>Threads</h2>
 * <ul>
 *   <li>Reader: {@link #onPacket}, {@link #onCredit}, {@link #streamFor} (owns the lookup cache).</li>
 *   <li>Writer: the scheduler ({@link #scheduler()}, through {@link Outbound}).</li>
 *   <li>Any thread: {@link #register}, {@link #schedule}, {@link #sendCredit}, {@link #done},
 *       {@link #slotFree}, {@link #failAll}, the counters.</li>
 *   <li>Timer thread: the idle-stream check.</li>
 * </ul>
 */
public final class StreamTable {
    /** What the connection's role does when a stream ends. Any thread, once per stream each. */
    public interface Role {
        /** This side is done with {@code s} (finished or failed). */
        void streamEnded(StreamHandle s);

        /** Both sides are done with {@code s}: its slot is free. */
        void streamSlotFree(StreamHandle s);

        /**
         * Reader, once: the connection is about to close because the peer broke a limit ({@code reason} names
         * it). A server answers the calls still running with an error naming it, so the peer reads why.
         */
        default void closingForPeer(final String reason) {
        }
    }

    private static final int CACHE = 16;

    final BraidConfig cfg;
    final BufferPool pool;
    final Outbound outbound;
    final ReadGate gate;
    final SendBudget sendBudget;
    private final Role role;
    private final Observation obs;
    private final StreamScheduler scheduler;
    private final ConcurrentHashMap<Integer, StreamImpl> streams = new ConcurrentHashMap<>();
    /** Reader-owned, see {@link #streamFor}. */
    private final StreamImpl[] cache = new StreamImpl[CACHE];
    volatile Transport transport;
    private volatile boolean closed;
    private ScheduledFuture<?> idleTask;
    /** The tuner's second look at the link's round trip ({@code WindowTuner.recheck}), or null. */
    private volatile ScheduledFuture<?> recheckTask;
    final java.util.concurrent.Executor blockingExecutor;
    /** Where {@code finishAsync}'s future completes (the runtime's callback executor). */
    final dev.braid.internal.engine.call.Callbacks callbacks;
    /** The runtime's timer, from {@link #start} (null before: unit tests that never start a table). */
    private volatile ScheduledExecutorService timer;
    /** The window this side grants each stream now, and the most it ever granted (auto-tuning moves it). */
    final ReceiveWindow receiveWindow;
    /** Reader-owned: moves {@link #receiveWindow}; null until {@link #windowTuning} turns it on. */
    private volatile WindowTuner tuner;
    /** Whether the peer speaks PING/PONG/WINDOW (negotiated): set once, before any stream. */
    private volatile boolean tuningNegotiated;
    /**
     * The window the peer grants each of our streams as its last WINDOW said, or -1 (none yet: the HELLO's
     * applies). Written under {@link #windowLock} with the update of every open stream, read under it by
     * {@link #register}, so no stream misses a change.
     */
    private long peerWindow = -1;
    /** Cost of the stream packets the applications consumed on this connection (the tuner's delivery rate). */
    private final java.util.concurrent.atomic.LongAdder consumedBytes = new java.util.concurrent.atomic.LongAdder();
    private final Object windowLock = new Object();
    /** Packets and CREDITs for no open stream (ended here with data in flight): dropped, as libvirt does. */
    private volatile long dropped;
    /** Streams registered, streams that ended failed, and the payload bytes of the streams that ended. */
    private final java.util.concurrent.atomic.LongAdder opened = new java.util.concurrent.atomic.LongAdder();
    private final java.util.concurrent.atomic.LongAdder aborted = new java.util.concurrent.atomic.LongAdder();
    private final java.util.concurrent.atomic.LongAdder endedBytesSent = new java.util.concurrent.atomic.LongAdder();
    private final java.util.concurrent.atomic.LongAdder endedBytesReceived = new java.util.concurrent.atomic.LongAdder();
    /** Reader-owned: a server's count of the streams the peer aborted, against maxPeerStreamAbortsPerWindow. */
    private final PeerAbortLimit peerAborts;
    /** Reader-owned: a server's bucket on the streams the peer opens (maxStreamOpensPerSecond); aborts cost more. */
    private final StreamOpenThrottle openThrottle;

    public StreamTable(final BraidConfig cfg, final BufferPool pool, final Outbound outbound,
                       final StreamScheduler scheduler, final ReadGate gate, final Role role) {
        this(cfg, pool, outbound, scheduler, gate, role, task -> Thread.ofVirtual().start(task));
    }

    /**
     * A table that reports to no observer, its non-blocking operations completing on the calling thread.
     *
     * @param blockingExecutor where a stream's non-blocking operation runs the part that has to wait (the
     *                         runtime's handler executor: virtual threads), e.g. {@code finishAsync} queuing
     *                         its end into a full send ring
     */
    public StreamTable(final BraidConfig cfg, final BufferPool pool, final Outbound outbound,
                       final StreamScheduler scheduler, final ReadGate gate, final Role role,
                       final java.util.concurrent.Executor blockingExecutor) {
        this(cfg, pool, outbound, scheduler, gate, role, blockingExecutor, dev.braid.internal.engine.call.Callbacks.DIRECT,
                Observation.NONE);
    }

    /**
     * @param blockingExecutor as above
     * @param callbacks        where the futures of a stream's non-blocking operations complete
     * @param obs              where stream events are reported
     */
    public StreamTable(final BraidConfig cfg, final BufferPool pool, final Outbound outbound,
                       final StreamScheduler scheduler, final ReadGate gate, final Role role,
                       final java.util.concurrent.Executor blockingExecutor,
                       final dev.braid.internal.engine.call.Callbacks callbacks, final Observation obs) {
        this.blockingExecutor = blockingExecutor;
        this.callbacks = callbacks;
        this.obs = obs;
        this.cfg = cfg;
        this.pool = pool;
        this.outbound = outbound;
        this.scheduler = scheduler;
        this.gate = gate;
        this.role = role;
        this.sendBudget = new SendBudget(cfg.tls() != null ? cfg.tlsStreamSendBudget() : cfg.streamSendBudget());
        this.receiveWindow = new ReceiveWindow(cfg.initialStreamWindow());
        this.peerAborts = new PeerAbortLimit(cfg.maxPeerStreamAbortsPerWindow(), cfg.peerStreamAbortWindow());
        this.openThrottle = new StreamOpenThrottle(cfg.maxStreamOpensPerSecond(), cfg.maxConcurrentStreams());
    }

    /**
     * Once, after the HELLO and before any stream: the peer speaks PING/PONG/WINDOW
     * ({@code Extension.FEATURE_WINDOW_TUNING}, both sides). This side then answers PINGs and applies the
     * peer's WINDOWs; if its own {@code BraidConfig.windowAutoTuning} is on, it also tunes the window it
     * grants ({@link WindowTuner}).
     */
    public void windowTuning(final boolean negotiated) {
        tuningNegotiated = negotiated;
        sendBudget.adaptive(negotiated && cfg.windowAutoTuning());
        if (negotiated && cfg.windowAutoTuning()) {
            tuner = new WindowTuner(cfg.initialStreamWindow(), cfg.maxStreamWindow(), receiveWindow,
                    new WindowTuner.Signals() {
                        @Override
                        public void sendPing(final long token, final boolean first) {
                            sendLong(Extension.PROC_PING, token, !first);
                        }

                        @Override
                        public void sendWindow(final long window) {
                            final PooledBuffer f = Frames.claim(pool, Extension.WINDOW_LENGTH);
                            f.byteBuffer().putInt((int) Math.min(window, Integer.MAX_VALUE));
                            Frames.commit(f, Extension.PROGRAM, Extension.VERSION, Extension.PROC_WINDOW,
                                    TYPE_MESSAGE, 0, STATUS_OK);
                            outbound.enqueue(f, true, false);
                        }
                    });
        }
    }

    /**
     * Reader, once, after the HELLO's answer is queued (a server) or has arrived (a client): the tuner, if
     * any, measures the link's round trip while nothing is queued on it ({@code WindowTuner.start}).
     */
    public void startTuning() {
        final WindowTuner t = tuner;
        if (t != null) {
            t.start(System.nanoTime());
            recheckTask = afterNanos(() -> {
                final Transport tr = transport;
                if (tr != null && !closed) {
                    tr.execute(() -> {
                        if (!closed) {
                            t.recheck(System.nanoTime());
                        }
                    });
                }
            }, WindowTuner.RECHECK_NANOS);
        }
    }

    private void sendLong(final int proc, final long value) {
        sendLong(proc, value, true);
    }

    /** {@code control}: on the control lane (ahead of replies and data), else behind what is queued. */
    private void sendLong(final int proc, final long value, final boolean control) {
        final PooledBuffer f = Frames.claim(pool, Extension.PING_LENGTH);
        f.byteBuffer().putLong(value);
        Frames.commit(f, Extension.PROGRAM, Extension.VERSION, proc, TYPE_MESSAGE, 0, STATUS_OK);
        outbound.enqueue(f, control, false);
    }

    /**
     * Reader: a PING's payload (a reusable view): answered at once with a PONG carrying the same token, on
     * the control lane. Ignored unless the feature was negotiated.
     *
     * @throws ProtocolException if the payload is malformed
     */
    public void onPing(final ByteBuffer p) {
        final long token = pingToken(p, "PING");
        if (tuningNegotiated) {
            sendLong(Extension.PROC_PONG, token);
        }
    }

    /**
     * Reader: a PONG's payload (a reusable view): closes the tuner's sample if it answers its PING.
     *
     * @throws ProtocolException if the payload is malformed
     */
    public void onPong(final ByteBuffer p) {
        final long token = pingToken(p, "PONG");
        final WindowTuner t = tuner;
        if (t != null) {
            t.onPong(token, consumedBytes.sum(), System.nanoTime());
        }
    }

    private static long pingToken(final ByteBuffer p, final String what) {
        if (p.remaining() != Extension.PING_LENGTH) {
            throw new ProtocolException("malformed " + what + ": " + p.remaining() + " bytes, expected "
                    + Extension.PING_LENGTH);
        }
        return p.getLong(p.position());
    }

    /**
     * Reader: a WINDOW's payload (a reusable view): every open stream's send window becomes the new one
     * (streams parked for credit that now have it go back to the scheduler), and so does every stream
     * opened from now on; the send budget follows it (if this side tunes), and so does the socket's send
     * buffer.
     *
     * @throws ProtocolException if the payload is malformed or the window is below the HELLO minimum
     */
    public void onWindow(final ByteBuffer p) {
        if (p.remaining() != Extension.WINDOW_LENGTH) {
            throw new ProtocolException("malformed WINDOW: " + p.remaining() + " bytes, expected "
                    + Extension.WINDOW_LENGTH);
        }
        final long window = p.getInt(p.position()) & 0xFFFF_FFFFL;
        if (window < Extension.MIN_PACKET_COST || window > Integer.MAX_VALUE) {
            throw new ProtocolException("WINDOW of " + window + " bytes is outside " + Extension.MIN_PACKET_COST
                    + ".." + Integer.MAX_VALUE);
        }
        if (!tuningNegotiated) {
            dropped++;
            return;
        }
        boolean offered = false;
        synchronized (windowLock) {
            peerWindow = window;
            for (StreamImpl s : streams.values()) {
                if (s.flow.peerWindowChanged(window)) {
                    scheduler.offer(s.sender);
                    offered = true;
                }
            }
        }
        if (cfg.windowAutoTuning()) {
            sendBudget.follow(Math.min(window, Math.max(cfg.maxStreamWindow(), cfg.initialStreamWindow())));
            final Transport t = transport;
            if (t != null) {
                t.setSocketSendBuffer(socketSendBufferFor(cfg.socketSendBufferSize(), window, sendBudget.longLink()));
            }
        }
        if (offered) {
            outbound.scheduleFlush();
        }
    }

    /**
     * The send buffer a peer window asks for ({@code configured}: {@code BraidConfig.socketSendBufferSize}): on a link of {@link SendBudget#SMALL_PACKETS_ROUND_TRIP_NANOS}
     * or more, room for the whole window of stream data in flight plus a quarter for calls and credit (the
     * kernel doubles what it is given, for its bookkeeping), never below the configured size (0, the OS's
     * autotuning, stays 0); on a shorter one (loopback, a LAN), or before the link's round trip is known, the
     * configured size: there a larger buffer only queues more ahead of every call (the demo on loopback:
     * call p50 beside four streams 584-709 µs with 1.25 MiB against 474-479 µs with 256 KiB, and the streams
     * no faster).
     */
    static int socketSendBufferFor(final int configured, final long window, final boolean longLink) {
        if (configured == 0 || !longLink) {
            return configured;
        }
        return (int) Math.min(Integer.MAX_VALUE, Math.max(configured, window + window / 4));
    }

    /** Reader, once, when the connection opens: starts the idle-stream check if configured. */
    public void start(final Transport t, final ScheduledExecutorService timer) {
        transport = t;
        this.timer = timer;
        final long idle = cfg.streamReadIdleTimeout().toNanos();
        if (idle > 0) {
            final long period = Math.max(idle / 4, TimeUnit.MILLISECONDS.toNanos(10));
            idleTask = timer.scheduleWithFixedDelay(this::abortIdleStreams, period, period, TimeUnit.NANOSECONDS);
        }
    }

    /**
     * A new stream on this connection, entered in the table. Any thread.
     *
     * @param flowControl   windows and credits negotiated
     * @param sendWindow    the window the peer grants each of our streams
     * @param maxOutbound   the largest message this side may send
     * @param holds         holds on the stream's slot (see StreamImpl)
     */
    public StreamHandle register(final Procedure procedure, final int serial, final boolean serverSide,
                               final boolean flowControl, final long sendWindow, final int maxOutbound,
                               final int holds) {
        synchronized (windowLock) {
            final StreamImpl s = new StreamImpl(this, procedure, serial, serverSide, flowControl,
                    sendWindow, maxOutbound, holds);
            if (peerWindow > 0) {
                s.flow.peerWindowChanged(peerWindow); // nothing in flight yet: the credit is the new window
            }
            s.openedNanos = obs.streamOpened(procedure, serial); // before the table: its end may come at once
            opened.increment();
            streams.put(serial, s);
            return s;
        }
    }

    public boolean contains(final int serial) {
        return streams.containsKey(serial);
    }

    public int size() {
        return streams.size();
    }

    // ------------------------------------------------------------------ reader

    /**
     * Reader: a STREAM or STREAM_HOLE frame; takes ownership. Returns false to stop decoding (a full queue in
     * libvirt-compatible mode holds the reads; the resume re-enters the decoder).
     *
     * @throws ProtocolException at a server, when the packet is an abort one more than
     *                           {@code maxPeerStreamAbortsPerWindow} allows (see {@link #peerAborted})
     */
    public boolean onPacket(final PooledBuffer frame) {
        final WindowTuner t = tuner;
        if (t != null) {
            t.onData(consumedBytes.sum(), Frames.length(frame), System.nanoTime());
        }
        final StreamImpl s = streamFor(Frames.serial(frame));
        if (s == null || Frames.prog(frame) != s.procedure.program() || Frames.vers(frame) != s.procedure.version()
                || Frames.proc(frame) != s.procedure.procedure()) {
            frame.release();
            dropped++;
            return true;
        }
        s.onPacket(frame);
        return !(s.readHold != null && s.shouldPauseReads() && s.readHold.pause(s.queueFull));
    }

    /** {@return a server's bucket on the streams its peer opens} Reader only (its use). */
    public StreamOpenThrottle openThrottle() {
        return openThrottle;
    }

    /**
     * Reader, at a server: the peer aborted {@code s}, a stream it opened that was still open here (counted
     * once per stream: an abort crossing this side's own end of the stream is not). One abort more than
     * {@code maxPeerStreamAbortsPerWindow} within {@code peerStreamAbortWindow} (see {@link PeerAbortLimit}) is
     * a peer opening and aborting streams in a loop (HTTP/2's rapid reset): every stream still open is aborted
     * with the reason and every call still running answered with it ({@link Role#closingForPeer}), so the peer
     * reads it there, and the connection closes.
     *
     * @throws ProtocolException naming the limit, its value and its window, when the abort exceeds it: the
     *                           reader closes the connection with it ({@code PROTOCOL_ERROR}, logged)
     */
    void peerAborted(final StreamImpl s) {
        final long now = System.nanoTime();
        openThrottle.peerAborted(now); // the next open waits for it (StreamOpenThrottle: why an abort costs more)
        if (!peerAborts.aborted(now)) {
            return;
        }
        final String why = "rapid stream aborts: the peer aborted " + peerAborts.count() + " streams within "
                + java.util.concurrent.TimeUnit.NANOSECONDS.toMillis(now - peerAborts.windowStart()) + " ms ("
                + peerAborts.describe() + ")";
        obs.limitRefused("maxPeerStreamAbortsPerWindow", cfg.maxPeerStreamAbortsPerWindow(), "stream " + s
                + " aborted by the peer: " + why + "; closing the connection");
        abortAll(why);
        role.closingForPeer(why);
        throw new ProtocolException(why);
    }

    /**
     * Reader: a CREDIT message's payload (a reusable view). The stream's flow control takes the bytes; a
     * stream parked for credit goes back to the scheduler.
     *
     * @throws ProtocolException if the payload is malformed
     */
    public void onCredit(final ByteBuffer p) {
        if (p.remaining() != Extension.CREDIT_LENGTH) {
            throw new ProtocolException("malformed CREDIT: " + p.remaining() + " bytes, expected "
                    + Extension.CREDIT_LENGTH);
        }
        final long bytes = p.getInt(p.position() + 4) & 0xFFFF_FFFFL;
        final StreamImpl s = streamFor(p.getInt(p.position()));
        if (s == null) {
            dropped++; // the stream ended here already
            return;
        }
        final WindowTuner t = tuner;
        sendBudget.credited(bytes, System.nanoTime(), t != null ? t.minRtt() : Long.MAX_VALUE);
        if (s.flow.creditReturned(bytes)) {
            scheduler.offer(s.sender);
            outbound.scheduleFlush();
        }
    }

    /**
     * Reader: the open stream with this serial, or null. A small direct-mapped cache in front of the map
     * (whose Integer keys box serials above 127 on every lookup): a packet or CREDIT for one of the streams
     * that are sending costs no allocation. An entry is trusted only while its stream has not been
     * unregistered ({@code StreamImpl.unregistered}, set before it leaves the map); a stale hit in the
     * instant after that only hands a packet to a finished stream, which drops it, as the map would.
     */
    StreamImpl streamFor(final int serial) {
        final int slot = serial & (CACHE - 1);
        final StreamImpl cached = cache[slot];
        if (cached != null && cached.serial == serial && !cached.unregistered) {
            return cached;
        }
        final StreamImpl s = streams.get(serial);
        if (s != null) {
            cache[slot] = s;
        }
        return s;
    }

    // ------------------------------------------------------------------ what streams use, any thread

    /** Queues {@code s} for the writer's stream lane. */
    void schedule(final StreamSender s) {
        if (s.trySchedule()) {
            scheduler.offer(s);
        }
        outbound.scheduleFlush();
        if (closed) {
            s.drainOutbound();
        }
    }

    /** Runs {@code task} on the timer after {@code nanos}; null (nothing scheduled) without a timer. Any thread. */
    ScheduledFuture<?> afterNanos(final Runnable task, final long nanos) {
        final ScheduledExecutorService t = timer;
        if (t == null) {
            return null;
        }
        try {
            return t.schedule(task, nanos, TimeUnit.NANOSECONDS);
        } catch (java.util.concurrent.RejectedExecutionException e) {
            return null; // braid is closing: the close fails the stream anyway
        }
    }

    /** Any thread: the application consumed a packet costing {@code cost} (counted for the tuner). */
    void consumed(final long cost) {
        if (tuner != null) {
            consumedBytes.add(cost);
        }
    }

    /** Tells the peer that {@code bytes} of stream {@code serial} were consumed (a control frame). */
    void sendCredit(final int serial, final long bytes) {
        final PooledBuffer f = Frames.claim(pool, Extension.CREDIT_LENGTH);
        f.byteBuffer().putInt(serial).putInt((int) Math.min(bytes, Integer.MAX_VALUE));
        Frames.commit(f, Extension.PROGRAM, Extension.VERSION, Extension.PROC_CREDIT, TYPE_MESSAGE, 0, STATUS_OK);
        outbound.enqueue(f, true, false);
    }

    /** A control frame of a stream (its abort). */
    void sendControl(final PooledBuffer f) {
        outbound.enqueue(f, true, false);
    }

    /** A stream finished or failed here (once per stream): forget it. */
    void done(final StreamImpl s) {
        s.unregistered = true;
        streams.remove(s.serial, s);
        s.flow.ended();
        endedBytesSent.add(s.bytesWritten());
        endedBytesReceived.add(s.bytesRead());
        if (s.failure() != null) {
            aborted.increment();
        }
        obs.streamEnded(s.procedure, s.serial, s.bytesWritten(), s.bytesRead(), s.openedNanos, s.failure());
        role.streamEnded(s);
    }

    /** Both sides are done with the stream: its slot is free (once per stream). */
    void slotFree(final StreamImpl s) {
        role.streamSlotFree(s);
    }

    /** Largest payload of one data packet a stream may send with this window and message limit. */
    int maxPacket(final boolean flowControl, final long sendWindow, final int maxOutbound) {
        final long byWindow = flowControl ? sendWindow - HEADER_LENGTH : Integer.MAX_VALUE;
        return (int) Math.max(1, Math.min(Math.min(cfg.maxStreamPacket(), maxOutbound - HEADER_LENGTH), byWindow));
    }

    // ------------------------------------------------------------------ closing, timers

    /** Once, when the connection closes: every stream fails with {@code reason}. */
    public void failAll(final ConnectionClosedException reason) {
        closed = true;
        final ScheduledFuture<?> t = idleTask;
        if (t != null) {
            t.cancel(false);
        }
        final ScheduledFuture<?> r = recheckTask;
        if (r != null) {
            r.cancel(false);
        }
        for (StreamImpl s : streams.values()) {
            s.connectionClosed(reason);
        }
    }

    /** Aborts every open stream with {@code reason} (the peer gets the abort). Any thread. */
    public void abortAll(final String reason) {
        for (StreamImpl s : streams.values()) {
            s.abort(reason);
        }
    }

    public boolean isClosed() {
        return closed;
    }

    public long dropped() {
        return dropped;
    }

    /**
     * The table's counters and the sums over its open streams, for {@code ConnectionStats}. Any thread; the
     * sums are read stream by stream without a lock (a snapshot, not an atomic one).
     *
     * @param opened        streams registered so far
     * @param aborted       streams that ended failed (either side aborted, or the connection closed)
     * @param bytesSent     payload bytes sent by this side on every stream, ended or open
     * @param bytesReceived payload bytes read by this side on every stream, ended or open
     * @param queued        received bytes (window cost) not yet read, over the open streams
     * @param sendQueued    bytes written and waiting in the open streams' send rings
     * @param receiveWindow the windows this side grants, summed over the open streams
     * @param sendCredit    what the peer's windows still allow, summed over the open streams (flow control)
     */
    public record Totals(long opened, long aborted, long bytesSent, long bytesReceived, long queued,
                         long sendQueued, long receiveWindow, long sendCredit) {
    }

    /** A snapshot of every open stream (see {@link dev.braid.Peer#streams()}). Any thread. */
    public java.util.List<dev.braid.StreamStats> snapshot() {
        final long now = System.nanoTime();
        final java.util.List<dev.braid.StreamStats> list = new java.util.ArrayList<>(streams.size());
        for (StreamImpl s : streams.values()) {
            list.add(new dev.braid.StreamStats(s.procedure, s.serial, s.bytesWritten(), s.bytesRead(), s.queuedBytes(),
                    s.sendQueuedBytes(), s.receiveWindow(), s.flow.enabled ? Math.max(0, s.sendCredit()) : 0,
                    java.time.Duration.ofNanos(Math.max(0, now - s.openedNanos))));
        }
        return list;
    }

    /** See {@link Totals}. Any thread. */
    public Totals totals() {
        long sent = endedBytesSent.sum();
        long received = endedBytesReceived.sum();
        long queued = 0;
        long sendQueued = 0;
        long window = 0;
        long credit = 0;
        for (StreamImpl s : streams.values()) {
            sent += s.bytesWritten();
            received += s.bytesRead();
            queued += s.queuedBytes();
            sendQueued += s.sendQueuedBytes();
            window += s.receiveWindow();
            if (s.flow.enabled) {
                credit += Math.max(0, s.sendCredit());
            }
        }
        return new Totals(opened.sum(), aborted.sum(), sent, received, queued, sendQueued, window, credit);
    }

    /** Timer thread: aborts streams whose received data nobody read for streamReadIdleTimeout. */
    private void abortIdleStreams() {
        final long idle = cfg.streamReadIdleTimeout().toNanos();
        final long now = System.nanoTime();
        for (StreamImpl s : streams.values()) {
            final long waiting = s.flow.queued();
            if (waiting > 0 && now - s.receiver.lastReadNanos > idle) {
                s.abort("nobody read the stream for " + cfg.streamReadIdleTimeout().toMillis()
                        + " ms (streamReadIdleTimeout) with " + waiting + " bytes waiting");
            }
        }
    }
}
