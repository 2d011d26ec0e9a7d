package dev.braid;

import java.nio.ByteBuffer;

/**
 * A received stream packet, as a view of the pooled buffer it arrived in. The receiver owns it and must
 * {@link #close()} it, which returns the buffer and the packet's bytes of flow-control credit.
 */
public interface StreamPacket extends AutoCloseable {
    /**
     * Data (a read-only view, valid until close), or an empty buffer for a hole.
     *
     * @return the data view
     */
    ByteBuffer data();

    /**
     * True for a STREAM_HOLE: {@link #holeLength()} zero bytes, not sent.
     *
     * @return whether this packet is a hole
     */
    boolean isHole();

    /** {@return the hole's length in bytes, or 0 for a data packet} */
    long holeLength();

    @Override
    void close();
}
