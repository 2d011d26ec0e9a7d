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
    /**
     * Serves one stream.
     *
     * @param request the opening call's decoded request
     * @param call the opening call: answer it to accept the stream
     * @param stream the stream
     * @throws Exception anything: an ERROR reply before the answer, an abort after it (as for a
     *                   {@link StreamHandler})
     */
    void handle(Q request, IncomingCall call, BraidStream stream) throws Exception;
}
