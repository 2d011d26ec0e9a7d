package dev.braid;

import java.nio.ByteBuffer;

/**
 * Receives the outcome of one call made with
 * {@link Connection#callAsync(Procedure, ByteBuffer, CallOptions, ReplyHandler)} or its form with an
 * attachment: exactly one of the outcomes is reported, once. One handler object may serve any number of
 * calls; braid allocates nothing per call on this path.
 *
 * <p><b>Per-call context.</b> A call started with an attachment
 * ({@link Connection#callAsync(Procedure, ByteBuffer, CallOptions, ReplyHandler, Object)}) reports to the
 * forms of {@link #onReply(Procedure, int, ByteBuffer, Object) onReply} and
 * {@link #onFailure(Procedure, int, BraidException, Object) onFailure} that take it, so per-call state needs
 * no object per call and no map from serials. Braid always calls those forms (with a null attachment for a
 * call started without one); by default they call the forms without an attachment. Implement one pair:
 * the forms without an attachment throw {@link UnsupportedOperationException} unless overridden.
 *
 * <p><b>Threads.</b> Both methods run on the callback executor ({@link BraidConfig#callbackExecutor}). By
 * default that is a virtual thread per outcome: a handler may block, even on a braid call, without holding
 * up any connection, and the handlers of several calls may run at once, in any order. The handler object
 * itself is the task braid hands over (no allocation of braid's own; the default executor makes a
 * virtual thread). With {@link BraidConfig#DIRECT_CALLBACKS} (the direct form) a reply, and a failure that
 * arrives from the peer (an ERROR reply), run on the connection's I/O thread, and timeouts and closes report
 * from the timer or the closing thread: nothing is allocated per call, but a handler must not block (while
 * it runs no other frame of that connection is read; braid's blocking calls fail there with
 * {@link BlockingOperationException}). Either way it may start new calls.
 *
 * <p><b>Ownership.</b> {@code payload} is a read-only view of a pooled buffer, valid only until the call
 * returns: copy what you keep.
 */
public interface ReplyHandler {
    /**
     * The call succeeded. {@code payload} (position 0) is valid during this call only.
     *
     * @param procedure the procedure called
     * @param serial the call's serial
     * @param payload the reply payload view
     */
    default void onReply(final Procedure procedure, final int serial, final ByteBuffer payload) {
        throw new UnsupportedOperationException("ReplyHandler " + getClass().getName()
                + " implements neither form of onReply");
    }

    /**
     * The call failed: {@link RemoteException} for the server's error, {@link CallTimeoutException},
     * {@link ConnectionClosedException}, or a {@link BraidException} of category CANCELLED.
     *
     * @param procedure the procedure called
     * @param serial the call's serial
     * @param error why it failed
     */
    default void onFailure(final Procedure procedure, final int serial, final BraidException error) {
        throw new UnsupportedOperationException("ReplyHandler " + getClass().getName()
                + " implements neither form of onFailure");
    }

    /**
     * The call succeeded; {@code attachment} is the one its caller gave (null if none).
     * {@code payload} (position 0) is valid during this call only.
     *
     * @param procedure the procedure called
     * @param serial the call's serial
     * @param payload the reply payload view
     * @param attachment the caller's context for the call, or null
     */
    default void onReply(final Procedure procedure, final int serial, final ByteBuffer payload,
                         final Object attachment) {
        onReply(procedure, serial, payload);
    }

    /**
     * The call failed; {@code attachment} is the one its caller gave (null if none).
     *
     * @param procedure the procedure called
     * @param serial the call's serial
     * @param error why it failed
     * @param attachment the caller's context for the call, or null
     */
    default void onFailure(final Procedure procedure, final int serial, final BraidException error,
                           final Object attachment) {
        onFailure(procedure, serial, error);
    }
}
