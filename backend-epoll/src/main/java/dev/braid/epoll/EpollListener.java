package dev.braid.epoll;

import dev.braid.spi.BackendInstance;
import io.netty.channel.Channel;

import java.net.SocketAddress;

/**
 * A listening socket (a Netty {@code EpollServerSocketChannel}, or {@code EpollServerDomainSocketChannel} for a
 * Unix domain socket, on one of the loops). Accepted sockets go to the
 * group's loops round-robin, each with a fresh {@link EpollConnection}. Thread-safe.
 */
final class EpollListener implements BackendInstance.Listener {
    private final EpollBackendInstance backend;
    private final Channel channel;
    private final SocketAddress address;

    EpollListener(final EpollBackendInstance backend, final Channel channel) {
        this.backend = backend;
        this.channel = channel;
        this.address = EpollBackendInstance.toJdk(channel.localAddress());
    }

    @Override
    public SocketAddress localAddress() {
        return address;
    }

    /** Longest wait for the listening socket to close (its loop may be busy or stuck). */
    static final long CLOSE_WAIT_MILLIS = 10_000;

    /**
     * Stops accepting; connections already accepted stay open. Waits for the socket to close unless called on
     * its loop, at most {@link #CLOSE_WAIT_MILLIS} (a loop that does not run the close by then is logged, and
     * the close goes on there without the caller).
     */
    @Override
    public void close() {
        backend.forget(this);
        if (channel.eventLoop().inEventLoop()) {
            channel.close();
        } else if (!channel.close().awaitUninterruptibly(CLOSE_WAIT_MILLIS)) {
            System.getLogger("dev.braid.epoll").log(System.Logger.Level.WARNING, "listener " + address
                    + " not closed within " + CLOSE_WAIT_MILLIS + " ms (its event loop is busy); returning without waiting");
        }
        dev.braid.internal.backend.UnixSockets.removeAfterClose(address);
    }
}
