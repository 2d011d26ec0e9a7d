package dev.braid.spi;

import java.nio.ByteBuffer;

/**
 * The engine side of a connection. Implemented by core, called by backends.
 *
 * <h2>Threads</h2>
 * A backend has, per connection, a <em>reader</em> context and a <em>writer</em> context. They may be one
 * event-loop thread (nio, epoll) or two threads (loom), but each context calls its methods from one thread
 * at a time, with a happens-before edge between successive calls:
 * <ul>
 *   <li>reader: {@link #onOpen}, {@link #inboundBuffer()}, {@link #onInbound(int)}, {@link #onInputClosed()};</li>
 *   <li>writer: {@link #gatherOutbound}, {@link #onOutboundWritten}.</li>
 * </ul>
 * {@link #onClosed} is called exactly once, after the backend has made its last call in both contexts.
 * The two contexts may be different threads (loom); the engine tolerates their calls running at the same
 * time, and serialises what must not overlap itself (stream listener callbacks, see StreamListener).
 */
public interface ConnectionHandler {

    /**
     * The socket is connected. Called once, before any other method.
     *
     * @param transport the backend's side of the connection
     */
    void onOpen(Transport transport);

    /**
     * Where the backend must put the next bytes it reads. Always has room (the handler makes sure of it).
     * The buffer stays owned by the handler; the backend only fills it between its position and limit.
     *
     * @return the buffer to read into
     */
    ByteBuffer inboundBuffer();

    /**
     * {@code bytes} were added to {@link #inboundBuffer()} (0 when reading resumes after a suspension):
     * decode what has arrived. Reader context.
     *
     * @param bytes how many bytes were read
     */
    void onInbound(int bytes);

    /** The peer closed its side (end of stream). Reader context; {@link #onClosed} follows. */
    void onInputClosed();

    /**
     * Fills {@code dst} from index 0 with buffers to write, in order, and returns how many. Returns 0 when
     * there is nothing to write. Buffers returned but not fully written by the backend are returned again,
     * first, on the next call. Writer context. The buffers stay owned by the handler.
     *
     * @param dst the array to fill
     * @return how many buffers were put in {@code dst}
     */
    int gatherOutbound(ByteBuffer[] dst);

    /**
     * The backend wrote {@code bytes} from the buffers of the last {@link #gatherOutbound} (advancing
     * their positions). Writer context.
     *
     * @param bytes how many bytes were written
     */
    void onOutboundWritten(long bytes);

    /**
     * The connection is closed. Called once, after the reader and writer contexts made their last calls.
     *
     * @param reason why: the reason given to {@link Transport#close}, or the backend's own (end of stream,
     *               I/O error)
     */
    void onClosed(Throwable reason);
}
