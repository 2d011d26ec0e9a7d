package dev.braid.internal.wire;

import dev.braid.ProtocolException;
import dev.braid.buffer.BufferPool;
import dev.braid.buffer.PooledBuffer;

import java.nio.ByteBuffer;

import static dev.braid.internal.wire.FrameHeader.*;

/**
 * Incremental decoder for libvirt RPC frames, fed by a backend's reads.
 *
 * <p><b>Thread.</b> One inbound thread at a time (the connection's reader); not thread-safe.
 *
 * <p><b>How the backend drives it.</b> It reads from the socket into {@link #inboundBuffer()} (which
 * always has room), then calls {@link #decode(FrameSink)}. Small frames are gathered in a pooled read
 * buffer and copied out, one frame per pooled buffer of the frame's size. A frame too large to be worth
 * gathering gets its own pooled buffer as soon as its header is validated, and {@link #inboundBuffer()}
 * then returns that buffer, so the socket fills it directly with no further copy.
 *
 * <p><b>Memory follows the bytes, not the header.</b> A large frame's buffer holds at first at most
 * {@link #FIRST_DIRECT_BYTES} (a maximal stream packet fits whole, so the common large frame is never
 * copied); when it is full and the frame is not, it moves to the pool's next size class (about four times
 * larger), up to the frame's length. So a peer that announces a 32 MiB frame and sends 28 bytes makes
 * the decoder hold about 264 KiB, not 32 MiB, and what it holds is never more than about four times what
 * the peer really sent.
 *
 * <p><b>Idle connections hold little (issue 11 §1.2).</b> The read buffer is taken only when the backend first
 * asks for room, and then at {@link #IDLE_READ_BYTES}: a connection that never sends anything (or only
 * keepalive PINGs and small calls, one read at a time) holds 2 KiB, not {@code readBufferSize}. A read that
 * fills it, or a frame that does not fit in it, moves the bytes to a buffer of {@code readBufferSize}
 * (one copy of at most 2 KiB). Once the connection has been idle for a while ({@link #trimWhenIdle()}, asked
 * by the connection's deadline check after a second without a read), the next {@link #inboundBuffer()} that
 * finds the read buffer empty gives it back to the pool and lends a 2 KiB one. The read buffer changes only
 * in {@link #inboundBuffer()}, which a backend calls right before it reads: never in {@link #decode}, which
 * may run in a task while a backend is blocked in a read into the buffer it was given (loom's reader). So
 * a full buffer is given back only at the read after the idle second (a keepalive PING at the latest).
 *
 * <p><b>Progress.</b> {@link #partialSinceNanos()} and {@link #partialLength()} (volatile, written by the
 * reader at the end of each decode, read by the connection's deadline check on the timer thread) say since
 * when a frame has been incomplete and how long it announced itself, so a peer that starts a frame and
 * dribbles it is closed (slowloris). Bytes waiting while decoding is paused by this side are not counted.
 *
 * <p><b>Validation before allocation.</b> The length word is checked against the minimum (28) and the
 * configured maximum before anything else is read or allocated; every header field is checked (known
 * type, fd-passing types refused, known status, status legal for the type) before the
 * frame's buffer is acquired. Violations throw {@link ProtocolException}: the caller closes the connection.
 *
 * <p><b>Ownership.</b> Each frame handed to {@link FrameSink#onFrame} belongs to the sink (position 0,
 * limit = frame length). {@link #close()} releases what the decoder still holds.
 */
public final class FrameDecoder {
    /** Receives decoded frames. */
    @FunctionalInterface
    public interface FrameSink {
        /**
         * Takes ownership of {@code frame}.
         *
         * @return true to keep decoding, false to pause (for example when a limit of in-flight calls is
         * reached); {@link #decode} then returns and the remaining bytes wait for the next call
         */
        boolean onFrame(PooledBuffer frame);
    }

    /** Largest first buffer of a large frame: a maximal libvirt stream packet, header included. */
    public static final int FIRST_DIRECT_BYTES = HEADER_LENGTH + MAX_STREAM_PAYLOAD;
    /** The read buffer of a connection that has not needed more (see the class comment). */
    public static final int IDLE_READ_BYTES = 2048;

    private final BufferPool pool;
    private final int maxMessage;
    private final int readBufferSize;
    private final int idleReadBytes;
    /** The read buffer, or null while the decoder holds none (before the first read, after a trim). */
    private PooledBuffer readBuffer;
    private ByteBuffer rb;
    /** Set by a decode: the next {@link #inboundBuffer()} moves to a read buffer of readBufferSize. Reader only. */
    private boolean growWanted;
    /** Set by any thread (the deadline check), applied by the reader when it next asks for room with no bytes held. */
    private volatile boolean trimWanted;
    /** Decodes so far: the deadline check compares it between its runs to see an idle connection. */
    private volatile long decodes;
    /** Start of the first undecoded byte in {@link #rb}; bytes up to rb.position() are received. */
    private int parsePos;
    /** A large frame being filled directly from the socket, or null. */
    private PooledBuffer direct;
    /** Length of the frame in {@link #direct} (its buffer may hold only part of it so far). */
    private int directLength;
    /** System.nanoTime() when the current incomplete frame started arriving, 0 if none (see class comment). */
    private volatile long partialSince;
    /** Announced length of the current incomplete frame (0 while its length word has not arrived). */
    private volatile int partialLength;
    private boolean closed;
    /** What {@link #inboundBuffer()} lends after {@link #close()}: not pooled, its bytes are ignored. */
    private ByteBuffer afterClose;

    public FrameDecoder(final BufferPool pool, final int maxMessage, final int readBufferSize) {
        this(pool, maxMessage, readBufferSize, IDLE_READ_BYTES);
    }

    /**
     * @param idleReadBytes the read buffer a connection starts with and returns to when idle (at most
     *                      {@code readBufferSize}; equal to it, the decoder never starts small)
     */
    public FrameDecoder(final BufferPool pool, final int maxMessage, final int readBufferSize, final int idleReadBytes) {
        if (maxMessage < HEADER_LENGTH) {
            throw new IllegalArgumentException("maxMessage " + maxMessage + " is below the 28-byte header");
        }
        if (readBufferSize < 2 * HEADER_LENGTH) {
            throw new IllegalArgumentException("readBufferSize " + readBufferSize + " too small");
        }
        this.pool = pool;
        this.maxMessage = maxMessage;
        this.readBufferSize = readBufferSize;
        this.idleReadBytes = Math.max(HEADER_LENGTH, Math.min(idleReadBytes, readBufferSize));
    }

    /** Takes a read buffer of {@code size} bytes, empty. */
    private void takeReadBuffer(final int size) {
        readBuffer = pool.acquire(size);
        rb = readBuffer.byteBuffer();
        parsePos = 0;
    }

    /** Whether the read buffer is the small one an idle connection starts with. */
    private boolean smallReadBuffer() {
        return rb != null && rb.capacity() < readBufferSize;
    }

    /** Moves the bytes not decoded yet to a read buffer of {@code readBufferSize} (one copy, at most 2 KiB). */
    private void growReadBuffer() {
        final PooledBuffer old = readBuffer;
        final ByteBuffer o = rb;
        final int n = o.position() - parsePos;
        final PooledBuffer full = pool.acquire(readBufferSize);
        final ByteBuffer f = full.byteBuffer();
        f.put(0, o, parsePos, n);
        f.position(n);
        old.release();
        readBuffer = full;
        rb = f;
        parsePos = 0;
    }

    /**
     * Asks the reader to give the read buffer back at the next decode that leaves it empty (the connection
     * has been idle). Any thread.
     */
    public void trimWhenIdle() {
        if (!trimWanted && readBuffer != null) { // a racy read of readBuffer: at worst one needless flag
            trimWanted = true;
        }
    }

    /** Decodes so far (any thread; for the idle check). */
    public long decodes() {
        return decodes;
    }

    /** Direct bytes the read buffer holds now (0 if none). Reader thread, or racily for diagnostics. */
    public int readBufferBytes() {
        final PooledBuffer b = readBuffer;
        return b == null ? 0 : b.capacity();
    }

    /** Where the next socket read should go. Always has at least one byte of room (unless closed). */
    public ByteBuffer inboundBuffer() {
        if (direct != null) {
            final ByteBuffer d = direct.byteBuffer();
            if (!d.hasRemaining() && d.position() < directLength) {
                grow(); // full, the frame is not: move to a larger buffer before the next read
            }
            return direct.byteBuffer();
        }
        if (closed) {
            // a backend may still ask once after a close it has not seen yet: room, but no pooled buffer to leak
            if (afterClose == null) {
                afterClose = ByteBuffer.allocateDirect(64);
            }
            return afterClose.clear();
        }
        // The read buffer changes only here, right before a read: a backend may be blocked in a read into the
        // buffer it was last given (loom's reader) while a task decodes, so decode never swaps it.
        if (growWanted) {
            growWanted = false;
            growReadBuffer(); // busy (a read filled it) or a frame that needs more room: the full size
        } else if (trimWanted && rb != null && rb.position() == 0) {
            trimWanted = false;
            readBuffer.release(); // idle and empty: back to the pool; the read starts small again
            readBuffer = null;
            rb = null;
        }
        if (rb == null) {
            takeReadBuffer(idleReadBytes);
        }
        return rb;
    }

    /**
     * Whether the bytes received so far begin like a TLS record (a handshake or an alert, protocol major
     * version 3) rather than a frame: a length word of 0x1603.... or 0x1503.... is over 350 MB, past any
     * sane maximum, so a plaintext side can say "the peer speaks TLS" instead of "frame too large". Reader.
     */
    public boolean startsWithTlsRecord() {
        if (direct != null || parsePos != 0 || rb.position() < 2) {
            return false;
        }
        final int type = rb.get(0);
        return (type == 0x16 || type == 0x15) && rb.get(1) == 0x03;
    }

    /** Since when (System.nanoTime) a frame has been incomplete, or 0. Any thread (volatile). */
    public long partialSinceNanos() {
        return partialSince;
    }

    /** Announced length of the incomplete frame, or 0 if none or its length is not known yet. Any thread. */
    public int partialLength() {
        return partialLength;
    }

    /** Direct bytes the decoder holds now for a large frame (its buffer's capacity), or 0. Reader thread. */
    public int largeFrameBufferBytes() {
        return direct == null ? 0 : direct.capacity();
    }

    /** Moves the large frame to a buffer four times larger (at most its length), copying what arrived. */
    private void grow() {
        final PooledBuffer old = direct;
        final ByteBuffer o = old.byteBuffer();
        final int capacity = Math.min(directLength, BufferPool.nextCapacity(o.capacity()));
        final PooledBuffer bigger = pool.acquire(capacity);
        final ByteBuffer b = bigger.byteBuffer();
        b.put(0, o, 0, o.position());
        b.limit(capacity).position(o.position());
        old.release();
        direct = bigger;
    }

    /** True if some bytes of a frame were received but not the whole frame. */
    public boolean hasPartialFrame() {
        if (direct != null) {
            return true;
        }
        if (rb == null) {
            return false;
        }
        final int avail = rb.position() - parsePos;
        if (avail == 0) {
            return false;
        }
        // Whole frames may be waiting (decoding paused); only an incomplete one at the end counts.
        int pos = parsePos;
        while (rb.position() - pos >= LENGTH_FIELD_LENGTH) {
            final int length = rb.getInt(pos);
            if (length < HEADER_LENGTH || rb.position() - pos < length) {
                return true;
            }
            pos += length;
        }
        return rb.position() > pos;
    }

    /** Bytes received that are not yet a whole frame. */
    public long partialBytes() {
        return direct != null ? direct.byteBuffer().position() : rb == null ? 0 : rb.position() - parsePos;
    }

    /** Reader, at the end of each decode: records whether a frame is incomplete and since when. */
    private void trackPartial(final boolean paused) {
        int length = 0;
        boolean partial = false;
        if (direct != null) {
            partial = true;
            length = directLength;
        } else if (!paused && rb != null && rb.position() > parsePos) {
            partial = true; // everything whole was decoded: what is left is the start of a frame
            length = rb.position() - parsePos >= LENGTH_FIELD_LENGTH ? rb.getInt(parsePos) : 0;
        }
        if (!partial) {
            if (partialSince != 0) {
                partialSince = 0;
                partialLength = 0;
            }
        } else {
            if (partialSince == 0) {
                partialSince = System.nanoTime();
            }
            if (partialLength != length) {
                partialLength = length;
            }
        }
    }

    /**
     * Decodes every complete frame received so far and hands each to {@code sink}.
     *
     * @return false if the sink paused decoding
     * @throws ProtocolException on a malformed header; the decoder must then be closed
     */
    public boolean decode(final FrameSink sink) {
        if (closed) {
            return false;
        }
        decodes = decodes + 1; // single writer (the reader)
        if (direct != null) {
            final ByteBuffer d = direct.byteBuffer();
            if (d.position() < directLength) {
                trackPartial(false);
                return true;
            }
            final PooledBuffer frame = direct;
            direct = null;
            d.flip();
            if (!sink.onFrame(frame)) {
                trackPartial(true);
                return false;
            }
        }
        if (rb == null) {
            trackPartial(false);
            return true; // no read buffer: nothing was read into one
        }
        final boolean filled = !rb.hasRemaining();
        boolean more = true;
        while (more) {
            final int avail = rb.position() - parsePos;
            if (avail < LENGTH_FIELD_LENGTH) {
                break;
            }
            final int length = rb.getInt(parsePos + LENGTH_OFFSET);
            checkLength(length);
            if (avail < HEADER_LENGTH) {
                break;
            }
            checkHeader(rb, parsePos, length);
            if (avail >= length) {
                final PooledBuffer frame = pool.acquire(length);
                final ByteBuffer f = frame.byteBuffer();
                f.put(0, rb, parsePos, length);
                f.limit(length).position(0);
                parsePos += length;
                more = sink.onFrame(frame);
            } else if (length > readBufferSize / 2) {
                // Large frame: give it its own buffer now and let the socket fill it directly. The buffer
                // holds at most FIRST_DIRECT_BYTES at first and grows as the bytes arrive (class comment).
                final int first = Math.min(length, Math.max(FIRST_DIRECT_BYTES, avail));
                final PooledBuffer frame = pool.acquire(first);
                final ByteBuffer f = frame.byteBuffer();
                f.put(0, rb, parsePos, avail);
                f.limit(first).position(avail);
                parsePos += avail;
                direct = frame;
                directLength = length;
                break;
            } else {
                break;
            }
        }
        compact();
        if (smallReadBuffer() && (filled || rb.position() > parsePos)) {
            growWanted = true; // applied by the next inboundBuffer(), never here (see there)
        }
        trackPartial(!more);
        return more;
    }

    /**
     * Keeps room for the next read: empties the read buffer when everything was decoded, and moves a
     * partial frame to the front when the rest of the buffer could not hold it. Frames larger than half
     * the buffer never stay here (they go to their own buffer), so a move copies less than half of it.
     * After a pause the buffer may be full of whole frames still to decode; they move to the front too,
     * so that {@link #inboundBuffer()} keeps its promise of room (a pause always follows a consumed frame,
     * so parsePos > 0 then).
     */
    private void compact() {
        final int pos = rb.position();
        final int n = pos - parsePos;
        if (n == 0) {
            rb.clear();
            parsePos = 0;
            return;
        }
        final int need = n >= LENGTH_FIELD_LENGTH ? rb.getInt(parsePos) : HEADER_LENGTH; // validated when n >= 4
        if (parsePos > 0 && (rb.capacity() - parsePos < need || pos == rb.capacity())) {
            rb.limit(pos).position(parsePos);
            rb.compact(); // position = n, limit = capacity
            parsePos = 0;
        }
    }

    private void checkLength(final int length) {
        if (length < HEADER_LENGTH || length > maxMessage) { // negative means above 2^31: too large too
            if (length >= 0 && length < HEADER_LENGTH) {
                throw new ProtocolException("frame length " + length + " is below the minimum of "
                        + HEADER_LENGTH + " bytes");
            }
            throw new ProtocolException("frame length " + Integer.toUnsignedString(length)
                    + " exceeds the limit maxMessageSize = " + maxMessage + " bytes");
        }
    }

    /**
     * Validates the header fields that do not depend on the connection's role.
     *
     * @throws ProtocolException naming the field and the frame
     */
    public static void checkHeader(final ByteBuffer b, final int offset, final int length) {
        final int type = b.getInt(offset + TYPE_OFFSET);
        final int status = b.getInt(offset + STATUS_OFFSET);
        final int serial = b.getInt(offset + SERIAL_OFFSET);
        switch (type) {
            case TYPE_CALL, TYPE_REPLY, TYPE_MESSAGE, TYPE_STREAM, TYPE_STREAM_HOLE -> { }
            case TYPE_CALL_WITH_FDS, TYPE_REPLY_WITH_FDS -> throw new ProtocolException(
                    FrameHeader.typeName(type) + " (file descriptor passing) is not supported by braid: "
                            + Frames.describe(b, offset));
            default -> throw new ProtocolException("unknown message type " + type + " in frame of "
                    + length + " bytes");
        }
        if (status != STATUS_OK && status != STATUS_ERROR && status != STATUS_CONTINUE) {
            throw new ProtocolException("unknown message status " + status + ": " + Frames.describe(b, offset));
        }
        switch (type) {
            case TYPE_CALL -> {
                if (status != STATUS_OK) {
                    throw new ProtocolException("CALL must have status OK: " + Frames.describe(b, offset));
                }
            }
            case TYPE_REPLY -> {
                if (status == STATUS_CONTINUE) {
                    throw new ProtocolException("REPLY cannot have status CONTINUE: " + Frames.describe(b, offset));
                }
            }
            case TYPE_MESSAGE -> {
                // braid sends serial 0; the serial of a received MESSAGE is ignored, as libvirt's client does
                // (libvirtd sends its events with serial 1).
                if (status != STATUS_OK) {
                    throw new ProtocolException("MESSAGE must have status OK: " + Frames.describe(b, offset));
                }
            }
            case TYPE_STREAM_HOLE -> {
                if (status != STATUS_CONTINUE) {
                    throw new ProtocolException("STREAM_HOLE must have status CONTINUE: "
                            + Frames.describe(b, offset));
                }
                if (length != HEADER_LENGTH + 12) {
                    throw new ProtocolException("STREAM_HOLE payload must be 12 bytes ({hyper length; unsigned "
                            + "flags}), got " + (length - HEADER_LENGTH));
                }
            }
            default -> { }
        }
    }

    /** Releases every buffer the decoder holds. Idempotent. Inbound thread (or after it stopped). */
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (direct != null) {
            direct.release();
            direct = null;
        }
        if (readBuffer != null) {
            readBuffer.release();
            readBuffer = null;
            rb = null;
        }
    }
}
