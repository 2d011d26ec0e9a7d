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
 *
 * <p><b>Drain.</b> {@link #shutdown()} stops new work and closes once the work in flight is done; a
 * draining server makes its connections drain the same way. A call refused by a drain fails with
 * {@link DrainingException}: it was not executed, so it may be retried elsewhere.
 *
 * <p><b>Callbacks.</b> The futures returned here complete, and {@link ReplyHandler}s run, on the callback
 * executor ({@link BraidConfig#callbackExecutor}): by default a virtual thread per callback, off braid's
 * I/O threads, so a {@code thenApply} that blocks holds up neither this connection nor any other. With
 * {@link BraidConfig#DIRECT_CALLBACKS} they run on the thread that completes the call, usually the I/O
 * thread: no hand-off, but nothing there may block.
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
     * <p><b>Threads.</b> Any thread but braid's I/O threads (it blocks: {@link BlockingOperationException}
     * there). {@code args} and {@code replyInto} stay the caller's; braid reads the one and writes the other
     * only during the call.
     *
     * @param procedure the procedure to call
     * @param args the arguments
     * @param replyInto where the reply payload is copied
     * @param options timeout; {@link CallOptions#DEFAULT} for the connection's defaults
     * @return the length of the reply payload
     * @throws ReplyTooLargeException      ({@link LimitExceededException} "replyBuffer") if the payload is
     *                                     larger than {@code replyInto.remaining()}: nothing is copied into
     *                                     the buffer, and the exception keeps a copy of the reply
     * @throws RemoteException             the server's error
     * @throws CallTimeoutException        if the options' (or the connection's default) timeout passed
     * @throws ConnectionClosedException   if the connection closed before the reply
     * @throws BraidException              CANCELLED if the thread was interrupted while waiting (its interrupt
     *                                     status is kept)
     */
    int call(Procedure procedure, ByteBuffer args, ByteBuffer replyInto, CallOptions options);

    /**
     * An asynchronous call that allocates nothing per call of braid's own: sends {@code args}' remaining
     * bytes (not consumed) and reports the outcome to {@code handler} (see {@link ReplyHandler} for its
     * threads and the payload's lifetime; the default callback executor makes a virtual thread per outcome,
     * {@link BraidConfig#DIRECT_CALLBACKS} nothing at all). With a timeout (in the options or the connection's default) braid arms one
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
     * As {@link #callAsync(Procedure, ByteBuffer, CallOptions, ReplyHandler)}, with a per-call
     * {@code attachment} handed back to the handler's
     * {@link ReplyHandler#onReply(Procedure, int, ByteBuffer, Object)} or
     * {@link ReplyHandler#onFailure(Procedure, int, BraidException, Object)}: the caller's context for this
     * call (a request object, a slot index), so one handler serves many calls without a map. Allocation-free
     * like the form without it. Any thread, braid's I/O threads included (it never blocks).
     *
     * @param procedure the procedure to call
     * @param args the arguments; their remaining bytes are sent, not consumed
     * @param options timeout; {@link CallOptions#DEFAULT} for the connection's defaults
     * @param handler receives the reply or the failure
     * @param attachment the caller's context for this call, handed back to {@code handler}; may be null
     */
    void callAsync(Procedure procedure, ByteBuffer args, CallOptions options, ReplyHandler handler,
                   Object attachment);

    // ------------------------------------------------------------------ typed calls

    /**
     * A typed blocking call: encodes {@code request} with the descriptor's request marshaller straight into
     * the call frame, waits, and returns the reply decoded by its reply marshaller. braid allocates nothing
     * per call on this path (the record is recycled, the payload read through a reusable view); what the
     * marshallers allocate is theirs. Any thread but braid's I/O threads ({@link BlockingOperationException}).
     *
     * @param <Q> the request type
     * @param <R> the reply type
     * @param procedure the typed procedure: its address and the marshallers of its request and reply
     * @param request the call's request, encoded by the request marshaller
     * @param options timeout; {@link CallOptions#DEFAULT} for the connection's defaults
     * @return the reply, decoded by the reply marshaller
     * @throws BraidException as {@link #call(Procedure, ByteBuffer, ByteBuffer, CallOptions)}, and category
     *                        PROTOCOL if the reply cannot be decoded (the connection stays open)
     */
    <Q, R> R call(ProcedureDescriptor<Q, R> procedure, Q request, CallOptions options);

    /**
     * A typed blocking call with the connection's default options
     * (see {@link #call(ProcedureDescriptor, Object, CallOptions)}).
     *
     * @param <Q> the request type
     * @param <R> the reply type
     * @param procedure the typed procedure: its address and the marshallers of its request and reply
     * @param request the call's request, encoded by the request marshaller
     * @return the reply, decoded by the reply marshaller
     */
    default <Q, R> R call(final ProcedureDescriptor<Q, R> procedure, final Q request) {
        return call(procedure, request, CallOptions.DEFAULT);
    }

    /**
     * As {@link #call(ProcedureDescriptor, Object, CallOptions)}, decoding the reply into {@code replyInto}
     * ({@link Marshaller#read(ByteBuffer, Object)}): with a mutable reply type, a caller that keeps one
     * object decodes every reply without allocating.
     *
     * @param <Q> the request type
     * @param <R> the reply type
     * @param procedure the typed procedure: its address and the marshallers of its request and reply
     * @param request the call's request, encoded by the request marshaller
     * @param replyInto the object the reply is decoded into; may be null (the marshaller then makes a new one)
     * @param options timeout; {@link CallOptions#DEFAULT} for the connection's defaults
     * @return the decoded reply: what the reply marshaller's {@code read(src, replyInto)} returns,
     *         {@code replyInto} itself when it fills the object it is given
     */
    <Q, R> R call(ProcedureDescriptor<Q, R> procedure, Q request, R replyInto, CallOptions options);

    /**
     * A typed asynchronous call. The future completes with the decoded reply (on the callback
     * executor), or exceptionally as {@link #callAsync(Procedure, ByteBuffer, CallOptions)};
     * cancelling it abandons the call. Any thread, braid's I/O threads included.
     *
     * @param <Q> the request type
     * @param <R> the reply type
     * @param procedure the typed procedure: its address and the marshallers of its request and reply
     * @param request the call's request, encoded by the request marshaller
     * @param options timeout; {@link CallOptions#DEFAULT} for the connection's defaults
     * @return completes with the reply decoded by the reply marshaller, or exceptionally with the call's failure
     */
    <Q, R> CompletableFuture<R> callAsync(ProcedureDescriptor<Q, R> procedure, Q request, CallOptions options);

    /**
     * A typed asynchronous call that allocates nothing per call: the decoded reply or the failure goes to
     * {@code handler} with {@code attachment} (see {@link TypedReplyHandler} for its threads). Any thread,
     * braid's I/O threads included (it never blocks).
     *
     * @param <Q> the request type
     * @param <R> the reply type
     * @param procedure the typed procedure: its address and the marshallers of its request and reply
     * @param request the call's request, encoded by the request marshaller
     * @param options timeout; {@link CallOptions#DEFAULT} for the connection's defaults
     * @param handler receives the decoded reply or the failure
     * @param attachment the caller's context for this call, handed back to {@code handler}; may be null
     * @throws LimitExceededException    if the call is too large or too many calls are queued (nothing is sent)
     * @throws ConnectionClosedException if the connection is closed (nothing is sent)
     */
    <Q, R> void callAsync(ProcedureDescriptor<Q, R> procedure, Q request, CallOptions options,
                          TypedReplyHandler<R> handler, Object attachment);

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
     * <p>The opening reply's payload stays readable on the stream ({@link BraidStream#openingReply()}).
     * Any thread but braid's I/O threads ({@link BlockingOperationException}); use
     * {@link #openStreamAsync} there.
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
     * Opens a stream without blocking: the future completes with the stream once the server accepted it (on
     * the callback executor), or exceptionally as {@link #openStream} would throw. Without a free slot it
     * fails at once, or, with {@link StreamOptions#waitForSlot()}, waits for one on a virtual thread of the
     * handler executor, never on the caller's. Cancelling the future gives the stream up: a call still queued
     * never leaves (its slot is free at once), one already sent is aborted when its reply comes. Any thread,
     * braid's I/O threads included. {@code args}' remaining bytes are copied before this returns.
     *
     * @param procedure the stream procedure
     * @param args the opening call's arguments
     * @param options how long to wait for a slot, and the opening call's timeout
     * @return completes with the open stream
     */
    CompletableFuture<BraidStream> openStreamAsync(Procedure procedure, ByteBuffer args, StreamOptions options);

    /**
     * A typed {@link #openStream}: the request encoded by the descriptor's request marshaller.
     *
     * @param <Q> the request type
     * @param procedure the typed stream procedure
     * @param request the opening call's request
     * @param options how long to wait for a slot, and the opening call's timeout
     * @return the open stream
     */
    <Q> BraidStream openStream(ProcedureDescriptor<Q, ?> procedure, Q request, StreamOptions options);

    /**
     * A typed {@link #openStreamAsync}.
     *
     * @param <Q> the request type
     * @param procedure the typed stream procedure
     * @param request the opening call's request
     * @param options how long to wait for a slot, and the opening call's timeout
     * @return completes with the open stream
     */
    <Q> CompletableFuture<BraidStream> openStreamAsync(ProcedureDescriptor<Q, ?> procedure, Q request,
                                                       StreamOptions options);

    // ------------------------------------------------------------------ graceful drain

    /**
     * Begins a graceful drain (docs/protocol.md §3.1): new calls and streams fail at once with a
     * {@link DrainingException} (never sent: retry them on another connection), calls still waiting for a
     * slot fail with it now, the server is told with a DRAIN message (when negotiated), and calls and
     * streams in flight go on; once every call sent was answered and every stream ended, the connection
     * closes (reason LOCAL_CLOSE, {@code closed gracefully}). The same drain starts by itself when the server
     * drains. Does not block; idempotent. Any thread, braid's I/O threads included. Events may still be
     * sent and received while draining.
     */
    void shutdown();

    /**
     * {@return whether a drain began, here ({@link #shutdown()}) or because the server drains}
     */
    boolean isDraining();

    /**
     * Waits until the connection closed (after {@link #shutdown()}, a drain by the server, or any other
     * close), or {@code timeout} passed; {@link #abort()} then ends what is left. Not on braid's I/O threads
     * ({@link BlockingOperationException}).
     *
     * @param timeout how long to wait at most
     * @return true if the connection closed, false at the timeout
     * @throws BraidException CANCELLED if the thread was interrupted (its interrupt status is kept)
     */
    boolean awaitTermination(java.time.Duration timeout);

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
