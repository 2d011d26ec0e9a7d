package dev.braid;

/**
 * Serves a typed stream procedure ({@link BraidServer.Builder#stream(ProcedureDescriptor, TypedStreamHandler)}):
 * a {@link StreamHandler} that gets the opening call's decoded request. It accepts the stream by answering
 * the call, typically with the descriptor's reply marshaller ({@code call.reply(D.reply(), value)}), then
 * uses the stream as any stream handler does. A request the marshaller cannot decode is answered with
 * {@code VIR_ERR_RPC} without running the handler (the client's {@code openStream} fails with it).
 *
 * @param <Q> request type
 */
@FunctionalInterface
public interface TypedStreamHandler<Q> {
    void handle(Q request, IncomingCall call, BraidStream stream) throws Exception;
}
