package dev.braid;

import java.nio.ByteBuffer;

/**
 * The reply to {@link Connection#call(Procedure, ByteBuffer, ByteBuffer, CallOptions)} did not fit the
 * caller's buffer (limit {@code replyBuffer}, its room). Nothing was copied into the buffer; the reply
 * itself is not lost: {@link #reply()} holds a copy of its payload, so the caller can use it or retry with
 * a buffer of {@link #replyLength()} bytes knowing the size.
 */
public final class ReplyTooLargeException extends LimitExceededException {
    private static final long serialVersionUID = 1L;

    private final transient ByteBuffer reply;

    /**
     * A reply that did not fit.
     *
     * @param procedure the procedure called
     * @param room the room the caller's buffer had, in bytes
     * @param reply a copy of the reply's payload (its remaining bytes), which the exception keeps as a
     *              read-only view
     */
    public ReplyTooLargeException(final Procedure procedure, final int room, final ByteBuffer reply) {
        super("replyBuffer", room, "the reply to " + procedure + " has " + reply.remaining()
                + " bytes of payload; the buffer given has room for " + room
                + " (the reply is kept in the exception: reply())");
        this.reply = reply.asReadOnlyBuffer();
    }

    /** {@return the reply's payload length in bytes} */
    public int replyLength() {
        return reply.remaining();
    }

    /** {@return a read-only copy of the whole reply payload, position 0 (a heap buffer: no pooled memory)} */
    public ByteBuffer reply() {
        return reply.duplicate();
    }
}
