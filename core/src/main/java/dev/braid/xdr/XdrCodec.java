package dev.braid.xdr;

import dev.braid.Marshaller;

import java.nio.ByteBuffer;
import java.util.List;
import java.util.function.IntFunction;
import java.util.function.ToIntFunction;

/**
 * An XDR encoding of one type: a {@link Marshaller} whose bytes follow RFC 4506, so any codec plugs into a
 * {@link dev.braid.ProcedureDescriptor}. The constants and factories here cover XDR's built-in types and
 * compose into structs, arrays, optionals and unions; a struct is a class of your own whose codec calls
 * {@link XdrReader} and {@link XdrWriter} field by field (see the examples module).
 *
 * <p>Contract, as for every marshaller: {@link #size} is exact, {@link #write} writes that many bytes at the
 * buffer's position, {@link #read} reads from the position and advances it past the value (the buffer is
 * valid only during the call). Reads are bounded ({@link XdrReader}): malformed input throws
 * {@link dev.braid.ProtocolException}.
 *
 * <p><b>Threads.</b> The codecs here are stateless and shared freely.
 *
 * @param <T> the Java type
 */
public interface XdrCodec<T> extends Marshaller<T> {

    /** {@code int}. Boxes: values outside -128..127 allocate an {@code Integer} when read. */
    XdrCodec<Integer> INT = of(v -> 4, (v, b) -> b.putInt(v), b -> XdrReader.readInt(b));
    /** {@code unsigned int}, as a long. */
    XdrCodec<Long> UNSIGNED_INT = of(v -> 4, (v, b) -> XdrWriter.writeUnsignedInt(b, v), XdrReader::readUnsignedInt);
    /** {@code hyper} (and {@code unsigned hyper}: the same bits). */
    XdrCodec<Long> HYPER = of(v -> 8, (v, b) -> b.putLong(v), b -> XdrReader.readHyper(b));
    /** {@code bool}. */
    XdrCodec<Boolean> BOOL = of(v -> 4, (v, b) -> XdrWriter.writeBool(b, v), b -> XdrReader.readBool(b));
    /** {@code float}. */
    XdrCodec<Float> FLOAT = of(v -> 4, (v, b) -> b.putFloat(v), XdrReader::readFloat);
    /** {@code double}. */
    XdrCodec<Double> DOUBLE = of(v -> 8, (v, b) -> b.putDouble(v), XdrReader::readDouble);
    /** {@code string<>} up to libvirt's 4,194,304 bytes, UTF-8. */
    XdrCodec<String> STRING = of(XdrWriter::sizeOfString, (v, b) -> XdrWriter.writeString(b, v),
            b -> XdrReader.readString(b));
    /** {@code string *} (libvirt's {@code remote_string}): null when absent. */
    XdrCodec<String> OPTIONAL_STRING = of(XdrWriter::sizeOfOptionalString, (v, b) -> XdrWriter.writeOptionalString(b, v),
            b -> XdrReader.readOptionalString(b, "string"));
    /** {@code opaque<>} up to 33,554,432 bytes, as a byte array. */
    XdrCodec<byte[]> OPAQUE = of(v -> XdrWriter.sizeOfOpaque(v.length), (v, b) -> XdrWriter.writeOpaque(b, v),
            b -> XdrReader.readOpaque(b, "opaque"));
    /** {@code void}: no bytes; reads as null. For procedures without arguments or without a result. */
    XdrCodec<Void> VOID = of(v -> 0, (v, b) -> { }, b -> null);

    @Override
    int size(T value);

    @Override
    void write(T value, ByteBuffer dst);

    @Override
    T read(ByteBuffer src);

    /**
     * Sizes a value for {@link #of}.
     *
     * @param <T> the Java type
     */
    @FunctionalInterface
    interface Sizer<T> {
        /**
         * The exact XDR length of {@code value}, as {@link XdrCodec#size}.
         *
         * @param value the value to be written
         * @return its encoded length in bytes
         */
        int size(T value);
    }

    /**
     * Writes a value for {@link #of}.
     *
     * @param <T> the Java type
     */
    @FunctionalInterface
    interface Encoder<T> {
        /**
         * Writes {@code value} at {@code dst}'s position, as {@link XdrCodec#write}.
         *
         * @param value the value to write
         * @param dst where it goes, from its position (advanced past the value)
         */
        void write(T value, ByteBuffer dst);
    }

    /**
     * Reads a value for {@link #of}.
     *
     * @param <T> the Java type
     */
    @FunctionalInterface
    interface Decoder<T> {
        /**
         * Reads a value at {@code src}'s position, as {@link XdrCodec#read}.
         *
         * @param src the encoded bytes, read from the position (advanced past the value)
         * @return the value read
         */
        T read(ByteBuffer src);
    }

    /**
     * A codec from its three functions (a struct's codec in three lambdas).
     *
     * @param <T> the Java type
     * @param sizer gives a value's exact encoded length
     * @param encoder writes a value
     * @param decoder reads a value
     * @return the codec
     */
    static <T> XdrCodec<T> of(final Sizer<? super T> sizer, final Encoder<? super T> encoder,
                              final Decoder<? extends T> decoder) {
        return new XdrCodec<>() {
            @Override
            public int size(final T value) {
                return sizer.size(value);
            }

            @Override
            public void write(final T value, final ByteBuffer dst) {
                encoder.write(value, dst);
            }

            @Override
            public T read(final ByteBuffer src) {
                return decoder.read(src);
            }
        };
    }

    /**
     * {@code string<max>}.
     *
     * @param max the longest string accepted on read, in bytes
     * @return the codec
     */
    static XdrCodec<String> string(final int max) {
        return of(XdrWriter::sizeOfString, (v, b) -> XdrWriter.writeString(b, v),
                b -> XdrReader.readString(b, max, "string"));
    }

    /**
     * {@code opaque[length]}, as a byte array of exactly that length (a UUID is {@code fixedOpaque(16)}).
     *
     * @param length the fixed number of bytes
     * @return the codec; it refuses to write an array of another length
     */
    static XdrCodec<byte[]> fixedOpaque(final int length) {
        return of(v -> XdrWriter.sizeOfFixedOpaque(length), (v, b) -> {
            if (v.length != length) {
                throw new IllegalArgumentException("opaque[" + length + "] given " + v.length + " bytes");
            }
            XdrWriter.writeFixedOpaque(b, v);
        }, b -> XdrReader.readFixedOpaque(b, length, "opaque[" + length + "]"));
    }

    /**
     * {@code opaque<max>}, as a byte array.
     *
     * @param max the most bytes accepted on read
     * @return the codec
     */
    static XdrCodec<byte[]> opaque(final int max) {
        return of(v -> XdrWriter.sizeOfOpaque(v.length), (v, b) -> XdrWriter.writeOpaque(b, v),
                b -> XdrReader.readOpaque(b, max, "opaque"));
    }

    /**
     * An enum whose XDR value {@code i} is {@code values[i]} (its ordinal, for a Java enum's {@code values()}).
     *
     * @param <E> the enum type
     * @param values the constants in XDR value order (copied)
     * @return the codec
     */
    static <E extends Enum<E>> XdrCodec<E> enumOf(final E[] values) {
        final E[] copy = values.clone();
        final String what = "enum " + copy.getClass().getComponentType().getSimpleName();
        return of(v -> 4, (v, b) -> b.putInt(v.ordinal()), b -> XdrReader.readEnum(b, copy, what));
    }

    /**
     * {@code T *}: null when absent.
     *
     * @param <T> the Java type of the value
     * @param codec the value's codec
     * @return the codec of the optional value
     */
    static <T> XdrCodec<T> optional(final XdrCodec<T> codec) {
        return of(v -> XdrWriter.sizeOfOptional(v, codec), (v, b) -> XdrWriter.writeOptional(b, v, codec),
                b -> XdrReader.readOptional(b, codec, "optional"));
    }

    /**
     * {@code T<max>}, as a list.
     *
     * @param <T> the Java type of the elements
     * @param codec the elements' codec
     * @param max the most elements, on write and on read
     * @return the codec of the array
     */
    static <T> XdrCodec<List<T>> array(final XdrCodec<T> codec, final int max) {
        return of(v -> XdrWriter.sizeOfArray(v, codec), (v, b) -> {
            if (v.size() > max) {
                throw new IllegalArgumentException("array<" + max + "> given " + v.size() + " elements");
            }
            XdrWriter.writeArray(b, v, codec);
        }, b -> XdrReader.readArray(b, codec, max, "array"));
    }

    /**
     * {@code T[n]}, as a list of exactly {@code n} elements.
     *
     * @param <T> the Java type of the elements
     * @param codec the elements' codec
     * @param n the fixed number of elements
     * @return the codec of the array; it refuses to write a list of another size
     */
    static <T> XdrCodec<List<T>> fixedArray(final XdrCodec<T> codec, final int n) {
        return of(v -> XdrWriter.sizeOfArray(v, codec) - 4, (v, b) -> {
            if (v.size() != n) {
                throw new IllegalArgumentException("array[" + n + "] given " + v.size() + " elements");
            }
            XdrWriter.writeFixedArray(b, v, codec);
        }, b -> XdrReader.readFixedArray(b, codec, n, "array[" + n + "]"));
    }

    /**
     * A discriminated union: {@code union switch (int d) { case ...: arm; }}. {@code discriminant} names the
     * case of a value; {@code arms} gives the codec of each case (null for a case the union does not
     * declare, which is malformed on read). A {@code void} arm is {@link #VOID}-like: a codec of your value
     * type that writes and reads nothing.
     *
     * @param <T> the Java type of the union
     * @param discriminant gives the discriminant of a value to write
     * @param arms gives the codec of the arm for a discriminant, or null if the union has none
     * @return the codec of the union
     */
    @SuppressWarnings("unchecked")
    static <T> XdrCodec<T> union(final ToIntFunction<? super T> discriminant,
                                 final IntFunction<? extends XdrCodec<? extends T>> arms) {
        return of(v -> 4 + ((XdrCodec<T>) arm(arms, discriminant.applyAsInt(v))).size(v), (v, b) -> {
            final int d = discriminant.applyAsInt(v);
            b.putInt(d);
            ((XdrCodec<T>) arm(arms, d)).write(v, b);
        }, b -> {
            final int d = XdrReader.readInt(b, "union discriminant");
            final XdrCodec<? extends T> arm = arms.apply(d);
            if (arm == null) {
                throw XdrReader.malformed("union has no arm for discriminant " + d);
            }
            return arm.read(b);
        });
    }

    private static <T> XdrCodec<? extends T> arm(final IntFunction<? extends XdrCodec<? extends T>> arms, final int d) {
        final XdrCodec<? extends T> arm = arms.apply(d);
        if (arm == null) {
            throw new IllegalArgumentException("union has no arm for discriminant " + d);
        }
        return arm;
    }
}
