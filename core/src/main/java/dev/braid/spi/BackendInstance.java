package dev.braid.spi;

import java.net.SocketAddress;
import java.util.concurrent.CompletableFuture;
import java.util.function.Supplier;

/**
 * A running backend: its threads, its listening sockets and its connections.
 *
 * <p>Thread-safe: every method may be called from any thread.
 */
public interface BackendInstance extends AutoCloseable {

    /**
     * Opens a connection (TCP for an {@link java.net.InetSocketAddress}, a Unix domain socket for a
     * {@link java.net.UnixDomainSocketAddress}) and attaches {@code handler} to it. The future completes once the socket is
     * connected and {@link ConnectionHandler#onOpen} has returned; it fails with the connect error
     * otherwise, and then the backend never calls {@code handler} (the caller cleans it up).
     *
     * @param remote the address to connect to
     * @param handler the engine side of the new connection
     * @return completes when the connection is open
     */
    CompletableFuture<Void> connect(SocketAddress remote, ConnectionHandler handler);

    /**
     * Listens on {@code local}: a TCP address, or a Unix domain socket path (a stale socket file left by a
     * crashed server is replaced, a live one or a file that is not a socket is refused; the file is removed
     * when the listener closes). For each accepted connection the backend calls {@code handlers.get()} and
     * attaches the handler returned.
     *
     * @param local the address to bind (port 0: any free port)
     * @param handlers gives the engine side of each accepted connection
     * @return the listening socket
     */
    Listener listen(SocketAddress local, Supplier<ConnectionHandler> handlers);

    /** Closes every listener and connection, then stops the backend's threads and waits for them to end. */
    @Override
    void close();

    /** A listening socket. */
    interface Listener extends AutoCloseable {
        /** {@return the bound address, with the real port (TCP) or the socket path (Unix domain)} */
        SocketAddress localAddress();

        /** Stops accepting. Connections already accepted stay open. */
        @Override
        void close();
    }
}
