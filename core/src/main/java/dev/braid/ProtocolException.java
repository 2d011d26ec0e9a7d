package dev.braid;

/** The peer sent bytes that break the wire protocol. The connection that received them is closed. */
public final class ProtocolException extends BraidException {
    private static final long serialVersionUID = 1L;

    /**
     * A protocol violation by the peer.
     *
     * @param message what the peer sent and which rule it broke
     */
    public ProtocolException(final String message) {
        super(Category.PROTOCOL, message);
    }
}
