package dev.braid;

import java.time.Duration;

/** A call did not get its reply within its timeout. A reply that arrives later is dropped and counted. */
public final class CallTimeoutException extends BraidException {
    private static final long serialVersionUID = 1L;

    /** The call that timed out. */
    private final transient Procedure procedure;
    /** The call's serial. */
    private final int serial;
    /** The timeout it had. */
    private final transient Duration timeout;

    /**
     * A call that got no reply in time.
     *
     * @param procedure the call
     * @param serial the call's serial
     * @param timeout the timeout it had
     */
    public CallTimeoutException(final Procedure procedure, final int serial, final Duration timeout) {
        super(Category.TIMEOUT, "call " + procedure + " serial " + Integer.toUnsignedString(serial)
                + " timed out after " + timeout.toMillis() + " ms");
        this.procedure = procedure;
        this.serial = serial;
        this.timeout = timeout;
    }

    /** {@return the procedure of the call that timed out} */
    public Procedure procedure() {
        return procedure;
    }

    /** {@return the call's serial (an unsigned 32-bit value on the wire)} */
    public int serial() {
        return serial;
    }

    /** {@return the timeout the call had} */
    public Duration timeout() {
        return timeout;
    }
}
