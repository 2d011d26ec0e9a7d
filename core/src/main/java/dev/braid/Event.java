package dev.braid;

import java.nio.ByteBuffer;

/**
 * An event (a libvirt MESSAGE) as a listener sees it. Valid only during {@link EventListener#onEvent}:
 * {@link #payload()} is a view of a pooled frame that is released when the listener returns.
 */
public interface Event {
    /** {@return the procedure the event was sent as} */
    Procedure procedure();

    /**
     * Read-only view of the payload, position 0, valid during the callback only.
     *
     * @return the payload view
     */
    ByteBuffer payload();

    /**
     * The connection the event came from.
     *
     * @return the peer that sent it
     */
    Peer peer();
}
