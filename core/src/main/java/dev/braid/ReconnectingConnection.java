package dev.braid;

/**
 * A client {@link Connection} that reconnects by itself when its connection is lost
 * ({@link Braid#connectReconnecting}), with backoff as its {@link ReconnectPolicy} says, and says HELLO
 * again each time. Opt-in: a plain {@link Braid#connect} connection stays lost.
 *
 * <h2>What survives a reconnection</h2>
 * <ul>
 *   <li><b>Calls not sent yet</b> (made while reconnecting, or still waiting for a call slot or refused by a
 *       draining server when the connection went) are sent on the new connection. While no connection is
 *       up they wait, at most {@link BraidConfig#maxQueuedCalls()} of them ({@link LimitExceededException}
 *       beyond), each at most its timeout ({@link CallTimeoutException}).</li>
 *   <li><b>Calls already sent</b> fail with a {@link ConnectionClosedException} whose message says the call
 *       may have executed: they are never retried silently.</li>
 *   <li><b>Streams</b> open when the connection went fail once, with the connection's reason; they are not
 *       reopened. A stream opened while reconnecting waits for the new connection like a call.</li>
 *   <li><b>Event listeners</b> registered with {@link #onEvent} stay registered on every new connection.</li>
 *   <li>{@link #stats()}, {@link #limits()} and the addresses are those of the current (or last)
 *       connection.</li>
 *   <li>{@link ReplyHandler}s and {@link TypedReplyHandler}s hear the serial of the connection that answered;
 *       a failure reports serial 0 (the call may have had several, one per connection it was sent on).</li>
 * </ul>
 *
 * <p><b>The first connection.</b> Made by {@link Braid#connectReconnecting}, which throws if it cannot, unless
 * {@link ReconnectPolicy#retryFirstConnect()}: then the connection starts in {@link State#RECONNECTING} and
 * connects in the background like after a loss; until it is up, {@link #limits()} throws
 * {@link IllegalStateException}, {@link #remoteAddress()} is the target, {@link #localAddress()} null and
 * {@link #stats()} all zeros; {@link #reconnects()} does not count that first connection.
 *
 * <p><b>Threads.</b> Thread-safe, like {@link Connection}. State listeners run one at a time, in the order
 * of the transitions, on the callback executor ({@link BraidConfig#callbackExecutor}).
 *
 * <p><b>Cost.</b> The blocking calls ({@code call} into a buffer, the typed {@code call}s) go straight to the
 * current connection and allocate nothing more than on a plain connection: the caller's thread keeps the
 * arguments and makes a call that was not sent again itself. The asynchronous forms ({@code callAsync},
 * {@code openStream*}) keep a copy of the arguments and a future per call, to send it again.
 *
 * <p>{@link #close()} and {@link #abort()} stop reconnecting and close for good; {@link #shutdown()} drains
 * the current connection and then stops. {@link #closeFuture()} completes only then.
 */
public interface ReconnectingConnection extends Connection {

    /** Where the connection stands. */
    enum State {
        /** A connection is up (HELLO done). */
        CONNECTED,
        /** The connection was lost; waiting for the next attempt or connecting. */
        RECONNECTING,
        /** Closed for good: by the application, or the policy gave up. */
        CLOSED
    }

    /** Sees each transition of a {@link ReconnectingConnection}. */
    @FunctionalInterface
    interface StateListener {
        /**
         * One transition, in order.
         *
         * @param from    the state before
         * @param to      the state after
         * @param cause   why (the lost connection's reason, the last failed attempt's error), or null
         */
        void onStateChange(State from, State to, Throwable cause);
    }

    /** {@return the current state} */
    State state();

    /**
     * Adds a listener for every later transition (run on the callback executor, in order).
     *
     * @param listener the listener
     */
    void addStateListener(StateListener listener);

    /** {@return how many times a lost connection was replaced by a new one} */
    int reconnects();
}
