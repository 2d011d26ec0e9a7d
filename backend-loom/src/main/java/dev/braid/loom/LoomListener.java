package dev.braid.loom;

import dev.braid.spi.BackendInstance;
import dev.braid.spi.ConnectionHandler;

import java.io.IOException;
import java.net.SocketAddress;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.function.Supplier;

/**
 * A blocking listening socket and its accept virtual thread ({@code <prefix>-accept-<id>}), which hands each
 * accepted socket to a new connection. {@link #close()} (any thread) closes the socket, which ends a blocked
 * {@code accept} with {@code AsynchronousCloseException} and so the thread.
 */
final class LoomListener implements BackendInstance.Listener {
    private static final System.Logger LOG = System.getLogger("dev.braid");
    /** Pause after an accept error (for example too many open files), so a persistent one does not spin. */
    private static final long ACCEPT_BACKOFF_MILLIS = 10;

    private final LoomBackendInstance backend;
    final ServerSocketChannel channel;
    private final Supplier<ConnectionHandler> handlers;
    private final SocketAddress address;
    private volatile boolean closed;

    LoomListener(final LoomBackendInstance backend, final ServerSocketChannel channel,
                 final Supplier<ConnectionHandler> handlers) throws IOException {
        this.backend = backend;
        this.channel = channel;
        this.handlers = handlers;
        this.address = channel.getLocalAddress();
    }

    /** Body of the accept thread. */
    void acceptLoop() {
        try {
            while (!closed) {
                final SocketChannel ch;
                try {
                    ch = channel.accept();
                } catch (ClosedChannelException e) {
                    return; // closed (AsynchronousCloseException is one)
                } catch (IOException e) {
                    if (closed || !channel.isOpen()) {
                        return;
                    }
                    LOG.log(System.Logger.Level.WARNING, "accept failed on " + address, e);
                    try {
                        Thread.sleep(ACCEPT_BACKOFF_MILLIS);
                    } catch (InterruptedException ie) {
                        return;
                    }
                    continue;
                }
                if (closed) {
                    LoomBackendInstance.closeQuietly(ch); // raced with close: stop accepting means this one too
                    return;
                }
                try {
                    backend.adopt(ch, handlers);
                } catch (RuntimeException e) { // one connection's failure never stops the listener
                    LOG.log(System.Logger.Level.WARNING, "cannot adopt a connection accepted on " + address, e);
                    LoomBackendInstance.closeQuietly(ch);
                }
            }
        } finally {
            backend.forget(this);
        }
    }

    @Override
    public SocketAddress localAddress() {
        return address;
    }

    @Override
    public void close() {
        closed = true;
        try {
            channel.close();
        } catch (IOException e) {
            LOG.log(System.Logger.Level.DEBUG, "closing listener " + address, e);
        }
        dev.braid.internal.backend.UnixSockets.removeAfterClose(address);
    }
}
