package dev.braid;

import java.nio.ByteBuffer;

/**
 * An event (a libvirt MESSAGE) as a listener sees it. Valid only during {@link EventListener#onEvent}:
 * {@link #payload()} is a view of a pooled frame that is released when the listener returns.
 */
public interface Event {
    Procedure procedure();

    /** Read-only view of the payload, position 0, valid during the callback only. */
    ByteBuffer payload();

    /** The connection the event came from. */
    Peer peer();
}
