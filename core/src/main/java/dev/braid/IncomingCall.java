package dev.braid;

import java.nio.ByteBuffer;

/**
 * A call received by a server, as its handler sees it.
 *
 * <p><b>Lifetime of {@link #args()}.</b> The arguments are a view of the pooled frame the call arrived in.
 * They are valid until the handler returns or, if the handler {@link #deferReply() deferred} its reply,
 * until the reply is sent. Copy what must live longer.
 *
 * <p><b>Threads.</b> {@code reply}/{@code fail} may be called from any thread, once: the first answer wins
 * and later ones throw {@link IllegalStateException}.
 *
 * <p><b>Non-blocking handlers ({@link HandlerMode#NON_BLOCKING}).</b> Their plain calls are served by
 * recycled objects: a call answered before its handler returns leaves its object (and the {@link #args()}
 * view) to the next call of the same procedure on that connection, so do not keep either past the return.
 * Such a call can be answered only from inside its handler (on the I/O thread); an answer from another
 * thread is refused with {@link IllegalStateException}. To answer later or elsewhere, call
 * {@link #deferReply()} inside the handler: that call's object is then not reused, and braid stops reusing
 * objects for that procedure on that connection.
 */
public interface IncomingCall {
    /** {@return the procedure called} */
    Procedure procedure();

    /** {@return the call's serial, as the client numbered it (unsigned on the wire)} */
    int serial();

    /**
     * Read-only view of the call's payload, position 0. See the lifetime rule above. Each call returns the
     * same view object rewound, so reading it twice means calling {@code args()} again.
     *
     * @return the arguments view
     */
    ByteBuffer args();

    /**
     * The connection the call came from (for sending events back to that client).
     *
     * @return the client connection
     */
    Peer peer();

    /**
     * Answers with a copy of {@code payload}.
     *
     * @param payload the reply payload, copied before this returns
     */
    void reply(byte[] payload);

    /**
     * Answers with a copy of {@code payload}'s remaining bytes.
     *
     * @param payload the reply payload; its remaining bytes are copied, its position is left alone
     */
    void reply(ByteBuffer payload);

    /**
     * Answers with {@code length} bytes written by {@code writer} straight into the reply frame.
     *
     * @param length the exact payload length
     * @param writer writes exactly {@code length} bytes into the buffer it is given
     */
    void reply(int length, PayloadWriter writer);

    /**
     * Answers with {@code value} encoded by {@code marshaller} straight into the reply frame (no copy, and
     * no allocation of braid's own): the typed form, e.g. {@code call.reply(D.reply(), value)}.
     *
     * @param <T> the value's type
     * @param marshaller encodes the value
     * @param value the reply's value
     */
    <T> void reply(Marshaller<T> marshaller, T value);

    /**
     * Answers with an ERROR reply carrying {@code error}.
     *
     * @param error the remote_error to send
     */
    void fail(RemoteError error);

    /**
     * Says the handler will answer later, possibly from another thread; the call's arguments stay valid
     * until then. The answer is still required: if the connection closes first, the call is dropped with it.
     */
    void deferReply();
}
