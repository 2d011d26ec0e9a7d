package dev.braid.internal.engine.io;

import dev.braid.BraidObserver;
import dev.braid.internal.observe.Observation;
import dev.braid.spi.Transport;

import java.util.function.BooleanSupplier;

/**
 * Every reason a connection stops reading its socket, behind one protocol and one count, so the backend
 * only ever sees "reading off" when the first reason appears and "reading on" when the last one goes
 * ({@link Transport#setReadSuspended}, called only on those edges, strictly alternating).
 *
 * <h2>Reasons</h2>
 * Each reason is a {@link Hold}: the server's outstanding-call limit, answers the peer does not read,
 * event listeners slower than the peer, (libvirt-compatible mode, one per stream) a stream's full
 * receive queue, and a server's stream-open rate (released by the runtime's timer when a token is due). A hold is taken by the <b>reader</b> only ({@link Hold#pause}), so the suspension is in
 * place before decoding stops, and released by <b>any thread</b> that removes the cause
 * ({@link Hold#release}).
 *
 * <h2>The protocol (why no wake-up is lost)</h2>
 * The reader takes the hold (sets the hold's own flag), then re-checks the cause: if it went away
 * between the reader's decision and the flag, the releasing thread may have looked at the flag before it
 * was set and done nothing, so the reader releases the hold itself. The releasing thread changes the cause
 * first, then releases: each side writes its own variable, then reads the other's, so one of them always
 * sees the other. Releasing is idempotent (the flag is cleared once), so both doing it is harmless.
 *
 * <h2>Threads</h2>
 * {@link Hold#pause} on the connection's reader; {@link Hold#release}, {@link #paused()} and the counters
 * on any thread. A hold's flag, the hold count and the transport call change together under this object's
 * monitor, so two threads cannot reorder a "reading off" after the "reading on" that undid it, and a release
 * cannot slip between a take's flag and its count (it once could: the count went to -1 and back to 0 with
 * no call to the transport, and the reader waited for a resume that never came). The monitor is only taken
 * on an edge of a hold (never per frame): a release finds the flag clear without it.
 */
public final class ReadGate {
    /** What a hold stands for (for counters and messages). */
    public enum Reason {
        /** Server: the outstanding-call limit is reached. */
        CALL_LIMIT(BraidObserver.Suspension.CALL_LIMIT),
        /** Server: answers pile up because the peer does not read them. */
        UNREAD_ANSWERS(BraidObserver.Suspension.UNREAD_ANSWERS),
        /** Event listeners are slower than the peer's events. */
        SLOW_EVENT_LISTENERS(BraidObserver.Suspension.SLOW_EVENT_LISTENERS),
        /** libvirt-compatible mode: a stream's receive queue is full. */
        STREAM_QUEUE_FULL(BraidObserver.Suspension.STREAM_QUEUE_FULL),
        /** Server: the peer opens streams faster than maxStreamOpensPerSecond; released by the runtime's timer. */
        STREAM_OPEN_RATE(BraidObserver.Suspension.STREAM_OPEN_RATE);

        /** The same reason as the observer sees it. */
        final BraidObserver.Suspension observed;

        Reason(final BraidObserver.Suspension observed) {
            this.observed = observed;
        }
    }

    private Transport transport;
    /** Where suspensions are reported; set once by the connection before the gate is used. */
    private Observation obs = Observation.NONE;
    private int holds;
    private final long[] pauses = new long[Reason.values().length];

    /** Reader, once, before any hold is taken. */
    public void attach(final Transport t) {
        transport = t;
    }

    /** The connection's observation, once, at construction (before any hold is taken). */
    public void observe(final Observation o) {
        obs = o;
    }

    /** A new reason to stop reading, of kind {@code reason}. Any thread. */
    public Hold newHold(final Reason reason) {
        return new Hold(reason);
    }

    /** Whether reading is off now. Any thread. */
    public synchronized boolean paused() {
        return holds > 0;
    }

    /** How many times holds of this kind stopped the reads. Any thread. */
    public synchronized long pauses(final Reason reason) {
        return pauses[reason.ordinal()];
    }

    /** Under this monitor: counts a hold taken, and stops reading if it is the first. */
    private void take(final Reason reason) {
        pauses[reason.ordinal()]++;
        if (holds++ == 0 && transport != null) {
            transport.setReadSuspended(true);
        }
    }

    /** Under this monitor: counts a hold released, and starts reading if it was the last. */
    private void drop() {
        if (--holds == 0 && transport != null) {
            transport.setReadSuspended(false);
        }
    }

    /** One reason to stop reading. See the class comment for who may call what. */
    public final class Hold {
        private final Reason reason;
        /** Written only under the gate's monitor, together with the count; read anywhere (volatile). */
        private volatile boolean held;
        /** When the hold was last taken (System.nanoTime); guarded by the gate's monitor, like the count. */
        private long since;

        private Hold(final Reason reason) {
            this.reason = reason;
        }

        /**
         * Reader: stops reading while {@code blocked} holds. Returns true if reading is now held by this
         * reason (stop decoding; the resume re-enters the decoder), false if the cause went away meanwhile.
         * A hold already taken returns true at once.
         */
        public boolean pause(final BooleanSupplier blocked) {
            synchronized (ReadGate.this) {
                if (held) {
                    return true;
                }
                held = true; // with the count, so a release sees both or neither
                since = System.nanoTime();
                take(reason);
            }
            obs.readSuspended(reason.observed);
            if (!blocked.getAsBoolean()) {
                release();
                return false;
            }
            return true;
        }

        /** Any thread, after removing the cause: reading may resume (once every other hold is gone too). */
        public void release() {
            if (!held) {
                return; // the common case (a call finishing below the limit): no monitor
            }
            final long nanos;
            synchronized (ReadGate.this) {
                if (!held) {
                    return;
                }
                held = false;
                drop();
                nanos = System.nanoTime() - since;
            }
            obs.readResumed(reason.observed, nanos);
        }

        /**
         * Any thread, after removing the cause: as {@link #release()}, but the hold stays if {@code blocked}, read
         * under the gate's monitor, says the cause is back. For a cause that other threads remove and the reader
         * alone re-creates (the outstanding-call count: callers free slots, the reader fills them): a releaser
         * that runs late, after the reader already saw its freed slot (its own re-check, or a resume from another
         * release), took it and parked the next call, would otherwise resume reading for nothing, and the reader
         * would take the hold again (one resume and one suspension too many: BadInputTest counted three
         * suspensions where two are possible). No wake-up is lost: a cause seen back was re-created after this
         * caller removed it, and whoever removes that one releases in turn.
         */
        public void releaseUnless(final BooleanSupplier blocked) {
            if (!held) {
                return;
            }
            final long nanos;
            synchronized (ReadGate.this) {
                if (!held || blocked.getAsBoolean()) {
                    return;
                }
                held = false;
                drop();
                nanos = System.nanoTime() - since;
            }
            obs.readResumed(reason.observed, nanos);
        }

        /** Whether this hold is taken. Any thread. */
        public boolean isHeld() {
            return held;
        }

        @Override
        public String toString() {
            return reason + (held ? " (held)" : "");
        }
    }
}
