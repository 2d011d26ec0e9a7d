package dev.braid;

import java.nio.ByteBuffer;
import java.util.concurrent.CompletableFuture;

/**
 * A client connection: calls, events, and the means to watch them. Thread-safe: any number of threads may
 * call at once; replies are matched to calls by serial whatever order they arrive in.
 *
 * <p>Calls beyond the server's outstanding-call limit (learned in HELLO) wait in a local queue
 * ({@link ConnectionStats#callsQueued()}) and are sent as earlier calls complete; beyond
 * {@link BraidConfig#maxQueuedCalls()} new calls fail fast with {@link LimitExceededException}.
 */
public interface Connection extends Peer {

    /**
     * Starts a call with a copy of {@code args}' remaining bytes as payload.
     *
     * @param procedure the procedure to call
     * @param args the arguments; their remaining bytes are copied, the position is left alone
     * @param options timeout; {@link CallOptions#DEFAULT} for the connection's defaults
     * @return completes with the {@link Reply} (which the caller must close), or exceptionally with a
     * {@link RemoteException}, {@link CallTimeoutException}, {@link ConnectionClosedException} or
     * {@link LimitExceededException}. Cancelling the future abandons the call: a reply that arrives later is
     * dropped and counted in {@link ConnectionStats#lateReplies()}.
     */
    CompletableFuture<Reply> callAsync(Procedure procedure, ByteBuffer args, CallOptions options);

    /**
     * Starts a call whose {@code length} payload bytes {@code writer} writes straight into the frame.
     *
     * @param procedure the procedure to call
     * @param length the exact payload length
     * @param writer writes exactly {@code length} bytes into the frame
     * @param options timeout; {@link CallOptions#DEFAULT} for the connection's defaults
     * @return completes like {@link #callAsync(Procedure, ByteBuffer, CallOptions)}
     */
    CompletableFuture<Reply> callAsync(Procedure procedure, int length, PayloadWriter writer, CallOptions options);

    /**
     * Starts a call with a copy of {@code args}, with the connection's default options.
     *
     * @param procedure the procedure to call
     * @param args the arguments
     * @return completes like {@link #callAsync(Procedure, ByteBuffer, CallOptions)}
     */
    default CompletableFuture<Reply> callAsync(final Procedure procedure, final byte[] args) {
        return callAsync(procedure, ByteBuffer.wrap(args), CallOptions.DEFAULT);
    }

    /**
     * A call that allocates nothing per call: sends {@code args}' remaining bytes (not consumed), waits for
     * the reply and copies its payload into {@code replyInto} from its position, advancing it.
     *
     * @param procedure the procedure to call
     * @param args the arguments
     * @param replyInto where the reply payload is copied
     * @param options timeout; {@link CallOptions#DEFAULT} for the connection's defaults
     * @return the length of the reply payload
     * @throws LimitExceededException      ("replyBuffer") if the payload is larger than
     *                                     {@code replyInto.remaining()}; nothing is copied then
     * @throws RemoteException             the server's error
     * @throws CallTimeoutException        if the options' (or the connection's default) timeout passed
     * @throws ConnectionClosedException   if the connection closed before the reply
     * @throws BraidException              CANCELLED if the thread was interrupted while waiting (its interrupt
     *                                     status is kept)
     */
    int call(Procedure procedure, ByteBuffer args, ByteBuffer replyInto, CallOptions options);

    /**
     * An asynchronous call that allocates nothing per call: sends {@code args}' remaining bytes (not
     * consumed) and reports the outcome to {@code handler} (see {@link ReplyHandler} for its threads and
     * the payload's lifetime). With a timeout (in the options or the connection's default) braid arms one
     * timer per call, which does allocate.
     *
     * @param procedure the procedure to call
     * @param args the arguments
     * @param options timeout; {@link CallOptions#DEFAULT} for the connection's defaults
     * @param handler receives the reply or the failure
     * @throws LimitExceededException    if the call is too large or too many calls are queued (nothing is sent)
     * @throws ConnectionClosedException if the connection is closed (nothing is sent)
     */
    void callAsync(Procedure procedure, ByteBuffer args, CallOptions options, ReplyHandler handler);

    /**
     * Blocking call: returns a copy of the reply's payload.
     *
     * @param procedure the procedure to call
     * @param args the arguments
     * @param options timeout; {@link CallOptions#DEFAULT} for the connection's defaults
     * @return the reply's payload
     * @throws BraidException the same failures as {@link #callAsync}, unwrapped
     */
    byte[] call(Procedure procedure, byte[] args, CallOptions options);

    /**
     * Blocking call with the connection's default options.
     *
     * @param procedure the procedure to call
     * @param args the arguments
     * @return the reply's payload
     */
    default byte[] call(final Procedure procedure, final byte[] args) {
        return call(procedure, args, CallOptions.DEFAULT);
    }

    /**
     * Opens a stream: calls {@code procedure} (a stream procedure on the server) with {@code args} and, once
     * the server accepted it (REPLY OK), returns the stream. Blocks until then.
     *
     * <p>At most the server's {@code maxConcurrentStreams} streams hold a slot at once; a slot is free only
     * when both sides are done with its stream (an aborted stream's server handler has returned). When none
     * is free this fails at once with {@link LimitExceededException} naming the limit, or waits up to
     * {@link StreamOptions#waitForSlot()}.
     *
     * @param procedure the stream procedure
     * @param args the opening call's arguments
     * @param options how long to wait for a slot, and the opening call's timeout
     * @return the open stream
     * @throws RemoteException        if the server refused the stream
     * @throws LimitExceededException if no stream slot became free in time
     */
    BraidStream openStream(Procedure procedure, ByteBuffer args, StreamOptions options);

    /**
     * Opens a stream with {@link StreamOptions#DEFAULT} (no wait for a slot).
     *
     * @param procedure the stream procedure
     * @param args the opening call's arguments
     * @return the open stream
     */
    default BraidStream openStream(final Procedure procedure, final byte[] args) {
        return openStream(procedure, ByteBuffer.wrap(args), StreamOptions.DEFAULT);
    }

    /**
     * Registers the listener for events on {@code procedure}, replacing any earlier one.
     *
     * @param procedure the event procedure
     * @param listener receives its events
     */
    void onEvent(Procedure procedure, EventListener listener);

    /**
     * Whether braid's extensions were negotiated (false: libvirt-compatible mode).
     *
     * @return whether they were
     */
    boolean extensionsNegotiated();

    /**
     * The limits in force on this connection after HELLO.
     *
     * @return the limits
     */
    NegotiatedLimits limits();
}
