package dev.braid;

/**
 * Readiness callbacks for non-blocking streams. Called on the connection's I/O thread: they must not block.
 * Default methods do nothing.
 */
public interface StreamListener {
    /** Data, a hole or the end of the stream can be read with {@link BraidStream#tryRead}. */
    default void onReadable(final BraidStream stream) {
    }

    /** {@link BraidStream#tryWrite} can accept bytes again. */
    default void onWritable(final BraidStream stream) {
    }

    /** The stream was aborted by the peer or its connection failed. */
    default void onError(final BraidStream stream, final BraidException error) {
    }

    /** The peer finished its side (EOF). */
    default void onHangup(final BraidStream stream) {
    }
}
