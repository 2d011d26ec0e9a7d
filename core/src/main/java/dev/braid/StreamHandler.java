package dev.braid;

/**
 * Serves a stream procedure on the server. Runs like a {@link CallHandler} (a virtual thread by default).
 * The handler accepts the stream by answering the opening call ({@code call.reply(...)}, REPLY OK), then
 * reads and writes {@code stream} and ends it with {@link BraidStream#finish()} or
 * {@link BraidStream#abort}. An exception thrown before the reply becomes an ERROR reply; after it, an
 * abort carrying a remote_error, which the client's next read, write or {@code finish()} reports. A handler
 * that returns with its stream still open and no {@link StreamListener} set aborts the stream, saying so;
 * with a listener set, the stream lives on (non-blocking style) until finished or aborted.
 */
@FunctionalInterface
public interface StreamHandler {
    /**
     * Serves one stream.
     *
     * @param call the opening call: answer it to accept the stream
     * @param stream the stream
     * @throws Exception anything: an ERROR reply before the answer, an abort after it (see above)
     */
    void handle(IncomingCall call, BraidStream stream) throws Exception;
}
