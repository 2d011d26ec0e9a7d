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
 * and to a request that refers to the arguments' buffer.
 *
 * @param <Q> request type
 * @param <R> reply type
 */
@FunctionalInterface
public interface TypedCallHandler<Q, R> {
    R handle(Q request, IncomingCall call) throws Exception;
}
