package dev.braid.stress.link;

/**
 * Follows libvirt frame boundaries in one direction of a byte stream, so a fault can cut inside a frame.
 * Every frame starts with a 4-byte big-endian length word that counts itself (docs/protocol.md):
 * <pre>
 *   offset 0: length (u32, whole frame, >= 28)   offset 4..27: header   then the payload
 * </pre>
 * Bytes that are not libvirt framing (a plain TCP pump) give meaningless boundaries, which only matter to
 * {@link #cutPoint}. One thread (the relay direction's writer).
 */
final class FrameCursor {
    private long offset;       // bytes passed so far
    private long frameStart;   // offset of the current frame's first byte
    private long frameLength;  // -1 while its length word is incomplete
    private int lengthBytes;   // bytes of the length word seen
    private long lengthWord;

    FrameCursor() {
        frameLength = -1;
    }

    /** Moves past {@code b[off, off+len)}. */
    void advance(final byte[] b, final int off, final int len) {
        int i = 0;
        while (i < len) {
            if (frameLength < 0) {
                lengthWord = (lengthWord << 8) | (b[off + i] & 0xff);
                lengthBytes++;
                i++;
                offset++;
                if (lengthBytes == 4) {
                    frameLength = Math.max(4, lengthWord); // a nonsense length still moves on
                }
                continue;
            }
            final long left = frameStart + frameLength - offset;
            final int step = (int) Math.min(left, len - i);
            i += step;
            offset += step;
            if (offset == frameStart + frameLength) {
                frameStart = offset;
                frameLength = -1;
                lengthBytes = 0;
                lengthWord = 0;
            }
        }
    }

    /**
     * Where to cut within {@code b[off, off+len)} so that a frame of at least {@code minFrame} bytes is
     * partly delivered: that frame's midpoint if it falls in these bytes, or the very start of them if the
     * current frame (long enough) has already begun and is not over; null if no such point lies in these
     * bytes. {@code cut.offset() - offset()} bytes of {@code b} go before the cut. Does not move the cursor.
     */
    FrameCut cutPoint(final byte[] b, final int off, final int len, final int minFrame) {
        final FrameCursor c = copy();
        if (c.frameLength >= minFrame && c.offset > c.frameStart && c.offset < c.frameStart + c.frameLength) {
            return new FrameCut(c.offset, c.frameStart, c.frameLength);
        }
        final long endOffset = c.offset + len;
        int i = 0;
        while (i < len) {
            if (c.frameLength >= minFrame && c.frameLength >= 8) {
                final long mid = c.frameStart + c.frameLength / 2;
                if (mid >= c.offset && mid < endOffset) {
                    return new FrameCut(mid, c.frameStart, c.frameLength);
                }
            }
            // move to the end of the current frame (or of its length word), or of these bytes
            final long stop = c.frameLength < 0 ? c.offset + 1 : Math.min(c.frameStart + c.frameLength, endOffset);
            final int step = (int) Math.max(1, stop - c.offset);
            c.advance(b, off + i, step);
            i += step;
        }
        return null;
    }

    long offset() {
        return offset;
    }

    private FrameCursor copy() {
        final FrameCursor c = new FrameCursor();
        c.offset = offset;
        c.frameStart = frameStart;
        c.frameLength = frameLength;
        c.lengthBytes = lengthBytes;
        c.lengthWord = lengthWord;
        return c;
    }
}
