package dev.braid.xdr;

import dev.braid.ProtocolException;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads XDR (RFC 4506) from a big-endian {@link ByteBuffer}: relative reads from its position, advancing it.
 * Static methods over the buffer braid lends (a reply's payload, a call's arguments, an event), so reading
 * primitives allocates nothing.
 *
 * <h2>Bounded</h2>
 * Every length read from the wire is checked against the bytes left in the buffer and against a limit
 * ({@link XdrLimits}, the default or the caller's) <em>before</em> anything is allocated, and malformed input
 * (a short buffer, a bool that is neither 0 nor 1, an enum out of range, a length past a limit) throws
 * {@link ProtocolException} naming what was being read: never an index or allocation failure. The methods
 * taking a {@code what} put that name in the message ({@code malformed XDR: remote_error.code needs 4
 * bytes, 0 left}).
 *
 * <h2>Types (RFC 4506 section 4)</h2>
 * <pre>
 *  XDR type                      reads as                           bytes on the wire
 *  ----------------------------  ---------------------------------  ---------------------------------------
 *  int / unsigned int            readInt / readUnsignedInt          4
 *  hyper / unsigned hyper        readHyper (the same 64 bits)       8
 *  bool                          readBool                           4 (0 or 1)
 *  enum                          readEnum                           4 (a declared value)
 *  float / double                readFloat / readDouble             4 / 8 (IEEE 754)
 *  opaque[n]                     readFixedOpaque                    n, zero-padded to a multiple of 4
 *  opaque&lt;max&gt;                   readOpaque                         4 (length) + bytes + padding
 *  string&lt;max&gt;                   readString                         4 (length) + UTF-8 bytes + padding
 *  T *  (optional)               readOptional / readOptionalString  4 (bool) + T when present
 *  T[n] / T&lt;max&gt;                 readFixedArray / readArray         [4 (count)] + the elements
 *  union switch (d) { ... }      readInt or readEnum, then the arm  4 + the arm (see XdrCodec.union)
 *  void                          nothing                            0
 * </pre>
 *
 * <p><b>Threads.</b> Stateless; the buffer is the caller's, used by one thread at a time.
 */
public final class XdrReader {
    private XdrReader() {
    }

    // ------------------------------------------------------------------ primitives (no allocation)

    /**
     * An {@code int}.
     *
     * @param src the buffer, read from its position, which advances past the value
     * @return the value
     */
    public static int readInt(final ByteBuffer src) {
        return readInt(src, "int");
    }

    /**
     * An {@code int}.
     *
     * @param src the buffer, read from its position, which advances past the value
     * @param what what is being read, named in the message if the input is malformed
     * @return the value
     */
    public static int readInt(final ByteBuffer src, final String what) {
        need(src, 4, what);
        return src.getInt();
    }

    /**
     * An {@code unsigned int}, as a non-negative long.
     *
     * @param src the buffer, read from its position, which advances past the value
     * @return the value, 0 to 2^32 - 1
     */
    public static long readUnsignedInt(final ByteBuffer src) {
        return readInt(src, "unsigned int") & 0xFFFF_FFFFL;
    }

    /**
     * A {@code hyper}; an {@code unsigned hyper} is the same 64 bits (see {@link Long#toUnsignedString}).
     *
     * @param src the buffer, read from its position, which advances past the value
     * @return the value
     */
    public static long readHyper(final ByteBuffer src) {
        return readHyper(src, "hyper");
    }

    /**
     * A {@code hyper}; an {@code unsigned hyper} is the same 64 bits (see {@link Long#toUnsignedString}).
     *
     * @param src the buffer, read from its position, which advances past the value
     * @param what what is being read, named in the message if the input is malformed
     * @return the value
     */
    public static long readHyper(final ByteBuffer src, final String what) {
        need(src, 8, what);
        return src.getLong();
    }

    /**
     * A {@code bool}: 0 or 1; anything else is malformed.
     *
     * @param src the buffer, read from its position, which advances past the value
     * @return the value
     */
    public static boolean readBool(final ByteBuffer src) {
        return readBool(src, "bool");
    }

    /**
     * A {@code bool}: 0 or 1; anything else is malformed.
     *
     * @param src the buffer, read from its position, which advances past the value
     * @param what what is being read, named in the message if the input is malformed
     * @return the value
     */
    public static boolean readBool(final ByteBuffer src, final String what) {
        final int v = readInt(src, what);
        if (v != 0 && v != 1) {
            throw malformed(what + " is a bool but holds " + v);
        }
        return v == 1;
    }

    /**
     * An enum whose declared values are {@code 0 .. count - 1}; anything else is malformed.
     *
     * @param src the buffer, read from its position, which advances past the value
     * @param count how many values the enum declares
     * @param what what is being read, named in the message if the input is malformed
     * @return the value, {@code 0 .. count - 1}
     */
    public static int readEnum(final ByteBuffer src, final int count, final String what) {
        final int v = readInt(src, what);
        if (v < 0 || v >= count) {
            throw malformed(what + " is an enum of " + count + " values but holds " + v);
        }
        return v;
    }

    /**
     * An enum whose value {@code i} is {@code values[i]} (pass a cached array: no allocation).
     *
     * @param <E> the type of the constants
     * @param src the buffer, read from its position, which advances past the value
     * @param values the constants in XDR value order
     * @param what what is being read, named in the message if the input is malformed
     * @return the constant read
     */
    public static <E> E readEnum(final ByteBuffer src, final E[] values, final String what) {
        return values[readEnum(src, values.length, what)];
    }

    /**
     * A {@code float} (IEEE 754 single precision).
     *
     * @param src the buffer, read from its position, which advances past the value
     * @return the value
     */
    public static float readFloat(final ByteBuffer src) {
        need(src, 4, "float");
        return src.getFloat();
    }

    /**
     * A {@code double} (IEEE 754 double precision).
     *
     * @param src the buffer, read from its position, which advances past the value
     * @return the value
     */
    public static double readDouble(final ByteBuffer src) {
        need(src, 8, "double");
        return src.getDouble();
    }

    /**
     * The count of a variable-length array, checked against {@code max} and against what is left (every XDR
     * element but void takes at least 4 bytes), for callers that read the elements themselves without
     * building a list.
     *
     * @param src the buffer, read from its position, which advances past the count
     * @param max the most elements accepted
     * @param what the array being read, named in the message if the input is malformed
     * @return the number of elements that follow
     */
    public static int readArrayLength(final ByteBuffer src, final int max, final String what) {
        final int n = readInt(src, what + " count");
        if (n < 0 || n > max) {
            throw malformed(what + " count " + Integer.toUnsignedString(n) + " exceeds " + max);
        }
        if (n > src.remaining() / 4) {
            throw malformed(what + " count " + n + " needs at least " + 4L * n + " bytes, " + src.remaining()
                    + " left");
        }
        return n;
    }

    /**
     * Skips {@code n} bytes and their padding.
     *
     * @param src the buffer, whose position advances past the bytes and their padding
     * @param n the number of bytes, padding not included
     * @param what what is being skipped, named in the message if the buffer is too short
     */
    public static void skipOpaque(final ByteBuffer src, final int n, final String what) {
        need(src, (long) n + pad(n), what);
        src.position(src.position() + n + pad(n));
    }

    // ------------------------------------------------------------------ opaque and strings

    /**
     * {@code opaque[length]}: a copy of the bytes.
     *
     * @param src the buffer, read from its position, which advances past the value
     * @param length the fixed number of bytes
     * @param what what is being read, named in the message if the input is malformed
     * @return a copy of the bytes
     * @throws IllegalArgumentException if {@code length} is negative
     */
    public static byte[] readFixedOpaque(final ByteBuffer src, final int length, final String what) {
        if (length < 0) {
            throw new IllegalArgumentException("negative opaque length " + length);
        }
        need(src, (long) length + pad(length), what);
        final byte[] bytes = new byte[length];
        src.get(bytes);
        src.position(src.position() + pad(length));
        return bytes;
    }

    /**
     * {@code opaque[dst.length]} into the caller's array (no allocation).
     *
     * @param src the buffer, read from its position, which advances past the value
     * @param dst receives the bytes; its length is the opaque's fixed length
     * @param what what is being read, named in the message if the input is malformed
     */
    public static void readFixedOpaque(final ByteBuffer src, final byte[] dst, final String what) {
        need(src, (long) dst.length + pad(dst.length), what);
        src.get(dst);
        src.position(src.position() + pad(dst.length));
    }

    /**
     * {@code opaque<>} of at most {@link XdrLimits#DEFAULT}'s {@code maxOpaque} bytes: a copy.
     *
     * @param src the buffer, read from its position, which advances past the value
     * @param what what is being read, named in the message if the input is malformed
     * @return a copy of the bytes
     */
    public static byte[] readOpaque(final ByteBuffer src, final String what) {
        return readOpaque(src, XdrLimits.DEFAULT.maxOpaque(), what);
    }

    /**
     * {@code opaque<max>}: a copy.
     *
     * @param src the buffer, read from its position, which advances past the value
     * @param max the most bytes accepted
     * @param what what is being read, named in the message if the input is malformed
     * @return a copy of the bytes
     */
    public static byte[] readOpaque(final ByteBuffer src, final int max, final String what) {
        final int n = readLength(src, max, what);
        return readFixedOpaque(src, n, what);
    }

    /**
     * {@code opaque<max>} copied into {@code dst} from its position (no allocation). Returns the length.
     *
     * @param src the buffer, read from its position, which advances past the value
     * @param dst receives the bytes from its position, which advances past them; its remaining room is
     *            the most bytes accepted
     * @param what what is being read, named in the message if the input is malformed
     * @return the opaque's length in bytes
     * @throws ProtocolException if it is longer than {@code dst.remaining()}, or malformed
     */
    public static int readOpaque(final ByteBuffer src, final ByteBuffer dst, final String what) {
        final int n = readLength(src, dst.remaining(), what);
        need(src, (long) n + pad(n), what);
        dst.put(dst.position(), src, src.position(), n);
        dst.position(dst.position() + n);
        src.position(src.position() + n + pad(n));
        return n;
    }

    /**
     * A {@code string} of at most {@link XdrLimits#DEFAULT}'s {@code maxString} bytes (libvirt's limit).
     *
     * @param src the buffer, read from its position, which advances past the value
     * @return the string, decoded from UTF-8
     */
    public static String readString(final ByteBuffer src) {
        return readString(src, XdrLimits.DEFAULT.maxString(), "string");
    }

    /**
     * A {@code string} of at most {@link XdrLimits#DEFAULT}'s {@code maxString} bytes (libvirt's limit).
     *
     * @param src the buffer, read from its position, which advances past the value
     * @param what what is being read, named in the message if the input is malformed
     * @return the string, decoded from UTF-8
     */
    public static String readString(final ByteBuffer src, final String what) {
        return readString(src, XdrLimits.DEFAULT.maxString(), what);
    }

    /**
     * A {@code string<max>}, UTF-8.
     *
     * @param src the buffer, read from its position, which advances past the value
     * @param max the most bytes accepted
     * @param what what is being read, named in the message if the input is malformed
     * @return the string, decoded from UTF-8
     */
    public static String readString(final ByteBuffer src, final int max, final String what) {
        final int n = readLength(src, max, what);
        need(src, (long) n + pad(n), what);
        final String s;
        if (src.hasArray()) {
            s = new String(src.array(), src.arrayOffset() + src.position(), n, StandardCharsets.UTF_8);
        } else {
            final byte[] bytes = new byte[n];
            src.get(src.position(), bytes);
            s = new String(bytes, StandardCharsets.UTF_8);
        }
        src.position(src.position() + n + pad(n));
        return s;
    }

    /**
     * An optional string ({@code string*}, libvirt's {@code remote_string}): a bool, then the string; null when
     * absent.
     *
     * @param src the buffer, read from its position, which advances past the value
     * @param what what is being read, named in the message if the input is malformed
     * @return the string, or null when absent
     */
    public static String readOptionalString(final ByteBuffer src, final String what) {
        return readBool(src, what + " presence") ? readString(src, what) : null;
    }

    // ------------------------------------------------------------------ composites

    /**
     * {@code T *}: null when absent.
     *
     * @param <T> the value's Java type
     * @param src the buffer, read from its position, which advances past the value
     * @param codec reads the value when present
     * @param what what is being read, named in the message if the input is malformed
     * @return the value, or null when absent
     */
    public static <T> T readOptional(final ByteBuffer src, final XdrCodec<T> codec, final String what) {
        return readBool(src, what + " presence") ? codec.read(src) : null;
    }

    /**
     * {@code T<max>}.
     *
     * @param <T> the elements' Java type
     * @param src the buffer, read from its position, which advances past the value
     * @param codec reads each element
     * @param max the most elements accepted
     * @param what what is being read, named in the message if the input is malformed
     * @return the elements, in order
     */
    public static <T> List<T> readArray(final ByteBuffer src, final XdrCodec<T> codec, final int max,
                                        final String what) {
        final int n = readArrayLength(src, max, what);
        final List<T> list = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            list.add(codec.read(src));
        }
        return list;
    }

    /**
     * {@code T[n]}.
     *
     * @param <T> the elements' Java type
     * @param src the buffer, read from its position, which advances past the value
     * @param codec reads each element
     * @param n the fixed number of elements
     * @param what what is being read, named in the message if the input is malformed
     * @return the elements, in order
     */
    public static <T> List<T> readFixedArray(final ByteBuffer src, final XdrCodec<T> codec, final int n,
                                             final String what) {
        if ((long) n * 4 > src.remaining()) {
            throw malformed(what + " of " + n + " elements needs at least " + 4L * n + " bytes, "
                    + src.remaining() + " left");
        }
        final List<T> list = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            list.add(codec.read(src));
        }
        return list;
    }

    // ------------------------------------------------------------------ helpers

    /**
     * Bytes of padding after {@code length} bytes of opaque data or string.
     *
     * @param length the bytes of data
     * @return the padding, 0 to 3 bytes
     */
    public static int pad(final int length) {
        return (4 - (length & 3)) & 3;
    }

    /** A length word, checked against {@code max} (read as unsigned: 2^31 and more exceed any limit). */
    private static int readLength(final ByteBuffer src, final int max, final String what) {
        final int n = readInt(src, what + " length");
        if (n < 0 || n > max) {
            throw malformed(what + " length " + Integer.toUnsignedString(n) + " exceeds " + max);
        }
        return n;
    }

    private static void need(final ByteBuffer src, final long n, final String what) {
        if (src.remaining() < n) {
            throw malformed(what + " needs " + n + " bytes, " + src.remaining() + " left");
        }
    }

    static ProtocolException malformed(final String text) {
        return new ProtocolException("malformed XDR: " + text);
    }
}
