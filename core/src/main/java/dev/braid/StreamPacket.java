package dev.braid;

import java.nio.ByteBuffer;

/**
 * A received stream packet, as a view of the pooled buffer it arrived in. The receiver owns it and must
 * {@link #close()} it, which returns the buffer and the packet's bytes of flow-control credit.
 *
 * <h2>Threads</h2>
 * A packet may be handed to another thread (through any happens-before edge: an executor, a queue) and
 * closed there; each method states its guarantee.
 */
public interface StreamPacket extends AutoCloseable {
    /**
     * What {@link BraidStream#tryReadPacket()} returns at the end of the stream (compare by identity): no
     * data, nothing to release ({@code close} does nothing). Any thread.
     */
    StreamPacket EOF = new StreamPacket() {
        private final ByteBuffer empty = ByteBuffer.allocate(0).asReadOnlyBuffer();

        @Override
        public ByteBuffer data() {
            return empty.duplicate();
        }

        @Override
        public boolean isHole() {
            return false;
        }

        @Override
        public long holeLength() {
            return 0;
        }

        @Override
        public void close() {
        }

        @Override
        public String toString() {
            return "StreamPacket.EOF";
        }
    };

    /**
     * Data (a read-only view, valid until close), or an empty buffer for a hole. Called by the thread that
     * owns the packet, before it closes it; it throws {@link IllegalStateException} after close.
     *
     * @return the data view
     */
    ByteBuffer data();

    /**
     * True for a STREAM_HOLE: {@link #holeLength()} zero bytes, not sent. Any thread, any time.
     *
     * @return whether this packet is a hole
     */
    boolean isHole();

    /**
     * Length of a hole, 0 for data. Any thread, any time.
     *
     * @return the hole's length in bytes
     */
    long holeLength();

    /**
     * Releases the buffer and returns the packet's window credit to the peer. Safe on any thread, and
     * idempotent: if several threads close the same packet at once, exactly one releases it and the others
     * do nothing. Credit from packets closed on many threads is returned exactly once per byte.
     */
    @Override
    void close();
}
