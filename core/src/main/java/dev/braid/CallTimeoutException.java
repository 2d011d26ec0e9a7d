package dev.braid;

import java.time.Duration;

/** A call did not get its reply within its timeout. A reply that arrives later is dropped and counted. */
public final class CallTimeoutException extends BraidException {
    private static final long serialVersionUID = 1L;

    private final transient Procedure procedure;
    private final int serial;
    private final transient Duration timeout;

    public CallTimeoutException(final Procedure procedure, final int serial, final Duration timeout) {
        super(Category.TIMEOUT, "call " + procedure + " serial " + Integer.toUnsignedString(serial)
                + " timed out after " + timeout.toMillis() + " ms");
        this.procedure = procedure;
        this.serial = serial;
        this.timeout = timeout;
    }

    public Procedure procedure() {
        return procedure;
    }

    public int serial() {
        return serial;
    }

    public Duration timeout() {
        return timeout;
    }
}
