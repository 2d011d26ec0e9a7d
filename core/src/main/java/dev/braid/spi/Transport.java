package dev.braid.spi;

import java.net.SocketAddress;

/**
 * A connection's socket as the engine sees it. Implemented by backends, called by the engine.
 *
 * <p>Every method may be called from any thread.
 */
public interface Transport {

    /**
     * There is outbound data. The backend will call {@link ConnectionHandler#gatherOutbound} on the
     * connection's writer thread soon. Cheap to call often; the engine already coalesces calls.
     */
    void requestFlush();

    /**
     * Like {@link #requestFlush()}, for a latency-sensitive frame on an otherwise quiet connection (a call
     * with no other call in flight, the answer to the only call being served). A backend may then write on
     * the calling thread, when that is cheaper than handing the write to its I/O thread, provided it keeps
     * {@link ConnectionHandler#gatherOutbound} and {@link ConnectionHandler#onOutboundWritten} to one thread
     * at a time. The default is {@link #requestFlush()}.
     */
    default void requestUrgentFlush() {
        requestFlush();
    }

    /**
     * Stops ({@code true}) or resumes ({@code false}) reading from the socket. Calls are counted: reading
     * resumes once every suspension has had its resume, so independent reasons (a call limit, a full stream
     * queue) can each suspend and resume without knowing of the others. On resume the backend first
     * calls {@link ConnectionHandler#onInbound(int)} with 0 on the reader thread, so the engine can decode what it
     * had already received, and only then reads more.
     *
     * @param suspended true to suspend, false to resume
     */
    void setReadSuspended(boolean suspended);

    /**
     * Closes the socket. {@code reason} becomes the argument of {@link ConnectionHandler#onClosed}; if the
     * connection is already closing, the first reason wins.
     *
     * @param reason why
     */
    void close(Throwable reason);

    /** {@return this side's socket address} */
    SocketAddress localAddress();

    /** {@return the peer's socket address} */
    SocketAddress remoteAddress();

    /**
     * Name of the backend, for diagnostics.
     *
     * @return the name
     */
    String backendName();
}
