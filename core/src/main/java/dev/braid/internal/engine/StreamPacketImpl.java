package dev.braid.internal.engine;

import dev.braid.StreamPacket;
import dev.braid.buffer.PooledBuffer;
import dev.braid.internal.wire.FrameHeader;
import dev.braid.internal.wire.Frames;

import java.nio.ByteBuffer;

/** A packet handed to the application by {@code readPacket()}; closing it releases the buffer and its credit. */
final class StreamPacketImpl implements StreamPacket {
    private static final ByteBuffer EMPTY = ByteBuffer.allocate(0).asReadOnlyBuffer();
    private final StreamImpl stream;
    private PooledBuffer frame;
    private final boolean hole;
    private final long holeLength;

    StreamPacketImpl(final StreamImpl stream, final PooledBuffer frame) {
        this.stream = stream;
        this.frame = frame;
        this.hole = Frames.type(frame) == FrameHeader.TYPE_STREAM_HOLE;
        this.holeLength = hole ? frame.byteBuffer().getLong(FrameHeader.PAYLOAD_OFFSET) : 0;
    }

    @Override
    public ByteBuffer data() {
        if (frame == null) {
            throw new IllegalStateException("packet is closed");
        }
        return hole ? EMPTY : Frames.payloadView(frame);
    }

    @Override
    public boolean isHole() {
        return hole;
    }

    @Override
    public long holeLength() {
        return holeLength;
    }

    @Override
    public void close() {
        final PooledBuffer f = frame;
        if (f != null) {
            frame = null;
            stream.packetConsumed(f);
        }
    }
}
