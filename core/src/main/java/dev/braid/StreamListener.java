package dev.braid;

/**
 * Readiness callbacks for non-blocking streams. They must not block. Callbacks of one stream never overlap:
 * they run one at a time, on the thread that made the stream ready (the connection's I/O thread for data,
 * credit, hang-up and aborts from the peer; the thread calling {@link BraidStream#setListener} for the state
 * at that moment; a thread that aborts the stream for onError). Default methods do nothing.
 */
public interface StreamListener {
    /**
     * Data, a hole or the end of the stream can be read with {@link BraidStream#tryRead}.
     *
     * @param stream the stream
     */
    default void onReadable(final BraidStream stream) {
    }

    /**
     * {@link BraidStream#tryWrite} can accept bytes again.
     *
     * @param stream the stream
     */
    default void onWritable(final BraidStream stream) {
    }

    /**
     * The stream was aborted by the peer or its connection failed.
     *
     * @param stream the stream
     * @param error why it ended
     */
    default void onError(final BraidStream stream, final BraidException error) {
    }

    /**
     * The peer finished its side (EOF).
     *
     * @param stream the stream
     */
    default void onHangup(final BraidStream stream) {
    }
}
