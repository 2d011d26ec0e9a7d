package dev.braid.internal.wire;

import dev.braid.ProtocolException;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/**
 * XDR (RFC 4506) primitives over big-endian {@link ByteBuffer}s: relative reads and writes that advance the
 * position. Reads check every length against what is left and against {@link #MAX_STRING}, and throw
 * {@link ProtocolException}, never an index or allocation failure, on malformed input.
 */
public final class Xdr {
    /** libvirt's longest string ({@code VIR_NET_MESSAGE_STRING_MAX}). */
    public static final int MAX_STRING = 4_194_304;

    private Xdr() {
    }

    public static int pad(final int length) {
        return (4 - (length & 3)) & 3;
    }

    /** Encoded size of an XDR string of {@code utf8Length} bytes. */
    public static int stringSize(final int utf8Length) {
        return 4 + utf8Length + pad(utf8Length);
    }

    public static int readInt(final ByteBuffer b, final String what) {
        need(b, 4, what);
        return b.getInt();
    }

    public static long readHyper(final ByteBuffer b, final String what) {
        need(b, 8, what);
        return b.getLong();
    }

    public static boolean readBool(final ByteBuffer b, final String what) {
        final int v = readInt(b, what);
        if (v != 0 && v != 1) {
            throw new ProtocolException("malformed XDR: " + what + " is a bool but holds " + v);
        }
        return v == 1;
    }

    public static String readString(final ByteBuffer b, final String what) {
        final int len = readInt(b, what + " length");
        if (len < 0 || len > MAX_STRING) {
            throw new ProtocolException("malformed XDR: " + what + " length " + Integer.toUnsignedString(len)
                    + " exceeds " + MAX_STRING);
        }
        need(b, len + pad(len), what);
        final byte[] bytes = new byte[len];
        b.get(bytes);
        b.position(b.position() + pad(len));
        return new String(bytes, StandardCharsets.UTF_8);
    }

    /** An optional string ({@code string*}): a bool, then the string when true. */
    public static String readOptionalString(final ByteBuffer b, final String what) {
        return readBool(b, what + " presence") ? readString(b, what) : null;
    }

    public static byte[] readFixedOpaque(final ByteBuffer b, final int length, final String what) {
        need(b, length + pad(length), what);
        final byte[] bytes = new byte[length];
        b.get(bytes);
        b.position(b.position() + pad(length));
        return bytes;
    }

    public static void writeString(final ByteBuffer b, final String s) {
        final byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
        b.putInt(bytes.length);
        b.put(bytes);
        for (int i = pad(bytes.length); i > 0; i--) {
            b.put((byte) 0);
        }
    }

    public static void writeOptionalString(final ByteBuffer b, final String s) {
        if (s == null) {
            b.putInt(0);
        } else {
            b.putInt(1);
            writeString(b, s);
        }
    }

    public static void writeFixedOpaque(final ByteBuffer b, final byte[] bytes) {
        b.put(bytes);
        for (int i = pad(bytes.length); i > 0; i--) {
            b.put((byte) 0);
        }
    }

    public static int optionalStringSize(final String s) {
        return s == null ? 4 : 4 + stringSize(utf8Length(s));
    }

    public static int utf8Length(final String s) {
        int n = 0;
        for (int i = 0; i < s.length(); i++) {
            final char c = s.charAt(i);
            if (c < 0x80) {
                n += 1;
            } else if (c < 0x800) {
                n += 2;
            } else if (Character.isHighSurrogate(c) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
                n += 4;
                i++;
            } else {
                n += 3;
            }
        }
        return n;
    }

    private static void need(final ByteBuffer b, final int n, final String what) {
        if (b.remaining() < n) {
            throw new ProtocolException("malformed XDR: " + what + " needs " + n + " bytes, " + b.remaining()
                    + " left");
        }
    }
}
