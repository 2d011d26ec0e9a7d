package dev.braid.nio;

import dev.braid.BraidException;
import dev.braid.spi.BackendInstance;
import dev.braid.spi.BackendSettings;
import dev.braid.spi.ConnectionHandler;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.SocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;

/** A running nio backend: {@code ioThreads} event loops; connections are spread over them round-robin. */
final class NioBackendInstance implements BackendInstance {
    private final NioEventLoop[] loops;
    private final AtomicInteger next = new AtomicInteger();
    final BackendSettings settings;

    NioBackendInstance(final BackendSettings settings) {
        this.settings = settings;
        loops = new NioEventLoop[settings.ioThreads()];
        try {
            for (int i = 0; i < loops.length; i++) {
                loops[i] = new NioEventLoop(this, settings.threadNamePrefix() + "-io-" + i);
            }
        } catch (IOException e) {
            for (NioEventLoop l : loops) {
                if (l != null) {
                    l.shutdown();
                }
            }
            throw new UncheckedIOException("cannot open a selector", e);
        }
        for (NioEventLoop l : loops) {
            l.start();
        }
    }

    NioEventLoop nextLoop() {
        return loops[Math.floorMod(next.getAndIncrement(), loops.length)];
    }

    @Override
    public CompletableFuture<Void> connect(final SocketAddress remote, final ConnectionHandler handler) {
        return nextLoop().connect(remote, handler);
    }

    @Override
    public Listener listen(final SocketAddress local, final Supplier<ConnectionHandler> handlers) {
        try {
            final ServerSocketChannel ssc = dev.braid.internal.backend.UnixSockets.openServerFor(local);
            try {
                ssc.bind(local, 4096); // the backlog, as epoll's (EpollBackendInstance.BACKLOG says why)
                ssc.configureBlocking(false);
            } catch (IOException e) {
                ssc.close();
                throw e;
            }
            final NioListener l = new NioListener(this, ssc, handlers);
            loops[0].register(l);
            return l;
        } catch (IOException e) {
            throw new BraidException(BraidException.Category.IO, "cannot listen on " + local + ": " + e.getMessage(), e);
        }
    }

    @Override
    public void close() {
        for (NioEventLoop l : loops) {
            l.shutdown();
        }
        for (NioEventLoop l : loops) {
            l.awaitTermination();
        }
    }
}
