package dev.braid.epoll;

import dev.braid.BraidException;
import dev.braid.ConnectionClosedException;
import dev.braid.spi.BackendInstance;
import dev.braid.spi.BackendSettings;
import dev.braid.spi.ConnectionHandler;
import dev.braid.spi.IoThreads;
import dev.braid.spi.SystemProperties;
import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.unix.DomainSocketAddress;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.epoll.EpollSocketChannelConfig;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.FastThreadLocalThread;

import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;

/**
 * A running epoll backend: one Netty {@link MultiThreadIoEventLoopGroup} of {@code ioThreads} epoll loops,
 * named {@code <threadNamePrefix>-io-K} (for example {@code braid-3-epoll-io-0}). Netty spreads channels over
 * the loops round-robin; a listening socket lives on one loop and hands each accepted socket to the next.
 *
 * <h2>Socket options</h2>
 * Every connection gets {@code TCP_NODELAY}, {@code TCP_NOTSENT_LOWAT} ({@link #NOT_SENT_LOW_AT}), and
 * {@code SO_SNDBUF} / {@code SO_RCVBUF} exactly as configured (0: the kernel's autotuning), as on nio.
 *
 * <p>Why keep braid's 256 KiB {@code SO_SNDBUF} default when {@code TCP_NOTSENT_LOWAT} is there: the two bound
 * different bytes. {@code TCP_NOTSENT_LOWAT} bounds bytes not sent yet; {@code SO_SNDBUF} bounds sent but
 * unacknowledged bytes too. Measured on loopback ({@code braid-stress fairness}, 4 saturating streams, runs
 * interleaved): leaving {@code SO_SNDBUF} to autotuning with only {@code TCP_NOTSENT_LOWAT} = 128 KiB put a
 * 64-byte call's p50 at 1.8-2.4 ms, against 0.5-0.8 ms with the 256 KiB default (as on nio): on loopback the
 * bytes ahead of a call are mostly sent already (in flight, in the receiver's queue), where only
 * {@code SO_SNDBUF} limits them. So the default stays;
 * {@code TCP_NOTSENT_LOWAT} is what still bounds the unsent part when a user raises {@code SO_SNDBUF} or sets
 * 0 for a long fat link (with a peer that stops reading, the writer stopped after 0.29 MB in the kernel with
 * it, 4.2 MB without, autotuned {@code SO_SNDBUF}).
 *
 * <h2>Threads</h2>
 * Every method may be called from any thread. {@link #close()} called on one of this backend's own loop
 * threads cannot wait for the loops to end (it would wait for itself); it then only starts the shutdown.
 */
final class EpollBackendInstance implements BackendInstance {
    private static final System.Logger LOG = System.getLogger("dev.braid.epoll");

    /**
     * {@code TCP_NOTSENT_LOWAT} in bytes ({@code -Dbraid.epoll.notSentLowat}, default 128 KiB; 0 leaves the
     * kernel's default, which is unlimited). Linux stops taking writes (EAGAIN) once this many bytes wait
     * unsent, and reports EPOLLOUT again when fewer than half of them do. 128 KiB is half a maximal stream
     * packet: the writer keeps the socket busy between wake-ups, and a small call finds at most ~128 KiB
     * unsent ahead of it in the kernel (about 10 ms at 100 Mbit/s), whatever {@code SO_SNDBUF} is.
     */
    static final long NOT_SENT_LOW_AT = SystemProperties.longValue("braid.epoll.notSentLowat", 128 * 1024, 0,
            Integer.MAX_VALUE);

    /**
     * SO_BUSY_POLL in microseconds ({@code -Dbraid.epoll.busyPollMicros}, default 0 = off). Measured on
     * loopback (docs/benchmarks.md): it did not lower call latency on a 2-core machine, where spinning
     * takes the core the peer needs, so it stays off by default.
     */
    static final int BUSY_POLL_MICROS = SystemProperties.intValue("braid.epoll.busyPollMicros", 0, 0,
            Integer.MAX_VALUE);

    /**
     * The listener's backlog (the kernel caps it at net.core.somaxconn, 4096 by default since Linux 5.4). At
     * 1024, a burst of 5,000 connects (the stress suite's attack) overflowed it faster than the loop accepted:
     * the kernel then drops SYNs, and a well-behaved client's connect waited for its SYN's retransmission, 1 s
     * later (HELLO 1.0 to 2.4 s; 3,251 overflows in one run on a quiet machine, 51 and 286 with 4096).
     */
    static final int BACKLOG = 4096;
    private static final long SHUTDOWN_WAIT_SECONDS = 30;

    private final BackendSettings settings;
    private final MultiThreadIoEventLoopGroup group;
    private final Set<EpollConnection> connections = ConcurrentHashMap.newKeySet();
    private final Set<EpollListener> listeners = ConcurrentHashMap.newKeySet();
    private final AtomicBoolean closing = new AtomicBoolean();

    EpollBackendInstance(final BackendSettings settings) {
        this.settings = settings;
        this.group = new MultiThreadIoEventLoopGroup(settings.ioThreads(), threads(settings.threadNamePrefix() + "-io-"),
                EpollIoHandler.newFactory());
    }

    private static ThreadFactory threads(final String prefix) {
        final AtomicInteger next = new AtomicInteger();
        return r -> {
            // FastThreadLocalThread: Netty's own thread-locals (allocator caches, recyclers) take their fast path.
            // The mark comes first: blocking braid calls made on a loop fail at once instead of freezing it.
            final Thread t = new FastThreadLocalThread(() -> {
                IoThreads.markCurrent("epoll");
                r.run();
            }, prefix + next.getAndIncrement());
            t.setDaemon(true);
            return t;
        };
    }

    boolean closing() {
        return closing.get();
    }

    /**
     * Loop thread, before the connection's {@code onOpen}. A connection that opens while the backend closes
     * may miss {@link #close()}'s sweep and be closed by Netty's shutdown instead, so it never writes through
     * (added, then {@code closing} read; {@code close} sets {@code closing}, then sweeps: one of them sees
     * the other).
     */
    void opened(final EpollConnection c) {
        connections.add(c);
        if (closing.get()) {
            c.shutWriteThrough();
        }
    }

    void forget(final EpollConnection c) {
        connections.remove(c);
    }

    void forget(final EpollListener l) {
        listeners.remove(l);
    }

    // ------------------------------------------------------------------ connect and listen

    @Override
    public CompletableFuture<Void> connect(final SocketAddress remote, final ConnectionHandler handler) {
        final CompletableFuture<Void> connected = new CompletableFuture<>();
        if (remote instanceof UnixDomainSocketAddress u) {
            final Bootstrap b = new Bootstrap()
                    .group(group)
                    .channel(EpollDomainSocketChannel.class)
                    .handler(new ChannelInitializer<EpollDomainSocketChannel>() {
                        @Override
                        protected void initChannel(final EpollDomainSocketChannel ch) {
                            ch.config().setAllowHalfClosure(true);
                            ch.pipeline().addLast(new EpollConnection(EpollBackendInstance.this, ch, handler, null,
                                    connected));
                        }
                    });
            try {
                b.connect(new DomainSocketAddress(u.getPath().toString())).addListener((ChannelFuture f) -> {
                    if (!f.isSuccess()) {
                        connected.completeExceptionally(f.cause());
                    }
                });
            } catch (RuntimeException e) {
                connected.completeExceptionally(e);
            }
            return connected;
        }
        final Bootstrap b = new Bootstrap()
                .group(group)
                .channel(EpollSocketChannel.class)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS,
                        (int) Math.min(Integer.MAX_VALUE, Math.max(1, settings.connectTimeoutMillis())))
                .handler(new ChannelInitializer<EpollSocketChannel>() {
                    @Override
                    protected void initChannel(final EpollSocketChannel ch) {
                        configure(ch.config());
                        ch.pipeline().addLast(new EpollConnection(EpollBackendInstance.this, ch, handler, null, connected));
                    }
                });
        try {
            // on failure Netty closes the channel before it was ever active: the handler is never called
            b.connect(remote).addListener((ChannelFuture f) -> {
                if (!f.isSuccess()) {
                    connected.completeExceptionally(f.cause());
                }
            });
        } catch (RuntimeException e) {
            connected.completeExceptionally(e);
        }
        return connected;
    }

    @Override
    public Listener listen(final SocketAddress local, final Supplier<ConnectionHandler> handlers) {
        if (local instanceof UnixDomainSocketAddress u) {
            return listenUnix(u, handlers);
        }
        final ServerBootstrap b = new ServerBootstrap()
                .group(group)
                .channel(EpollServerSocketChannel.class)
                .option(ChannelOption.SO_BACKLOG, BACKLOG)
                .option(ChannelOption.SO_REUSEADDR, true) // what java.nio's ServerSocketChannel does on Linux
                .handler(new AcceptBackoff()) // accept failing (no descriptor left): pause, log once per episode
                .childHandler(new ChannelInitializer<EpollSocketChannel>() {
                    @Override
                    protected void initChannel(final EpollSocketChannel ch) {
                        configure(ch.config());
                        ch.pipeline().addLast(new EpollConnection(EpollBackendInstance.this, ch, null, handlers, null));
                    }
                });
        if (settings.receiveBufferSize() > 0) {
            // set on the listening socket too, so accepted sockets have it before the handshake fixes the window scale
            b.option(ChannelOption.SO_RCVBUF, settings.receiveBufferSize());
        }
        final ChannelFuture bound = b.bind(local).awaitUninterruptibly();
        if (!bound.isSuccess()) {
            final Throwable cause = bound.cause();
            throw new BraidException(BraidException.Category.IO, "cannot listen on " + local + ": " + cause.getMessage(), cause);
        }
        final EpollListener l = new EpollListener(this, bound.channel());
        listeners.add(l);
        if (closing.get()) {
            l.close(); // raced with close(): do not leave a socket listening on a stopped backend
        }
        return l;
    }

    /** A Unix domain socket listener (Netty's domain-socket channels); a stale socket file is replaced first. */
    private Listener listenUnix(final UnixDomainSocketAddress local, final Supplier<ConnectionHandler> handlers) {
        try {
            dev.braid.internal.backend.UnixSockets.clearStale(local);
        } catch (java.io.IOException e) {
            throw new BraidException(BraidException.Category.IO, "cannot listen on " + local + ": " + e.getMessage(), e);
        }
        final ServerBootstrap b = new ServerBootstrap()
                .group(group)
                .channel(EpollServerDomainSocketChannel.class)
                .option(ChannelOption.SO_BACKLOG, BACKLOG)
                .handler(new AcceptBackoff())
                .childHandler(new ChannelInitializer<EpollDomainSocketChannel>() {
                    @Override
                    protected void initChannel(final EpollDomainSocketChannel ch) {
                        ch.config().setAllowHalfClosure(true);
                        ch.pipeline().addLast(new EpollConnection(EpollBackendInstance.this, ch, null, handlers, null));
                    }
                });
        final ChannelFuture bound = b.bind(new DomainSocketAddress(local.getPath().toString())).awaitUninterruptibly();
        if (!bound.isSuccess()) {
            final Throwable cause = bound.cause();
            throw new BraidException(BraidException.Category.IO, "cannot listen on " + local + ": " + cause.getMessage(), cause);
        }
        final EpollListener l = new EpollListener(this, bound.channel());
        listeners.add(l);
        if (closing.get()) {
            l.close();
        }
        return l;
    }

    /** Netty's domain-socket address as the JDK's (what braid's API shows); other addresses unchanged. */
    static SocketAddress toJdk(final SocketAddress a) {
        if (a instanceof DomainSocketAddress d) {
            return d.path() == null || d.path().isEmpty() ? UnixDomainSocketAddress.of("") : UnixDomainSocketAddress.of(d.path());
        }
        return a;
    }

    /** Options for a connection's socket; applied before the channel is registered (so before connect or the first read). */
    private void configure(final EpollSocketChannelConfig config) {
        config.setTcpNoDelay(true);
        config.setAllowHalfClosure(true); // so end of stream arrives as an event: EpollConnection reports it as onInputClosed
        if (NOT_SENT_LOW_AT > 0) {
            config.setTcpNotSentLowAt(NOT_SENT_LOW_AT);
        }
        if (BUSY_POLL_MICROS > 0) {
            config.setOption(io.netty.channel.epoll.EpollChannelOption.SO_BUSY_POLL, BUSY_POLL_MICROS);
        }
        if (settings.sendBufferSize() > 0) {
            config.setSendBufferSize(settings.sendBufferSize());
        }
        if (settings.receiveBufferSize() > 0) {
            config.setReceiveBufferSize(settings.receiveBufferSize());
        }
    }

    // ------------------------------------------------------------------ shutdown

    @Override
    public void close() {
        final boolean first = closing.compareAndSet(false, true);
        final boolean onOwnLoop = onOwnLoop();
        if (first) {
            for (EpollListener l : listeners) {
                l.close();
            }
            final ConnectionClosedException reason = new ConnectionClosedException(
                    ConnectionClosedException.Reason.LOCAL_CLOSE, "braid is closing", null);
            for (EpollConnection c : connections) {
                c.close(reason);
                c.shutWriteThrough(); // Netty's shutdown below closes descriptors without telling braid first
            }
            if (!onOwnLoop) {
                // Each close above is a task on its connection's loop and flushes what it can before closing the
                // socket. A shutting-down Netty loop closes its channels before it runs queued tasks, so first let
                // every loop run what is queued (a no-op task after the closes is a barrier).
                for (EventExecutor loop : group) {
                    loop.submit(() -> { }).awaitUninterruptibly(SHUTDOWN_WAIT_SECONDS, TimeUnit.SECONDS);
                }
            }
            // Whatever is left (a connection accepted meanwhile) is closed by Netty's shutdown; EpollConnection then
            // reports "braid is closing" too.
            group.shutdownGracefully(0, SHUTDOWN_WAIT_SECONDS, TimeUnit.SECONDS);
        }
        if (!onOwnLoop && !group.terminationFuture().awaitUninterruptibly(SHUTDOWN_WAIT_SECONDS, TimeUnit.SECONDS)) {
            LOG.log(System.Logger.Level.WARNING, settings.threadNamePrefix() + " event loops still running after "
                    + SHUTDOWN_WAIT_SECONDS + " s");
        }
    }

    private boolean onOwnLoop() {
        for (EventExecutor loop : group) {
            if (loop.inEventLoop()) {
                return true;
            }
        }
        return false;
    }
}
