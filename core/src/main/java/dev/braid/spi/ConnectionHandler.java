package dev.braid.spi;

import java.nio.ByteBuffer;

/**
 * The engine side of a connection. Implemented by core, called by backends.
 *
 * <h2>Threads</h2>
 * A backend has, per connection, a <em>reader</em> context and a <em>writer</em> context. Each context
 * calls its methods from one thread at a time, with a happens-before edge between successive calls:
 * <ul>
 *   <li>reader: {@link #onOpen}, {@link #inboundBuffer()}, {@link #onInbound(int)}, {@link #onInputClosed()},
 *       and the tasks handed to {@link Transport#execute};</li>
 *   <li>writer: {@link #gatherOutbound}, {@link #onOutboundWritten}.</li>
 * </ul>
 * Which threads: nio and epoll run both contexts on the connection's event loop, except that a thread
 * writing through ({@link Transport#requestUrgentFlush()}) runs the writer context for one batch meanwhile;
 * loom runs the reader context on its reader thread (and tasks on its writer thread while the reader waits
 * in a read) and the writer context on its writer thread. So the two contexts may run at the same time:
 * the engine tolerates that, and serialises itself what must not overlap (a stream's listener callbacks,
 * see StreamListener). A backend never holds a lock around a handler call that the other context needs, so
 * a slow call in one context (user code the engine runs there) never stalls the other. The backends mark
 * their I/O threads with {@link IoThreads#markCurrent}; a thread writing through is not one.
 * {@link #onClosed} is called exactly once, after the backend has made its last call in both contexts.
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
     * {@code bytes} were added to {@link #inboundBuffer()} (0 after reading was turned back on, see
     * {@link Transport#setReadSuspended}): decode what has arrived. Reader context.
     *
     * @param bytes how many bytes were read (0 after reading was turned back on)
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
