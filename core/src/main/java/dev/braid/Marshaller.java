package dev.braid;

import java.nio.ByteBuffer;
import java.util.function.Function;

/**
 * Turns values of one type into a call's, a reply's or a stream result's payload and back: the plain
 * interface behind {@link ProcedureDescriptor}. braid's XDR codecs ({@link dev.braid.xdr.XdrCodec}) are
 * marshallers; so is anything else that can write a value into a buffer (JSON, protobuf, a hand-made
 * layout): braid depends on none of them.
 *
 * <h2>Writing</h2>
 * braid asks {@link #size} first, claims a pooled frame with exactly that much payload room, and calls
 * {@link #write} on it: the value goes straight into the frame, with no intermediate copy. A marshaller that
 * can only produce the whole encoding at once (a JSON library's {@code writeValueAsBytes}, protobuf's
 * {@code toByteArray}) overrides {@link #encode} instead, or is made with {@link #ofBytes}: braid then
 * copies what it returns into the frame.
 *
 * <h2>Reading</h2>
 * {@link #read} gets a read-only view of the received payload (position 0, limit = payload length) that is
 * valid only during the call: the value returned must not refer to it (copy what you keep). Bytes left
 * unread after the value are ignored. An exception thrown by {@code read} fails that call or stream
 * operation only (category {@link BraidException.Category#PROTOCOL}); the connection stays open.
 *
 * <h2>Allocation</h2>
 * braid allocates nothing per call around a marshaller on its allocation-free paths; what the marshaller
 * allocates is its own. XDR primitives decode without allocating; a value type decoded into a caller's
 * object ({@link #read(ByteBuffer, Object)}) allocates nothing either.
 *
 * <p><b>Threads.</b> Marshallers are shared by every thread that calls or serves the procedure and by
 * braid's I/O threads: they must be stateless or thread-safe.
 *
 * @param <T> the value type
 */
public interface Marshaller<T> {

    /**
     * Exact number of payload bytes {@link #write} will write for {@code value}.
     *
     * @param value the value to be written
     * @return its encoded length in bytes
     */
    int size(T value);

    /**
     * Writes {@code value} at {@code dst}'s position with relative puts, exactly {@link #size} bytes.
     * {@code dst} is a view of a pooled frame, valid only during this call.
     *
     * @param value the value to write
     * @param dst where it goes, from its position; room for exactly {@link #size} bytes
     */
    void write(T value, ByteBuffer dst);

    /**
     * Reads a value from {@code src} (valid during this call only; see the class comment).
     *
     * @param src the payload, read-only, position 0, limit the payload's length
     * @return the decoded value, not referring to {@code src}
     */
    T read(ByteBuffer src);

    /**
     * Reads a value into {@code reuse} when the type is mutable and returns it, so that a caller that keeps
     * one object per thread or per call site decodes without allocating. {@code reuse} may be null (nothing to
     * reuse yet): then make a new value. braid passes one on its allocation-free paths (the into-object
     * blocking call, typed reply handlers, non-blocking typed servers). The default ignores {@code reuse} and
     * returns {@link #read(ByteBuffer)}.
     *
     * @param src the payload, read-only, position 0, limit the payload's length
     * @param reuse an earlier value to decode into, or null
     * @return the decoded value: {@code reuse} filled in, or a new value
     */
    default T read(final ByteBuffer src, final T reuse) {
        return read(src);
    }

    /**
     * The whole encoding of {@code value} at once (position 0 to limit), for marshallers that cannot write
     * into a buffer of a known size; braid copies it into the frame and does not call {@link #size} or
     * {@link #write}. The default returns null: braid uses {@code size} and {@code write}.
     *
     * @param value the value to encode
     * @return its whole encoding, position 0 to limit, or null to have braid use {@code size} and
     *         {@code write}
     */
    default ByteBuffer encode(final T value) {
        return null;
    }

    /**
     * A marshaller over a library that encodes to and decodes from byte arrays: protobuf's
     * {@code toByteArray} / {@code parseFrom}, a JSON mapper's {@code writeValueAsBytes} / {@code readValue}.
     * Each call encodes once ({@link #encode}); {@code decoder} gets a copy of the payload.
     *
     * @param <T> the value type
     * @param encoder turns a value into its encoding
     * @param decoder turns a copy of the payload's bytes back into a value
     * @return a marshaller that encodes with {@code encoder} and decodes with {@code decoder}
     */
    static <T> Marshaller<T> ofBytes(final Function<? super T, byte[]> encoder,
                                     final Function<byte[], ? extends T> decoder) {
        return new Marshaller<>() {
            @Override
            public int size(final T value) {
                return encoder.apply(value).length;
            }

            @Override
            public void write(final T value, final ByteBuffer dst) {
                dst.put(encoder.apply(value));
            }

            @Override
            public T read(final ByteBuffer src) {
                final byte[] bytes = new byte[src.remaining()];
                src.get(bytes);
                return decoder.apply(bytes);
            }

            @Override
            public ByteBuffer encode(final T value) {
                return ByteBuffer.wrap(encoder.apply(value));
            }
        };
    }
}
