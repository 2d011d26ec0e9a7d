package dev.braid.spi;

import java.net.InetSocketAddress;
import java.util.concurrent.CompletableFuture;
import java.util.function.Supplier;

/**
 * A running backend: its threads, its listening sockets and its connections.
 *
 * <p>Thread-safe: every method may be called from any thread.
 */
public interface BackendInstance extends AutoCloseable {

    /**
     * Opens a TCP connection and attaches {@code handler} to it. The future completes once the socket is
     * connected and {@link ConnectionHandler#onOpen} has returned; it fails with the connect error
     * otherwise, and then the backend never calls {@code handler} (the caller cleans it up).
     */
    CompletableFuture<Void> connect(InetSocketAddress remote, ConnectionHandler handler);

    /**
     * Listens on {@code local}. For each accepted connection the backend calls {@code handlers.get()} and
     * attaches the handler returned.
     */
    Listener listen(InetSocketAddress local, Supplier<ConnectionHandler> handlers);

    /** Closes every listener and connection, then stops the backend's threads and waits for them to end. */
    @Override
    void close();

    /** A listening socket. */
    interface Listener extends AutoCloseable {
        InetSocketAddress localAddress();

        /** Stops accepting. Connections already accepted stay open. */
        @Override
        void close();
    }
}
