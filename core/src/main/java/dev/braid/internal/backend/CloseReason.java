package dev.braid.internal.backend;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * Why a connection closes: the first reason given wins, later ones are ignored. The SPI asks this of every
 * backend ({@code Transport.close}: "the first reason wins"), and {@code onClosed} receives the winner.
 *
 * <p><b>Threads.</b> Any thread. {@link #offer} is a CAS from null (volatile: it releases what the winner
 * wrote before it); {@link #get} is a volatile read (acquire), so whoever sees the reason also sees what the
 * winner did before offering it.
 */
public final class CloseReason {
    private static final VarHandle REASON;

    static {
        try {
            REASON = MethodHandles.lookup().findVarHandle(CloseReason.class, "reason", Throwable.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    @SuppressWarnings("unused") // accessed through REASON
    private volatile Throwable reason;

    /**
     * Records {@code r} unless a reason was recorded before.
     *
     * @return true for the first reason (the caller then starts the close), false if closing had begun
     */
    public boolean offer(final Throwable r) {
        return REASON.compareAndSet(this, null, r);
    }

    /** The reason, or null while the connection is not closing. */
    public Throwable get() {
        return reason;
    }

    /** Whether a close was asked for. */
    public boolean isSet() {
        return reason != null;
    }
}
