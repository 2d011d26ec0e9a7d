package dev.braid;

import java.nio.ByteBuffer;

/**
 * A successful reply. It holds the pooled frame it arrived in: {@link #payload()} is a view of that memory,
 * not a copy.
 *
 * <p><b>Ownership.</b> The receiver of a {@code Reply} owns it and must {@link #close()} it, which returns
 * the frame to the pool; the payload view is invalid afterwards. {@link #toByteArray()} copies the payload
 * for keeping. Closing twice is harmless.
 */
public interface Reply extends AutoCloseable {
    /** {@return the procedure that was called} */
    Procedure procedure();

    /** {@return the call's serial} */
    int serial();

    /**
     * Read-only view of the payload, position 0, valid until {@link #close()}.
     *
     * @return the payload view
     */
    ByteBuffer payload();

    /**
     * A copy of the payload.
     *
     * @return a new array holding the payload
     */
    byte[] toByteArray();

    @Override
    void close();
}
