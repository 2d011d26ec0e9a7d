package dev.braid.internal.observe;

import dev.braid.BraidException;
import dev.braid.BraidObserver;
import dev.braid.BraidObserver.CallOutcome;
import dev.braid.BraidObserver.Side;
import dev.braid.BraidObserver.Suspension;
import dev.braid.ConnectionClosedException;
import dev.braid.LimitExceededException;
import dev.braid.Peer;
import dev.braid.Procedure;
import dev.braid.ProtocolException;
import jdk.jfr.EventType;

import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.time.Duration;

/**
 * One connection's view for operators: the one place the engine reports what it does, to the configured
 * {@link BraidObserver} (if any) and to the JDK Flight Recorder ({@link JfrEvents}). Every part of the
 * engine that has something to report (the connection, its calls, its streams, its read gate) holds the
 * connection's {@code Observation} and calls it at the one place the thing happens.
 *
 * <h2>Cost</h2>
 * Without an observer the hot-path hooks ({@link #callStart}, {@link #callStarted}, {@link #callEnded},
 * {@link #streamOpened}) are a branch on a null field, plus, for {@link #callStart}, a read of whether a
 * recording has the {@code dev.braid.SlowCall} event enabled: only then is the clock read, and only a call
 * whose start was timed is reported at its end. With an observer they allocate nothing (the observer's own
 * work aside). The rare events (close, protocol error, abort, suspension, refusal) build their JFR event
 * only when a recording has it enabled.
 *
 * <h2>Threads</h2>
 * Any thread. Immutable but for the reader's pass state (the pass clock and the ends deferred to the pass's
 * end: reader-confined, see {@link #readStarted}). An observer that throws is logged ({@code dev.braid.observer}, WARNING) and
 * otherwise ignored: what braid does never depends on it.
 */
public final class Observation {
    private static final Logger LOG = System.getLogger("dev.braid.observer");
    private static final EventType SLOW_CALL = EventType.getEventType(JfrEvents.SlowCall.class);

    /** For parts built without a connection (unit tests): no observer, JFR events without an address. */
    public static final Observation NONE = new Observation(null, null, Side.CLIENT, Duration.ofSeconds(1));

    private final BraidObserver observer;
    private final Peer peer;
    private final Side side;
    private final long slowNanos;
    /**
     * Reader-confined: the clock when the reader began its current pass over received bytes ({@link #readStarted}),
     * 0 when calls were not timed then. Everything decoded in that pass (replies, calls) takes it as its time,
     * so a batch of frames costs one clock read, not one each.
     */
    private long readClock;

    /*
     * Ends deferred to the end of the reader's pass. A call answered on the reader's own thread while the pass
     * runs (a NON_BLOCKING handler's inline reply) is reported when the pass ends ({@link #readEnded}), all of
     * them with one clock read: its end is then the pass's end, not the handler's return.
     *
     * Reader-confined, except passState: the reader moves it IDLE -> IN_PASS -> IDLE around a pass; a close
     * reported by another thread during a pass moves it IN_PASS -> CLOSE_PENDING and leaves the report of the
     * close to the reader, after the deferred ends (connectionClosed stays the connection's last event); one
     * reported by another thread between passes moves it IDLE -> CLOSED, after which no pass defers. The
     * closer writes pendingClose before its CAS and the reader reads it after its own CAS failed (the CASes
     * order them).
     * Only used with an observer.
     */
    private static final int IDLE = 0;
    private static final int IN_PASS = 1;
    private static final int CLOSE_PENDING = 2;
    private static final int CLOSED = 3;
    private static final int DEFERRED_MAX = 32;
    private static final java.lang.invoke.VarHandle PASS_STATE;

    static {
        try {
            PASS_STATE = java.lang.invoke.MethodHandles.lookup().findVarHandle(Observation.class, "passState", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    @SuppressWarnings("unused") // through PASS_STATE
    private volatile int passState;
    /** The reader's thread while a pass runs (plain: read only by the thread that wrote it). */
    private Thread passThread;
    /** The close to report once the pass ends (written before the CAS to CLOSE_PENDING, read after it fails). */
    private ConnectionClosedException pendingClose;
    private int deferred;
    private Procedure[] deferredProcedure;
    private int[] deferredSerial;
    private CallOutcome[] deferredOutcome;
    private long[] deferredStart;
    private long[] deferredRequest;
    private long[] deferredReply;

    /**
     * @param observer  the configured observer, or null
     * @param peer      the connection the events are about
     * @param side      this side's role on it
     * @param slowCall  calls at least this long are recorded as {@code dev.braid.SlowCall}
     */
    public Observation(final BraidObserver observer, final Peer peer, final Side side, final Duration slowCall) {
        this.observer = observer;
        this.peer = peer;
        this.side = side;
        this.slowNanos = slowCall.toNanos();
    }

    /** Whether an observer is set. */
    public boolean observed() {
        return observer != null;
    }

    private void failed(final String what, final RuntimeException e) {
        LOG.log(Level.WARNING, "observer " + observer + " failed in " + what + " (ignored)", e);
    }

    private String address() {
        return peer == null ? null : String.valueOf(peer.remoteAddress());
    }

    // ------------------------------------------------------------------ connections

    /** The connection's socket is open. Reader context, once. */
    public void connectionOpened() {
        final BraidObserver o = observer;
        if (o != null) {
            try {
                o.connectionOpened(peer, side);
            } catch (RuntimeException e) {
                failed("connectionOpened", e);
            }
        }
    }

    /** The connection closed. Once, after its calls and streams ended. */
    public void connectionClosed(final ConnectionClosedException reason) {
        final BraidObserver o = observer;
        if (o != null) {
            if (passThread == Thread.currentThread()) {
                flushDeferred(); // closed from inside the reader's pass: its deferred ends come first
            } else {
                pendingClose = reason;
                while (true) {
                    final int st = (int) PASS_STATE.getVolatile(this);
                    if (st == IN_PASS && PASS_STATE.compareAndSet(this, IN_PASS, CLOSE_PENDING)) {
                        return; // the reader reports it when its pass ends, after the ends it deferred
                    }
                    if (st == IDLE && PASS_STATE.compareAndSet(this, IDLE, CLOSED)) {
                        break; // no later pass defers anything: nothing can follow this report
                    }
                    if (st == CLOSE_PENDING || st == CLOSED) {
                        break;
                    }
                }
                pendingClose = null;
            }
            reportClosed(o, reason);
        } else {
            reportClosed(null, reason);
        }
    }

    private void reportClosed(final BraidObserver o, final ConnectionClosedException reason) {
        if (o != null) {
            try {
                o.connectionClosed(peer, side, reason);
            } catch (RuntimeException e) {
                failed("connectionClosed", e);
            }
        }
        if (abnormal(reason.reason())) {
            final JfrEvents.ConnectionClosedAbnormally e = new JfrEvents.ConnectionClosedAbnormally();
            if (e.isEnabled()) {
                e.remoteAddress = address();
                e.side = side.name();
                e.reason = reason.reason().name();
                e.message = reason.getMessage();
                e.commit();
            }
        }
    }

    /** Whether a close for {@code r} is worth a JFR event: anything but an orderly close by either side. */
    static boolean abnormal(final ConnectionClosedException.Reason r) {
        return r != ConnectionClosedException.Reason.LOCAL_CLOSE && r != ConnectionClosedException.Reason.PEER_CLOSED;
    }

    /** The peer broke the protocol. Reader context, at most once per connection. */
    public void protocolError(final ProtocolException error) {
        final BraidObserver o = observer;
        if (o != null) {
            try {
                o.protocolError(peer, side, error);
            } catch (RuntimeException e) {
                failed("protocolError", e);
            }
        }
        final JfrEvents.ProtocolError e = new JfrEvents.ProtocolError();
        if (e.isEnabled()) {
            e.remoteAddress = address();
            e.side = side.name();
            e.message = error.getMessage();
            e.commit();
        }
    }

    // ------------------------------------------------------------------ calls

    /**
     * The start time of a call to pass back to {@link #callEnded}: {@code System.nanoTime()} (never 0) when
     * an observer is set or a recording has the slow-call event enabled, otherwise 0 (the call is not
     * timed and its end not reported). Any thread.
     */
    public long callStart() {
        if (observer == null && !SLOW_CALL.isEnabled()) {
            return 0;
        }
        return nonZero(System.nanoTime());
    }

    /**
     * Reader, before it decodes what it read: takes the clock for the frames of this pass if calls are timed
     * (an observer, or a recording with the slow-call event), otherwise forgets it.
     */
    public void readStarted(final long now) {
        readClock = observer != null || SLOW_CALL.isEnabled() ? nonZero(now) : 0;
        if (observer != null && PASS_STATE.compareAndSet(this, IDLE, IN_PASS)) {
            passThread = Thread.currentThread();
        }
    }

    /**
     * Reader, after a pass over received bytes (also when it threw): reports the ends it deferred, with one
     * clock read for all of them, then a close another thread reported meanwhile.
     */
    public void readEnded() {
        if (passThread == null) {
            return;
        }
        flushDeferred();
        passThread = null;
        if (!PASS_STATE.compareAndSet(this, IN_PASS, IDLE)) { // CLOSE_PENDING: the close waited for this pass
            final ConnectionClosedException reason = pendingClose;
            pendingClose = null;
            reportClosed(observer, reason);
        }
    }

    /** Reader: reports the deferred ends, at one clock read. */
    private void flushDeferred() {
        final int n = deferred;
        if (n == 0) {
            return;
        }
        deferred = 0;
        final long now = System.nanoTime();
        for (int i = 0; i < n; i++) {
            final Procedure p = deferredProcedure[i];
            deferredProcedure[i] = null;
            ended(p, deferredSerial[i], deferredOutcome[i], now - deferredStart[i], deferredRequest[i],
                    deferredReply[i]);
        }
    }

    /** Reader, in a pass: keeps a call's end for {@link #flushDeferred}; false when there is no room. */
    private boolean defer(final Procedure p, final int serial, final CallOutcome outcome, final long start,
                          final long requestBytes, final long replyBytes) {
        final int n = deferred;
        if (n == DEFERRED_MAX) {
            return false;
        }
        if (deferredProcedure == null) { // on the first pass that answers inline: a connection never doing so pays nothing
            deferredProcedure = new Procedure[DEFERRED_MAX];
            deferredSerial = new int[DEFERRED_MAX];
            deferredOutcome = new CallOutcome[DEFERRED_MAX];
            deferredStart = new long[DEFERRED_MAX];
            deferredRequest = new long[DEFERRED_MAX];
            deferredReply = new long[DEFERRED_MAX];
        }
        deferredProcedure[n] = p;
        deferredSerial[n] = serial;
        deferredOutcome[n] = outcome;
        deferredStart[n] = start;
        deferredRequest[n] = requestBytes;
        deferredReply[n] = replyBytes;
        deferred = n + 1;
        return true;
    }

    /** {@link #callStart()} for a call the reader decoded in this pass: the pass's clock. Reader only. */
    public long callStartAtRead() {
        return readClock;
    }

    private static long nonZero(final long t) {
        return t == 0 ? 1 : t;
    }

    /**
     * {@link #callEnded} for a reply the reader decoded in this pass: the end is the pass's clock (or now, if
     * calls were not timed when the pass began). Reader only.
     */
    public void callEndedAtRead(final Procedure p, final int serial, final CallOutcome outcome, final long start,
                                final long requestBytes, final long replyBytes) {
        if (start == 0) {
            return;
        }
        final long clock = readClock;
        ended(p, serial, outcome, (clock != 0 && clock - start >= 0 ? clock : System.nanoTime()) - start,
                requestBytes, replyBytes);
    }

    /** A call started (client: made; server: received). Any thread. */
    public void callStarted(final Procedure p, final int serial) {
        final BraidObserver o = observer;
        if (o != null) {
            try {
                o.callStarted(peer, side, p, serial);
            } catch (RuntimeException e) {
                failed("callStarted", e);
            }
        }
    }

    /**
     * A call ended, once. Does nothing for a call whose {@code start} was 0 (not timed: no observer and no
     * recording when it started). Any thread.
     */
    public void callEnded(final Procedure p, final int serial, final CallOutcome outcome, final long start,
                          final long requestBytes, final long replyBytes) {
        if (start == 0) {
            return;
        }
        if (passThread == Thread.currentThread() && observer != null
                && defer(p, serial, outcome, start, requestBytes, replyBytes)) {
            return; // answered inside the reader's pass: reported at its end (readEnded)
        }
        ended(p, serial, outcome, System.nanoTime() - start, requestBytes, replyBytes);
    }

    private void ended(final Procedure p, final int serial, final CallOutcome outcome, final long latency,
                       final long requestBytes, final long replyBytes) {
        final BraidObserver o = observer;
        if (o != null) {
            try {
                o.callEnded(peer, side, p, serial, outcome, latency, requestBytes, replyBytes);
            } catch (RuntimeException e) {
                failed("callEnded", e);
            }
        }
        if (latency >= slowNanos && SLOW_CALL.isEnabled()) {
            final JfrEvents.SlowCall e = new JfrEvents.SlowCall();
            if (e.shouldCommit()) {
                e.remoteAddress = address();
                e.side = side.name();
                e.procedure = String.valueOf(p);
                e.serial = Integer.toUnsignedLong(serial);
                e.outcome = outcome.name();
                e.latency = latency;
                e.threshold = slowNanos;
                e.commit();
            }
        }
    }

    // ------------------------------------------------------------------ streams

    /** A stream was registered on this connection. Any thread. Returns its start time for {@link #streamEnded}. */
    public long streamOpened(final Procedure p, final int serial) {
        final BraidObserver o = observer;
        if (o != null) {
            try {
                o.streamOpened(peer, side, p, serial);
            } catch (RuntimeException e) {
                failed("streamOpened", e);
            }
        }
        return System.nanoTime();
    }

    /** A stream ended on this side (abortReason null: cleanly). Any thread, once per stream. */
    public void streamEnded(final Procedure p, final int serial, final long bytesSent, final long bytesReceived,
                            final long start, final BraidException abortReason) {
        final long duration = System.nanoTime() - start;
        final BraidObserver o = observer;
        if (o != null) {
            try {
                o.streamEnded(peer, side, p, serial, bytesSent, bytesReceived, duration, abortReason);
            } catch (RuntimeException e) {
                failed("streamEnded", e);
            }
        }
        if (abortReason != null) {
            final JfrEvents.StreamAborted e = new JfrEvents.StreamAborted();
            if (e.isEnabled()) {
                e.remoteAddress = address();
                e.side = side.name();
                e.procedure = String.valueOf(p);
                e.serial = Integer.toUnsignedLong(serial);
                e.bytesSent = bytesSent;
                e.bytesReceived = bytesReceived;
                e.lifetime = duration;
                e.reason = abortReason.getMessage();
                e.commit();
            }
        }
    }

    // ------------------------------------------------------------------ limits and suspensions

    /** A limit refused something on this side; returns {@code e} for the caller to throw. Any thread. */
    public LimitExceededException refused(final LimitExceededException e) {
        limitRefused(e.limit(), e.value(), e.getMessage());
        return e;
    }

    /** A limit refused something (the peer's stream, or this side's call or event). Any thread. */
    public void limitRefused(final String limit, final long value, final String detail) {
        final BraidObserver o = observer;
        if (o != null) {
            try {
                o.limitRefused(peer, side, limit, value, detail);
            } catch (RuntimeException e) {
                failed("limitRefused", e);
            }
        }
        final JfrEvents.LimitRefused e = new JfrEvents.LimitRefused();
        if (e.isEnabled()) {
            e.remoteAddress = address();
            e.side = side.name();
            e.limit = limit;
            e.value = value;
            e.detail = detail;
            e.commit();
        }
    }

    /** Reading stopped for {@code reason}. The thread that took the hold (the reader). */
    public void readSuspended(final Suspension reason) {
        final BraidObserver o = observer;
        if (o != null) {
            try {
                o.readSuspended(peer, side, reason);
            } catch (RuntimeException e) {
                failed("readSuspended", e);
            }
        }
    }

    /** The hold for {@code reason} is gone after {@code nanos}. Any thread (the one that removed the cause). */
    public void readResumed(final Suspension reason, final long nanos) {
        final BraidObserver o = observer;
        if (o != null) {
            try {
                o.readResumed(peer, side, reason, nanos);
            } catch (RuntimeException e) {
                failed("readResumed", e);
            }
        }
        final JfrEvents.ReadSuspended e = new JfrEvents.ReadSuspended();
        if (e.isEnabled()) {
            e.remoteAddress = address();
            e.side = side.name();
            e.reason = reason.name();
            e.suspended = nanos;
            e.commit();
        }
    }
}
