package dev.braid;

/**
 * Receives the outcome of one typed call made with
 * {@link Connection#callAsync(ProcedureDescriptor, Object, CallOptions, TypedReplyHandler, Object)}: exactly
 * one of the two methods is called, once, with the attachment the caller gave that call (so one handler
 * object serves any number of calls, each with its own context, and braid allocates nothing per call).
 *
 * <p><b>Threads.</b> As {@link ReplyHandler}: both methods run on the callback executor
 * ({@link BraidConfig#callbackExecutor}: by default a virtual thread, where they may block); with
 * {@link BraidConfig#DIRECT_CALLBACKS} {@link #onReply} runs on the connection's I/O thread and must not
 * block, and failures may come from a timer or a closing thread.
 *
 * <p><b>The reply.</b> Decoded by the descriptor's reply marshaller from the pooled frame just before the
 * call, with {@link Marshaller#read(java.nio.ByteBuffer, Object)}: braid passes the object it decoded a previous
 * reply into (its call records are recycled), so a marshaller that fills the object it is given decodes
 * without allocating, and the reply is valid only until {@code onReply} returns (copy what you keep). A
 * reply the marshaller cannot decode comes to {@link #onFailure} (category PROTOCOL; the connection stays
 * open).
 *
 * @param <R> the reply type
 */
public interface TypedReplyHandler<R> {
    /**
     * The call succeeded.
     *
     * @param serial the call's serial
     * @param reply the decoded reply, valid only until this method returns
     * @param attachment the context the caller gave the call, or null
     */
    void onReply(int serial, R reply, Object attachment);

    /**
     * The call failed: {@link RemoteException} for the server's error, {@link CallTimeoutException},
     * {@link ConnectionClosedException}, a {@link BraidException} of category CANCELLED, or one of category
     * PROTOCOL when the reply could not be decoded.
     *
     * @param serial the call's serial
     * @param error why it failed
     * @param attachment the context the caller gave the call, or null
     */
    void onFailure(int serial, BraidException error, Object attachment);
}
