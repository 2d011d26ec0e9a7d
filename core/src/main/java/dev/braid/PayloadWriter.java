package dev.braid;

import java.nio.ByteBuffer;

/**
 * Writes a payload straight into a pooled frame (zero copy). braid gives the writer a buffer positioned at
 * the payload's first byte with exactly the declared number of bytes remaining; the writer must fill all of
 * them with relative puts. The buffer is only valid during the call.
 */
@FunctionalInterface
public interface PayloadWriter {
    /**
     * Fills the payload.
     *
     * @param dst the frame, positioned at the payload, with exactly the declared length remaining
     */
    void write(ByteBuffer dst);
}
