package dev.braid;

import java.nio.ByteBuffer;

/**
 * A received stream packet, as a view of the pooled buffer it arrived in. The receiver owns it and must
 * {@link #close()} it, which returns the buffer and the packet's bytes of flow-control credit.
 */
public interface StreamPacket extends AutoCloseable {
    /** Data (a read-only view, valid until close), or an empty buffer for a hole. */
    ByteBuffer data();

    /** True for a STREAM_HOLE: {@link #holeLength()} zero bytes, not sent. */
    boolean isHole();

    long holeLength();

    @Override
    void close();
}
