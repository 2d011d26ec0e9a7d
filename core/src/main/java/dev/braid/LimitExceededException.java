package dev.braid;

/** A configured or negotiated limit was reached. Names the limit and its value. */
public class LimitExceededException extends BraidException {
    private static final long serialVersionUID = 1L;

    private final String limit;
    private final long value;

    public LimitExceededException(final String limit, final long value, final String message) {
        super(Category.LIMIT, message + " (limit " + limit + " = " + value + ")");
        this.limit = limit;
        this.value = value;
    }

    /** The limit's configuration name, for example {@code maxQueuedCalls}. */
    public String limit() {
        return limit;
    }

    /** The limit's value in force. */
    public long value() {
        return value;
    }
}
