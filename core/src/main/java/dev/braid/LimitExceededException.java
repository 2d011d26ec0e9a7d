package dev.braid;

/** A configured or negotiated limit was reached. Names the limit and its value. */
public class LimitExceededException extends BraidException {
    private static final long serialVersionUID = 1L;

    /** The limit's configuration name. */
    private final String limit;
    /** The limit's value in force. */
    private final long value;

    /**
     * A limit that was reached.
     *
     * @param limit the limit's configuration name, for example {@code maxQueuedCalls}
     * @param value its value in force
     * @param message what could not be done; the limit and its value are appended
     */
    public LimitExceededException(final String limit, final long value, final String message) {
        super(Category.LIMIT, message + " (limit " + limit + " = " + value + ")");
        this.limit = limit;
        this.value = value;
    }

    /**
     * The limit's configuration name, for example {@code maxQueuedCalls}.
     *
     * @return the name
     */
    public String limit() {
        return limit;
    }

    /**
     * The limit's value in force.
     *
     * @return the value
     */
    public long value() {
        return value;
    }
}
