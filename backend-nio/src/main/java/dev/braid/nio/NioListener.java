package dev.braid.nio;

import dev.braid.spi.BackendInstance;
import dev.braid.spi.ConnectionHandler;

import java.io.IOException;
import java.net.SocketAddress;
import java.nio.channels.SelectionKey;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.function.Supplier;

/** A listening socket, registered for OP_ACCEPT on the first event loop. Accept runs on that loop's thread. */
final class NioListener implements BackendInstance.Listener {
    private final NioBackendInstance backend;
    final ServerSocketChannel channel;
    private final Supplier<ConnectionHandler> handlers;
    private final SocketAddress address;
    SelectionKey key;

    NioListener(final NioBackendInstance backend, final ServerSocketChannel channel,
                final Supplier<ConnectionHandler> handlers) throws IOException {
        this.backend = backend;
        this.channel = channel;
        this.handlers = handlers;
        this.address = channel.getLocalAddress();
    }

    /** Loop thread: accept everything pending and hand each socket to a loop. */
    void acceptAll() {
        while (true) {
            final SocketChannel ch;
            try {
                ch = channel.accept();
            } catch (IOException e) {
                System.getLogger("dev.braid").log(System.Logger.Level.WARNING, "accept failed on " + address, e);
                return;
            }
            if (ch == null) {
                return;
            }
            backend.nextLoop().adopt(ch, handlers.get());
        }
    }

    @Override
    public SocketAddress localAddress() {
        return address;
    }

    @Override
    public void close() {
        try {
            channel.close(); // the selector drops the key at its next select
            dev.braid.internal.backend.UnixSockets.removeAfterClose(address);
        } catch (IOException e) {
            System.getLogger("dev.braid").log(System.Logger.Level.DEBUG, "closing listener " + address, e);
        }
    }
}
