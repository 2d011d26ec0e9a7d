package dev.braid.internal.engine.stream;

import dev.braid.StreamPacket;
import dev.braid.buffer.PooledBuffer;
import dev.braid.internal.wire.FrameHeader;
import dev.braid.internal.wire.Frames;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;

/**
 * A packet handed to the application by {@code readPacket()}; closing it releases the buffer and returns
 * its window credit.
 *
 * <p><b>Threads.</b> {@link #close} may be called from any thread, any number of times: the first call
 * takes the frame with an atomic swap (so exactly one caller releases it) and hands its cost to the
 * stream's thread-safe flow control. {@link #data} must be called by the thread that owns the packet,
 * before it closes it (a happens-before edge is needed to hand the packet to another thread first).
 */
final class StreamPacketImpl implements StreamPacket {
    private static final ByteBuffer EMPTY = ByteBuffer.allocate(0).asReadOnlyBuffer();
    private static final VarHandle FRAME;

    static {
        try {
            FRAME = MethodHandles.lookup().findVarHandle(StreamPacketImpl.class, "frame", PooledBuffer.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final StreamImpl stream;
    @SuppressWarnings("unused") // read plainly by the owner in data(), swapped atomically in close()
    private volatile PooledBuffer frame;
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
        final PooledBuffer f = (PooledBuffer) FRAME.getAndSet(this, (PooledBuffer) null);
        if (f != null) {
            stream.receiver.packetConsumed(f);
        }
    }
}
