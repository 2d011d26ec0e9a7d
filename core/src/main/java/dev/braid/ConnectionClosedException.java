package dev.braid;

/**
 * The connection a call (or stream) depended on is closed or was lost. {@link #reason()} says why; the
 * cause, when there is one, is the underlying error.
 */
public final class ConnectionClosedException extends BraidException {
    private static final long serialVersionUID = 1L;

    /** Why a connection ended. */
    public enum Reason {
        /** The peer closed the connection in an orderly way (end of stream). */
        PEER_CLOSED("peer closed the connection"),
        /** The connection was reset or an I/O error broke it. */
        RESET("connection reset"),
        /** The peer broke the protocol; see the cause. */
        PROTOCOL_ERROR("protocol error"),
        /** This side closed it. */
        LOCAL_CLOSE("closed locally"),
        /** Keepalive pings, or the HELLO, went unanswered. */
        PEER_NOT_RESPONDING("peer not responding"),
        /**
         * The TLS handshake failed or timed out, or TLS broke afterwards (a bad record, a refused
         * renegotiation); the message says which, and names the certificate problem when there is one.
         */
        TLS_FAILED("TLS failed"),
        /**
         * The peer's TCP connection ended without a TLS close_notify: the data may have been cut short (a
         * truncation attack, or a peer that crashed).
         */
        TLS_TRUNCATED("connection cut without a TLS close_notify (truncation)"),
        /** A bug inside braid or in a callback run on the I/O thread; see the cause. */
        INTERNAL_ERROR("internal error");

        private final String text;

        Reason(final String text) {
            this.text = text;
        }

        /** {@return how the reason reads in a message, for example "peer closed the connection"} */
        public String text() {
            return text;
        }
    }

    /** Why the connection ended. */
    private final Reason reason;
    /** The call this failed was never handed to the socket (so it was not executed). */
    private final boolean callNotSent;

    /**
     * A connection that ended.
     *
     * @param reason why
     * @param detail more facts for the message, or null
     * @param cause the underlying error, or null
     */
    public ConnectionClosedException(final Reason reason, final String detail, final Throwable cause) {
        this(reason, detail, cause, false);
    }

    /**
     * A connection that ended, failing a call that was, or was not, handed to the socket.
     *
     * @param reason why
     * @param detail more facts for the message, or null
     * @param cause the underlying error, or null
     * @param callNotSent whether the call this fails was never handed to the socket
     */
    public ConnectionClosedException(final Reason reason, final String detail, final Throwable cause,
                                     final boolean callNotSent) {
        super(Category.CONNECTION_CLOSED, reason.text() + (detail == null || detail.isEmpty() ? "" : ": " + detail),
                cause);
        this.reason = reason;
        this.callNotSent = callNotSent;
    }

    /**
     * {@return true if the call this exception failed never left this side (it waited for a call slot when the
     * connection ended), so the server never saw it and it may be retried; false for a connection's own
     * reason and for a call that was sent, which may have executed}
     */
    public boolean callNotSent() {
        return callNotSent;
    }

    /** {@return why the connection ended} */
    public Reason reason() {
        return reason;
    }
}
