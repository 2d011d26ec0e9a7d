package dev.braid.stress.link;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The relay form of the link emulator: a TCP proxy that listens on loopback and, for each connection it
 * accepts, connects to {@code target} and moves the bytes each way through a {@link DelayLine} (delay,
 * pacing, bounded buffer, jitter) of its own. It terminates TCP: the endpoints' own TCP sees a loopback
 * round trip, and only the application sees the link's (the form docs/stress.md calls "relay").
 *
 * <p>Back pressure is end to end: a direction's reader stops reading its socket while the line's queue is
 * full or the line holds its cap (a receiver that does not read keeps the writer blocked, which keeps
 * the line full), and the relay's sockets have small buffers ({@code socketBuffer}, default 64 KiB; the
 * kernel doubles what is asked), so little hides outside the emulated queue.
 *
 * <p>Faults: link-wide switches in {@link #control()} (stall, blackhole, rate, one-byte segments), for every
 * connection through the relay; per connection, {@link RelayConnection#resetMidFrame},
 * {@link RelayConnection#halfClose} and {@link RelayConnection#reset}.
 *
 * <p>Threads: one acceptor, and per connection four platform daemon threads (a reader and a writer per
 * direction) named {@code link-relay-R-C-...}. Every method may be called from any thread.
 */
public final class TcpRelay implements AutoCloseable {
    /** Default SO_RCVBUF and SO_SNDBUF of the relay's own sockets. */
    public static final int DEFAULT_SOCKET_BUFFER = 64 * 1024;
    private static final AtomicInteger IDS = new AtomicInteger();

    private final int id = IDS.incrementAndGet();
    private final LinkSpec spec;
    private final LinkControl control;
    private final InetSocketAddress target;
    private final int socketBuffer;
    private final ServerSocketChannel listener;
    private final Thread acceptor;
    private final List<RelayConnection> connections = new CopyOnWriteArrayList<>();
    private final AtomicInteger connectionIds = new AtomicInteger();
    private volatile boolean closed;

    private TcpRelay(final InetSocketAddress listen, final InetSocketAddress target, final LinkSpec spec,
                     final int socketBuffer) throws IOException {
        this.spec = spec;
        this.control = new LinkControl(spec.bytesPerSecond());
        this.target = target;
        this.socketBuffer = socketBuffer;
        this.listener = ServerSocketChannel.open();
        try {
            listener.setOption(StandardSocketOptions.SO_RCVBUF, socketBuffer); // accepted sockets inherit it
            listener.bind(listen);
        } catch (IOException | RuntimeException e) {
            listener.close();
            throw e;
        }
        acceptor = Thread.ofPlatform().daemon().name("link-relay-" + id + "-accept").start(this::acceptLoop);
    }

    /** A relay on a free loopback port in front of {@code target}. */
    public static TcpRelay start(final InetSocketAddress target, final LinkSpec spec) throws IOException {
        return start(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), target, spec, DEFAULT_SOCKET_BUFFER);
    }

    public static TcpRelay start(final InetSocketAddress listen, final InetSocketAddress target, final LinkSpec spec,
                                 final int socketBuffer) throws IOException {
        return new TcpRelay(listen, target, spec, socketBuffer);
    }

    /** Where clients connect. */
    public InetSocketAddress address() {
        try {
            return (InetSocketAddress) listener.getLocalAddress();
        } catch (IOException e) {
            throw new IllegalStateException("relay closed", e);
        }
    }

    public InetSocketAddress target() {
        return target;
    }

    public LinkSpec spec() {
        return spec;
    }

    /** The link-wide fault switches, for every connection through this relay. */
    public LinkControl control() {
        return control;
    }

    /** Connections accepted so far (closed ones included), oldest first. */
    public List<RelayConnection> connections() {
        return List.copyOf(connections);
    }

    /** Waits up to {@code max} for the {@code n}-th connection (1-based) to be accepted and connected to the target. */
    public RelayConnection awaitConnection(final int n, final Duration max) throws InterruptedException {
        final long deadline = System.nanoTime() + max.toNanos();
        while (connections.size() < n) {
            if (System.nanoTime() - deadline > 0) {
                throw new IllegalStateException("relay " + id + ": " + connections.size() + " connections after " + max
                        + ", waited for " + n);
            }
            Thread.sleep(5);
        }
        return connections.get(n - 1);
    }

    /** Connections still open. */
    public int openConnections() {
        return (int) connections.stream().filter(c -> !c.isClosed()).count();
    }

    private void acceptLoop() {
        while (!closed) {
            SocketChannel client = null;
            SocketChannel server = null;
            try {
                client = listener.accept();
                client.setOption(StandardSocketOptions.TCP_NODELAY, true);
                client.setOption(StandardSocketOptions.SO_SNDBUF, socketBuffer);
                server = SocketChannel.open();
                server.setOption(StandardSocketOptions.TCP_NODELAY, true);
                server.setOption(StandardSocketOptions.SO_SNDBUF, socketBuffer);
                server.setOption(StandardSocketOptions.SO_RCVBUF, socketBuffer);
                server.socket().connect(target, (int) TimeUnit.SECONDS.toMillis(10));
                final RelayConnection c = new RelayConnection(this, id + "-" + connectionIds.incrementAndGet(), client,
                        server);
                connections.add(c);
                if (closed) {
                    c.close();
                } else {
                    c.start();
                }
            } catch (ClosedChannelException e) {
                closeQuietly(client);
                closeQuietly(server);
                return;
            } catch (IOException e) {
                // the target refused or the client vanished: drop this one (the client sees a reset)
                RelayConnection.resetQuietly(client);
                closeQuietly(server);
            }
        }
    }

    /** Closes the listener and every connection (gracefully: FIN both ways, queued bytes dropped). */
    @Override
    public void close() {
        closed = true;
        closeQuietly(listener);
        for (RelayConnection c : connections) {
            c.close();
        }
        try {
            acceptor.join(TimeUnit.SECONDS.toMillis(5));
            for (RelayConnection c : connections) {
                c.join(Duration.ofSeconds(5));
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    static void closeQuietly(final java.nio.channels.Channel c) {
        if (c != null) {
            try {
                c.close();
            } catch (IOException e) {
                // closing anyway
            }
        }
    }

    LinkControl linkControl() {
        return control;
    }
}
