package dev.braid;

/**
 * What an operator wants to see of a {@link Braid}'s connections, as events: connections opened and
 * closed, calls started and ended, streams opened and ended, limit refusals, protocol errors and read
 * suspensions. Set one on {@link BraidConfig#observer(BraidObserver)}; every method has an empty default,
 * so an observer overrides only what it counts. {@code braid-micrometer} binds one to Micrometer meters.
 *
 * <h2>Cost</h2>
 * Without an observer, braid does not look at the clock or build anything for it: each hook is one
 * branch on a field that is null. With one, the hooks on the hot path (calls and streams) allocate nothing:
 * they pass objects braid already holds (the connection, the {@link Procedure}) and primitives. An
 * observer's own work is on the caller's thread, so it must be quick and must not allocate if the path
 * is to stay allocation-free.
 *
 * <h2>Threads</h2>
 * Methods are called on whichever thread the event happens on: the connection's I/O thread (replies,
 * protocol errors, suspensions), the caller's thread (call started, limit refusals), a handler's thread
 * (server answers), braid's timer thread (call timeouts) or a closing thread. Calls for one connection may
 * come from several threads at once, so an implementation must be thread-safe. It must never block, and
 * never call back into braid in a way that waits (a blocking call from an I/O thread is refused). An
 * exception thrown by a method is caught and logged (logger {@code dev.braid.observer}) and does not
 * change what braid does.
 *
 * <h2>Order</h2>
 * For one connection: {@link #connectionOpened} comes before every other event of that connection and
 * {@link #connectionClosed} after the ends of the calls and streams the close failed. For one call,
 * {@link #callStarted} comes before {@link #callEnded}, which comes exactly once; likewise
 * {@link #streamOpened} before {@link #streamEnded}. A stream's opening call is also a call: the stream is
 * registered first, so {@code streamOpened} comes before that call's {@code callStarted}. Events of
 * different calls may interleave in any order. A call's end is reported by the thread that settled it,
 * right after the outcome was handed over: a caller may already have its reply (and have started another
 * call) when {@code callEnded} of the first one arrives. One exception, to spare a clock read per call: a
 * call settled on the connection's I/O thread while it works through bytes it read (a
 * {@link HandlerMode#NON_BLOCKING} handler's reply, an unknown procedure's error) is reported when that
 * pass ends, with the pass's end as its end (one clock read for all the calls of the pass).
 */
public interface BraidObserver {

    /** Which end of the connection this side is. */
    enum Side {
        /** This side connected ({@link Connection}). */
        CLIENT,
        /** This side accepted ({@link BraidServer}). */
        SERVER
    }

    /** How a call ended. */
    enum CallOutcome {
        /** Answered with a reply (client) or a reply was sent (server). */
        OK,
        /** Answered with an error (a remote_error: the handler failed, or the procedure is unknown). */
        ERROR,
        /** The caller's timeout passed first (client). */
        TIMEOUT,
        /** The caller cancelled or stopped waiting (client). */
        CANCELLED,
        /** The connection closed before an answer. */
        CLOSED,
        /** The reply broke the protocol (client; the connection closes too). */
        PROTOCOL_ERROR
    }

    /** Why a connection stopped reading its socket for a while. */
    enum Suspension {
        /** Server: {@link BraidConfig#maxOutstandingCalls()} calls are in flight. */
        CALL_LIMIT,
        /** Server: answers pile up because the peer does not read them. */
        UNREAD_ANSWERS,
        /** Event listeners are slower than the peer's events. */
        SLOW_EVENT_LISTENERS,
        /** libvirt-compatible mode: a stream's receive queue is full. */
        STREAM_QUEUE_FULL,
        /** Server: the peer opens streams faster than {@link BraidConfig#maxStreamOpensPerSecond()} allows. */
        STREAM_OPEN_RATE
    }

    /**
     * A connection was established (its socket is open; a client's HELLO may still be under way).
     *
     * @param connection the connection
     * @param side       this side's role on it
     */
    default void connectionOpened(Peer connection, Side side) {
    }

    /**
     * A connection closed. Once per connection, after its other events.
     *
     * @param connection the connection
     * @param side       this side's role on it
     * @param reason     why, with {@link ConnectionClosedException#reason()} the category
     */
    default void connectionClosed(Peer connection, Side side, ConnectionClosedException reason) {
    }

    /**
     * A call started: a client made it (before it is queued or sent) or a server received it.
     *
     * @param connection the connection
     * @param side       CLIENT: this side called; SERVER: this side serves it
     * @param procedure  the procedure
     * @param serial     the call's serial on this connection
     */
    default void callStarted(Peer connection, Side side, Procedure procedure, int serial) {
    }

    /**
     * A call ended. Exactly once per {@link #callStarted}.
     *
     * @param connection   the connection
     * @param side         as in {@link #callStarted}
     * @param procedure    the procedure
     * @param serial       the call's serial
     * @param outcome      how it ended
     * @param latencyNanos time from {@link #callStarted} to this event
     * @param requestBytes bytes of the call's frame (header included)
     * @param replyBytes   bytes of the answer's frame (header included); 0 when there was no answer
     */
    default void callEnded(Peer connection, Side side, Procedure procedure, int serial, CallOutcome outcome,
                           long latencyNanos, long requestBytes, long replyBytes) {
    }

    /**
     * A stream was opened: a client registered it before sending its opening call, or a server received
     * the call of a stream procedure.
     *
     * @param connection the connection
     * @param side       this side's role
     * @param procedure  the stream procedure
     * @param serial     the stream's serial (that of its opening call)
     */
    default void streamOpened(Peer connection, Side side, Procedure procedure, int serial) {
    }

    /**
     * A stream ended on this side: finished, aborted by either side, or failed with its connection. Exactly
     * once per {@link #streamOpened}.
     *
     * @param connection     the connection
     * @param side           this side's role
     * @param procedure      the stream procedure
     * @param serial         the stream's serial
     * @param bytesSent      payload bytes this side queued for sending on the stream
     * @param bytesReceived  payload bytes this side read from the stream
     * @param durationNanos  time from {@link #streamOpened} to this event
     * @param abortReason    null if the stream finished cleanly; otherwise why it did not
     */
    default void streamEnded(Peer connection, Side side, Procedure procedure, int serial, long bytesSent,
                             long bytesReceived, long durationNanos, BraidException abortReason) {
    }

    /**
     * Something was refused because a limit was reached: a call, event, stream or message on this side
     * ({@link LimitExceededException} thrown to the caller), a stream the peer opened past
     * {@link BraidConfig#maxConcurrentStreams()} (refused with an error), or, at a server, a connection whose
     * peer aborted more streams than {@link BraidConfig#maxPeerStreamAbortsPerWindow()} allows (closed: a
     * {@link #protocolError} follows).
     *
     * @param connection the connection
     * @param side       this side's role on it
     * @param limit      the limit's configuration name, for example {@code maxQueuedCalls}
     * @param value      its value in force
     * @param detail     what was refused
     */
    default void limitRefused(Peer connection, Side side, String limit, long value, String detail) {
    }

    /**
     * The peer broke the protocol; the connection closes with reason {@code PROTOCOL_ERROR} (a
     * {@link #connectionClosed} follows).
     *
     * @param connection the connection
     * @param side       this side's role on it
     * @param error      what was wrong
     */
    default void protocolError(Peer connection, Side side, ProtocolException error) {
    }

    /**
     * The connection stopped reading its socket for {@code reason} (each reason counts once while it holds;
     * reading resumes when every reason is gone).
     *
     * @param connection the connection
     * @param side       this side's role on it
     * @param reason     why
     */
    default void readSuspended(Peer connection, Side side, Suspension reason) {
    }

    /**
     * The reason given to {@link #readSuspended} went away.
     *
     * @param connection     the connection
     * @param side           this side's role on it
     * @param reason         the reason that ended
     * @param suspendedNanos how long it held
     */
    default void readResumed(Peer connection, Side side, Suspension reason, long suspendedNanos) {
    }
}
