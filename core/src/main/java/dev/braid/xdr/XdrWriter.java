package dev.braid.xdr;

import java.nio.ByteBuffer;
import java.util.List;

/**
 * Writes XDR (RFC 4506) into a big-endian {@link ByteBuffer}: relative puts at its position, advancing it,
 * with the zero padding XDR requires. Static methods over the buffer braid lends (a
 * {@link dev.braid.PayloadWriter}'s or {@link dev.braid.Marshaller}'s destination, a frame's payload), so
 * writing primitives and strings allocates nothing. The {@code sizeOf*} methods give the encoded size
 * up front, which is what a {@link dev.braid.Marshaller} needs to claim its frame.
 *
 * <p>A write past the buffer's limit throws {@link java.nio.BufferOverflowException}, as the buffer does:
 * size the payload first ({@link XdrCodec#size}). Types and layouts: see {@link XdrReader}.
 *
 * <p><b>Threads.</b> Stateless; the buffer is the caller's, used by one thread at a time.
 */
public final class XdrWriter {
    private static final byte[] ZEROS = new byte[4];

    private XdrWriter() {
    }

    // ------------------------------------------------------------------ primitives

    /**
     * An {@code int}.
     *
     * @param dst the buffer, written at its position, which advances past the value
     * @param v the value
     */
    public static void writeInt(final ByteBuffer dst, final int v) {
        dst.putInt(v);
    }

    /**
     * An {@code unsigned int}: the low 32 bits of {@code v}.
     *
     * @param dst the buffer, written at its position, which advances past the value
     * @param v the value, 0 to 2^32 - 1
     * @throws IllegalArgumentException if {@code v} is out of that range
     */
    public static void writeUnsignedInt(final ByteBuffer dst, final long v) {
        if (v < 0 || v > 0xFFFF_FFFFL) {
            throw new IllegalArgumentException("unsigned int out of range: " + v);
        }
        dst.putInt((int) v);
    }

    /**
     * A {@code hyper} or {@code unsigned hyper} (the same 64 bits).
     *
     * @param dst the buffer, written at its position, which advances past the value
     * @param v the value
     */
    public static void writeHyper(final ByteBuffer dst, final long v) {
        dst.putLong(v);
    }

    /**
     * A {@code bool}: 1 for true, 0 for false.
     *
     * @param dst the buffer, written at its position, which advances past the value
     * @param v the value
     */
    public static void writeBool(final ByteBuffer dst, final boolean v) {
        dst.putInt(v ? 1 : 0);
    }

    /**
     * An enum: its declared value (for enums read with {@link XdrReader#readEnum}, the index).
     *
     * @param dst the buffer, written at its position, which advances past the value
     * @param value the enum's declared value
     */
    public static void writeEnum(final ByteBuffer dst, final int value) {
        dst.putInt(value);
    }

    /**
     * A {@code float} (IEEE 754 single precision).
     *
     * @param dst the buffer, written at its position, which advances past the value
     * @param v the value
     */
    public static void writeFloat(final ByteBuffer dst, final float v) {
        dst.putFloat(v);
    }

    /**
     * A {@code double} (IEEE 754 double precision).
     *
     * @param dst the buffer, written at its position, which advances past the value
     * @param v the value
     */
    public static void writeDouble(final ByteBuffer dst, final double v) {
        dst.putDouble(v);
    }

    // ------------------------------------------------------------------ opaque and strings

    /**
     * {@code opaque[n]}: the bytes, then padding.
     *
     * @param dst the buffer, written at its position, which advances past the bytes and their padding
     * @param bytes the bytes; their length is the {@code n} the reader expects
     */
    public static void writeFixedOpaque(final ByteBuffer dst, final byte[] bytes) {
        dst.put(bytes);
        dst.put(ZEROS, 0, XdrReader.pad(bytes.length));
    }

    /**
     * {@code opaque[n]} from {@code src}'s remaining bytes (not consumed).
     *
     * @param dst the buffer, written at its position, which advances past the bytes and their padding
     * @param src the bytes: its remaining ones, {@code n} of them; its position is left alone
     */
    public static void writeFixedOpaque(final ByteBuffer dst, final ByteBuffer src) {
        final int n = src.remaining();
        dst.put(dst.position(), src, src.position(), n);
        dst.position(dst.position() + n);
        dst.put(ZEROS, 0, XdrReader.pad(n));
    }

    /**
     * {@code opaque<>}: the length, the bytes, padding.
     *
     * @param dst the buffer, written at its position, which advances past the value
     * @param bytes the bytes
     */
    public static void writeOpaque(final ByteBuffer dst, final byte[] bytes) {
        dst.putInt(bytes.length);
        writeFixedOpaque(dst, bytes);
    }

    /**
     * {@code opaque<>} from {@code src}'s remaining bytes (not consumed).
     *
     * @param dst the buffer, written at its position, which advances past the value
     * @param src the bytes: its remaining ones; its position is left alone
     */
    public static void writeOpaque(final ByteBuffer dst, final ByteBuffer src) {
        dst.putInt(src.remaining());
        writeFixedOpaque(dst, src);
    }

    /**
     * A {@code string}: the UTF-8 length, the UTF-8 bytes (encoded in place, no allocation), padding.
     *
     * @param dst the buffer, written at its position, which advances past the value
     * @param s the string, not null
     */
    public static void writeString(final ByteBuffer dst, final String s) {
        final int n = utf8Length(s);
        dst.putInt(n);
        for (int i = 0; i < s.length(); i++) {
            final char c = s.charAt(i);
            if (c < 0x80) {
                dst.put((byte) c);
            } else if (c < 0x800) {
                dst.put((byte) (0xC0 | c >> 6)).put((byte) (0x80 | c & 0x3F));
            } else if (Character.isHighSurrogate(c) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
                final int cp = Character.toCodePoint(c, s.charAt(++i));
                dst.put((byte) (0xF0 | cp >> 18)).put((byte) (0x80 | cp >> 12 & 0x3F))
                        .put((byte) (0x80 | cp >> 6 & 0x3F)).put((byte) (0x80 | cp & 0x3F));
            } else if (Character.isSurrogate(c)) {
                dst.put((byte) '?'); // an unpaired surrogate: what String.getBytes(UTF_8) writes too
            } else {
                dst.put((byte) (0xE0 | c >> 12)).put((byte) (0x80 | c >> 6 & 0x3F)).put((byte) (0x80 | c & 0x3F));
            }
        }
        dst.put(ZEROS, 0, XdrReader.pad(n));
    }

    /**
     * An optional string ({@code string*}): a bool, then the string when not null.
     *
     * @param dst the buffer, written at its position, which advances past the value
     * @param s the string, or null when absent
     */
    public static void writeOptionalString(final ByteBuffer dst, final String s) {
        if (s == null) {
            dst.putInt(0);
        } else {
            dst.putInt(1);
            writeString(dst, s);
        }
    }

    // ------------------------------------------------------------------ composites

    /**
     * {@code T *}: a bool, then the value when not null.
     *
     * @param <T> the value's Java type
     * @param dst the buffer, written at its position, which advances past the value
     * @param value the value, or null when absent
     * @param codec writes the value when present
     */
    public static <T> void writeOptional(final ByteBuffer dst, final T value, final XdrCodec<T> codec) {
        if (value == null) {
            dst.putInt(0);
        } else {
            dst.putInt(1);
            codec.write(value, dst);
        }
    }

    /**
     * {@code T<>}: the count, then the elements.
     *
     * @param <T> the elements' Java type
     * @param dst the buffer, written at its position, which advances past the value
     * @param values the elements, in order
     * @param codec writes each element
     */
    public static <T> void writeArray(final ByteBuffer dst, final List<? extends T> values, final XdrCodec<T> codec) {
        dst.putInt(values.size());
        writeFixedArray(dst, values, codec);
    }

    /**
     * {@code T[n]}: the elements, no count.
     *
     * @param <T> the elements' Java type
     * @param dst the buffer, written at its position, which advances past the value
     * @param values the elements, in order: {@code n} of them
     * @param codec writes each element
     */
    public static <T> void writeFixedArray(final ByteBuffer dst, final List<? extends T> values,
                                           final XdrCodec<T> codec) {
        for (int i = 0; i < values.size(); i++) {
            codec.write(values.get(i), dst);
        }
    }

    // ------------------------------------------------------------------ sizes

    /**
     * Bytes of padding after {@code length} bytes of opaque data or string.
     *
     * @param length the bytes of data
     * @return the padding, 0 to 3 bytes
     */
    public static int pad(final int length) {
        return XdrReader.pad(length);
    }

    /**
     * Encoded size of {@code opaque[n]}: n plus padding.
     *
     * @param n the number of bytes
     * @return the encoded size in bytes
     */
    public static int sizeOfFixedOpaque(final int n) {
        return n + pad(n);
    }

    /**
     * Encoded size of an {@code opaque<>} or string of {@code n} bytes: length word, bytes, padding.
     *
     * @param n the number of bytes
     * @return the encoded size in bytes
     */
    public static int sizeOfOpaque(final int n) {
        return 4 + n + pad(n);
    }

    /**
     * Encoded size of {@code s} as a {@code string}.
     *
     * @param s the string, not null
     * @return the encoded size in bytes
     */
    public static int sizeOfString(final String s) {
        return sizeOfOpaque(utf8Length(s));
    }

    /**
     * Encoded size of {@code s} as a {@code string*} (null: absent).
     *
     * @param s the string, or null when absent
     * @return the encoded size in bytes
     */
    public static int sizeOfOptionalString(final String s) {
        return s == null ? 4 : 4 + sizeOfString(s);
    }

    /**
     * Encoded size of {@code value} as a {@code T *}.
     *
     * @param <T> the value's Java type
     * @param value the value, or null when absent
     * @param codec sizes the value when present
     * @return the encoded size in bytes
     */
    public static <T> int sizeOfOptional(final T value, final XdrCodec<T> codec) {
        return value == null ? 4 : 4 + codec.size(value);
    }

    /**
     * Encoded size of {@code values} as a {@code T<>} (count included).
     *
     * @param <T> the elements' Java type
     * @param values the elements
     * @param codec sizes each element
     * @return the encoded size in bytes
     */
    public static <T> int sizeOfArray(final List<? extends T> values, final XdrCodec<T> codec) {
        int n = 4;
        for (int i = 0; i < values.size(); i++) {
            n += codec.size(values.get(i));
        }
        return n;
    }

    /**
     * UTF-8 length of {@code s}, counted without encoding it (an unpaired surrogate counts 1, as '?').
     *
     * @param s the string, not null
     * @return its length in UTF-8 bytes
     */
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
            } else if (Character.isSurrogate(c)) {
                n += 1;
            } else {
                n += 3;
            }
        }
        return n;
    }
}
