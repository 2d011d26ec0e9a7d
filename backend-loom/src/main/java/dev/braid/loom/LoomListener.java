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
    private static final System.Logger LOG = System.getLogger("dev.braid.loom");
    /**
     * First pause after an accept error (for example too many open files), doubled on each error in a row up
     * to {@link #MAX_BACKOFF_MILLIS}, so a persistent one neither spins nor floods the log: one WARNING starts
     * an episode, one INFO ends it (as nio's listener, issue 11 §1.5).
     */
    private static final long ACCEPT_BACKOFF_MILLIS = 10;
    private static final long MAX_BACKOFF_MILLIS = 1_000;

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
        long backoff = 0;
        long failures = 0;
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
                    if (failures++ == 0) {
                        try {
                            LOG.log(System.Logger.Level.WARNING, "accept failed on " + address + ": " + e
                                    + "; pausing accepts (retrying after " + ACCEPT_BACKOFF_MILLIS + " ms, then up to "
                                    + "every " + MAX_BACKOFF_MILLIS + " ms; existing connections are served meanwhile)");
                        } catch (RuntimeException | Error logFailed) {
                            // a logging backend that needs a descriptor too: the line is lost, the thread goes on
                        }
                    }
                    backoff = backoff == 0 ? ACCEPT_BACKOFF_MILLIS : Math.min(MAX_BACKOFF_MILLIS, backoff * 2);
                    try {
                        Thread.sleep(backoff);
                    } catch (InterruptedException ie) {
                        return;
                    }
                    continue;
                }
                if (closed) {
                    LoomBackendInstance.closeQuietly(ch); // raced with close: stop accepting means this one too
                    return;
                }
                if (failures > 0) {
                    LOG.log(System.Logger.Level.INFO, "accepting on " + address + " again after " + failures
                            + " failed attempts");
                    failures = 0;
                    backoff = 0;
                }
                try {
                    backend.adopt(ch, handlers);
                } catch (RuntimeException | Error e) { // one connection's failure (even OutOfMemoryError) never stops the listener
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
