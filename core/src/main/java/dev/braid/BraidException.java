package dev.braid;

/**
 * Base of every error braid reports. {@link #category()} says what kind of failure it is, so callers can
 * branch without parsing messages; the message itself names the facts (the limit and its value, the call,
 * the connection).
 */
public class BraidException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** What kind of failure. */
    public enum Category {
        /** The peer broke the wire protocol; the connection is closed. */
        PROTOCOL,
        /** The peer answered with an error (a {@code remote_error}). */
        REMOTE,
        /** A call or handshake did not complete in time. */
        TIMEOUT,
        /** The caller cancelled. */
        CANCELLED,
        /** The connection is closed or was lost. */
        CONNECTION_CLOSED,
        /** A configured or negotiated limit was reached. */
        LIMIT,
        /** Invalid configuration or argument. */
        CONFIG,
        /** The requested I/O backend cannot run here. */
        BACKEND_UNAVAILABLE,
        /** An I/O error from the operating system. */
        IO,
        /**
         * The connection or the server is draining ({@link DrainingException}): the call or stream was not
         * started there; it may be retried on another connection.
         */
        DRAINING
    }

    /** What kind of failure this is. */
    private final Category category;

    /**
     * An error of the given category.
     *
     * @param category what kind of failure
     * @param message the facts: the limit and its value, the call, the connection
     */
    public BraidException(final Category category, final String message) {
        super(message);
        this.category = category;
    }

    /**
     * An error of the given category, caused by another.
     *
     * @param category what kind of failure
     * @param message the facts: the limit and its value, the call, the connection
     * @param cause the underlying error
     */
    public BraidException(final Category category, final String message, final Throwable cause) {
        super(message, cause);
        this.category = category;
    }

    /** {@return what kind of failure this is} */
    public Category category() {
        return category;
    }
}
