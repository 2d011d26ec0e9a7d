package dev.braid.nio;

import dev.braid.spi.BackendInstance;
import dev.braid.spi.ConnectionHandler;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.channels.SelectionKey;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.function.Supplier;

/** A listening socket, registered for OP_ACCEPT on the first event loop. Accept runs on that loop's thread. */
final class NioListener implements BackendInstance.Listener {
    private final NioBackendInstance backend;
    final ServerSocketChannel channel;
    private final Supplier<ConnectionHandler> handlers;
    private final InetSocketAddress address;
    SelectionKey key;

    NioListener(final NioBackendInstance backend, final ServerSocketChannel channel,
                final Supplier<ConnectionHandler> handlers) throws IOException {
        this.backend = backend;
        this.channel = channel;
        this.handlers = handlers;
        this.address = (InetSocketAddress) channel.getLocalAddress();
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
            final ConnectionHandler handler;
            try {
                handler = handlers.get();
            } catch (Throwable t) { // an Error too (the engine could not allocate): this socket only
                NioEventLoop.FAILURES.warn("no handler for a connection accepted on " + address + "; closing it", t);
                try {
                    ch.close();
                } catch (IOException e) {
                    // closing anyway
                }
                continue;
            }
            backend.nextLoop().adopt(ch, handler);
        }
    }

    @Override
    public InetSocketAddress localAddress() {
        return address;
    }

    @Override
    public void close() {
        try {
            channel.close(); // the selector drops the key at its next select
        } catch (IOException e) {
            System.getLogger("dev.braid").log(System.Logger.Level.DEBUG, "closing listener " + address, e);
        }
    }
}
