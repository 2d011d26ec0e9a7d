package dev.braid;

import java.nio.ByteBuffer;

/**
 * Receives the outcome of one call made with
 * {@link Connection#callAsync(Procedure, ByteBuffer, CallOptions, ReplyHandler)}: exactly one of the two
 * methods is called, once. One handler object may serve any number of calls (the serial says which); braid
 * allocates nothing per call on this path.
 *
 * <p><b>Threads.</b> {@link #onReply} runs on the connection's I/O thread, as do failures that arrive from
 * the peer (an ERROR reply); timeouts and closes may report from a timer or the closing thread. A handler
 * must not block: while it runs no other frame of that connection is read. It may start new calls.
 *
 * <p><b>Ownership.</b> {@code payload} is a read-only view of a pooled buffer, valid only until
 * {@code onReply} returns: copy what you keep.
 */
public interface ReplyHandler {
    /**
     * The call succeeded. {@code payload} (position 0) is valid during this call only.
     *
     * @param procedure the procedure called
     * @param serial the call's serial
     * @param payload the reply payload view
     */
    void onReply(Procedure procedure, int serial, ByteBuffer payload);

    /**
     * The call failed: {@link RemoteException} for the server's error, {@link CallTimeoutException},
     * {@link ConnectionClosedException}, or a {@link BraidException} of category CANCELLED.
     *
     * @param procedure the procedure called
     * @param serial the call's serial
     * @param error why it failed
     */
    void onFailure(Procedure procedure, int serial, BraidException error);
}
