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
     * Stops ({@code true}) or resumes ({@code false}) reading from the socket. Calls are counted: reading
     * resumes once every suspension has had its resume, so independent reasons (a call limit, a full stream
     * queue) can each suspend and resume without knowing of the others. On resume the backend first
     * calls {@link ConnectionHandler#onInbound(int)} with 0 on the reader thread, so the engine can decode what it
     * had already received, and only then reads more.
     */
    void setReadSuspended(boolean suspended);

    /**
     * Closes the socket. {@code reason} becomes the argument of {@link ConnectionHandler#onClosed}; if the
     * connection is already closing, the first reason wins.
     */
    void close(Throwable reason);

    SocketAddress localAddress();

    SocketAddress remoteAddress();

    /** Name of the backend, for diagnostics. */
    String backendName();
}
