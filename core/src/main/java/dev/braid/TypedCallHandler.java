package dev.braid;

/**
 * Serves a typed procedure ({@link BraidServer.Builder#handle(ProcedureDescriptor, TypedCallHandler)}): gets
 * the decoded request and returns the reply, which braid encodes with the descriptor's reply marshaller
 * straight into the reply frame. A handler may instead answer itself ({@link IncomingCall#reply},
 * {@link IncomingCall#fail}) or {@link IncomingCall#deferReply() defer}: its return value is then ignored.
 * Exceptions become ERROR replies as for a {@link CallHandler}; a request the marshaller cannot decode is
 * answered with {@code VIR_ERR_RPC} without running the handler.
 *
 * <p>Runs where its {@link HandlerMode} says; {@link IncomingCall}'s lifetime rules apply to {@code call}
 * and to the request. The request is decoded with {@link Marshaller#read(java.nio.ByteBuffer, Object)}, given
 * the object the previous call served by the same recycled record was decoded into: with
 * {@link HandlerMode#NON_BLOCKING} and a marshaller that fills the object it is given, serving allocates
 * nothing, and the request (like {@code call}) must not be kept past the handler's return. Returning the
 * request object itself, changed, as the reply is allowed (an echo).
 *
 * <p><b>Threads.</b> Blocking handlers run on the handler executor, non-blocking ones on the connection's I/O
 * thread (they must not block: braid's blocking calls refuse to run there).
 *
 * @param <Q> request type
 * @param <R> reply type
 */
@FunctionalInterface
public interface TypedCallHandler<Q, R> {
    /**
     * Handles one call.
     *
     * @param request the decoded request; not to be kept past the return on the allocation-free path
     * @param call the call: its peer, and the means to answer it directly or defer the answer
     * @return the reply, encoded by the descriptor's reply marshaller; ignored if the handler answered the call
     *         itself or deferred the answer
     * @throws Exception anything: it becomes an ERROR reply (as for a {@link CallHandler})
     */
    R handle(Q request, IncomingCall call) throws Exception;
}
