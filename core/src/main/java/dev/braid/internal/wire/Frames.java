package dev.braid.internal.wire;

import dev.braid.buffer.BufferPool;
import dev.braid.buffer.PooledBuffer;

import java.nio.ByteBuffer;

import static dev.braid.internal.wire.FrameHeader.*;

/**
 * Frame encoding: the header is written in place in front of the payload, in the same pooled buffer, so a
 * frame goes to the socket without an intermediate copy.
 *
 * <p>The pattern is claim / fill / commit: {@link #claim} lends a buffer positioned at the payload offset;
 * the caller writes the payload with relative puts; {@link #commit} writes the header (its length word
 * from the buffer's position) and flips the buffer so that position 0 .. limit is the whole frame.
 */
public final class Frames {
    private Frames() {
    }

    /**
     * Lends a buffer with room for a header and {@code payloadCapacity} payload bytes, positioned at
     * {@link FrameHeader#PAYLOAD_OFFSET}. The caller owns it.
     */
    public static PooledBuffer claim(final BufferPool pool, final int payloadCapacity) {
        final PooledBuffer b = pool.acquire(HEADER_LENGTH + payloadCapacity);
        b.byteBuffer().position(PAYLOAD_OFFSET);
        return b;
    }

    /**
     * Writes the header of a frame whose payload ends at the buffer's position, then sets position 0 and
     * limit to the frame's length.
     */
    public static void commit(final PooledBuffer frame, final int prog, final int vers, final int proc,
                              final int type, final int serial, final int status) {
        final ByteBuffer b = frame.byteBuffer();
        final int length = b.position();
        writeHeader(b, length, prog, vers, proc, type, serial, status);
        b.limit(length).position(0);
    }

    /** Writes a header at absolute offset 0 of {@code b}. */
    public static void writeHeader(final ByteBuffer b, final int length, final int prog, final int vers,
                                   final int proc, final int type, final int serial, final int status) {
        b.putInt(LENGTH_OFFSET, length);
        b.putInt(PROG_OFFSET, prog);
        b.putInt(VERS_OFFSET, vers);
        b.putInt(PROC_OFFSET, proc);
        b.putInt(TYPE_OFFSET, type);
        b.putInt(SERIAL_OFFSET, serial);
        b.putInt(STATUS_OFFSET, status);
    }

    /** A frame with no payload (keepalive, stream finish), ready to write. */
    public static PooledBuffer empty(final BufferPool pool, final int prog, final int vers, final int proc,
                                     final int type, final int serial, final int status) {
        final PooledBuffer b = claim(pool, 0);
        commit(b, prog, vers, proc, type, serial, status);
        return b;
    }

    public static int length(final PooledBuffer frame) {
        return frame.byteBuffer().getInt(LENGTH_OFFSET);
    }

    public static int prog(final PooledBuffer frame) {
        return frame.byteBuffer().getInt(PROG_OFFSET);
    }

    public static int vers(final PooledBuffer frame) {
        return frame.byteBuffer().getInt(VERS_OFFSET);
    }

    public static int proc(final PooledBuffer frame) {
        return frame.byteBuffer().getInt(PROC_OFFSET);
    }

    public static int type(final PooledBuffer frame) {
        return frame.byteBuffer().getInt(TYPE_OFFSET);
    }

    public static int serial(final PooledBuffer frame) {
        return frame.byteBuffer().getInt(SERIAL_OFFSET);
    }

    public static int status(final PooledBuffer frame) {
        return frame.byteBuffer().getInt(STATUS_OFFSET);
    }

    /** A read-only view of a received frame's payload (position 0 .. payload length). */
    public static ByteBuffer payloadView(final PooledBuffer frame) {
        final ByteBuffer b = frame.byteBuffer();
        return b.slice(PAYLOAD_OFFSET, length(frame) - PAYLOAD_OFFSET).asReadOnlyBuffer();
    }

    /**
     * Like {@link #payloadView} without allocating: the frame's reusable view (see
     * {@link PooledBuffer#readOnlyView}), for payloads lent for the duration of a callback.
     */
    public static ByteBuffer lentPayload(final PooledBuffer frame) {
        return frame.readOnlyView(PAYLOAD_OFFSET, length(frame) - PAYLOAD_OFFSET);
    }

    /** One-line description of a frame's header, for errors and logs. */
    public static String describe(final ByteBuffer b, final int offset) {
        return FrameHeader.typeName(b.getInt(offset + TYPE_OFFSET)) + "/"
                + FrameHeader.statusName(b.getInt(offset + STATUS_OFFSET))
                + " prog 0x" + Integer.toHexString(b.getInt(offset + PROG_OFFSET))
                + " vers " + Integer.toUnsignedString(b.getInt(offset + VERS_OFFSET))
                + " proc " + b.getInt(offset + PROC_OFFSET)
                + " serial " + Integer.toUnsignedString(b.getInt(offset + SERIAL_OFFSET));
    }
}
