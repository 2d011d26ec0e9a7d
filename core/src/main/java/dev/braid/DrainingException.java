package dev.braid;

/**
 * A call or stream was refused because its connection is draining: this side began a graceful shutdown
 * ({@link Connection#shutdown()}), or the server did ({@link BraidServer#shutdown()}) and said so with its
 * DRAIN message or its answer to the call. The call was <b>not executed</b> and the stream never opened, so
 * the caller may safely retry it on another connection (or another server); nothing was half done.
 *
 * <p>Thrown at once by a new call on a draining connection, and reported for a call the server refused
 * because it arrived after the server began to drain (category {@link Category#DRAINING} either way).
 */
public final class DrainingException extends BraidException {
    private static final long serialVersionUID = 1L;

    /** Whether the server refused the call (false: this side refused it before sending). */
    private final boolean refusedByServer;

    /**
     * A refused call or stream.
     *
     * @param message names the drain and what was refused
     * @param refusedByServer whether the server refused it (false: this side did, before sending it)
     */
    public DrainingException(final String message, final boolean refusedByServer) {
        super(Category.DRAINING, message);
        this.refusedByServer = refusedByServer;
    }

    /** {@return whether the server refused the call (false: this side did, before sending it)} */
    public boolean refusedByServer() {
        return refusedByServer;
    }

    /** {@return always false: a refused call was never executed, so it is safe to retry elsewhere} */
    public boolean mayHaveExecuted() {
        return false;
    }
}
