package dev.braid;

import dev.braid.buffer.BufferPool;
import dev.braid.internal.engine.BackendSelector;
import dev.braid.internal.tls.TlsConnection;
import dev.braid.internal.engine.BraidRuntime;
import dev.braid.internal.engine.ClientConnection;

import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * braid's entry point: owns the I/O backend's threads, a timer thread, the handler executor and the buffer
 * pool shared by every server and connection made from it. Create one per process (or per isolated
 * component) and close it at the end; closing aborts every connection it made and stops its threads.
 *
 * <pre>{@code
 * try (Braid braid = Braid.create()) {
 *     BraidServer server = braid.server()
 *             .handle(ECHO, call -> call.reply(call.args()))
 *             .bind(0);
 *     try (Connection c = braid.connect(server.address())) {
 *         byte[] answer = c.call(ECHO, "hello".getBytes());
 *     }
 * }
 * }</pre>
 *
 * Thread-safe.
 */
public final class Braid implements AutoCloseable {
    private final BraidRuntime rt;

    private Braid(final BraidRuntime rt) {
        this.rt = rt;
    }

    /**
     * A braid with the configuration from system properties ({@code braid.*}).
     *
     * @return the running braid; close it to stop its threads
     */
    public static Braid create() {
        return create(new BraidConfig());
    }

    /**
     * A braid with {@code config}, which this concludes (validates and freezes): starts the chosen backend's
     * I/O threads, the timer and, unless the config gives one, the handler executor and the buffer pool.
     *
     * @param config the configuration
     * @return the running braid; close it to stop its threads
     * @throws BraidException CONFIG for invalid settings or an unknown backend, BACKEND_UNAVAILABLE for a
     *                        backend that cannot run here
     */
    public static Braid create(final BraidConfig config) {
        config.conclude();
        return new Braid(new BraidRuntime(config, BackendSelector.select(config.backend())));
    }

    /**
     * Starts building a server.
     *
     * @return a new builder
     */
    public BraidServer.Builder server() {
        return new BraidServer.Builder(rt);
    }

    /**
     * Connects and negotiates (HELLO); returns a usable connection. A server that closes the connection
     * before answering HELLO (one at a connection limit does) is tried again, 10 to 50 ms later, up to
     * {@link BraidConfig#connectAttempts()} connections (2 by default); the failure after that names the limits.
     *
     * @param address the server
     * @return the connection; close it when done
     */
    public Connection connect(final InetSocketAddress address) {
        return connect((SocketAddress) address);
    }

    /**
     * Connects to a TCP address or a Unix domain socket ({@link java.net.UnixDomainSocketAddress}) and
     * negotiates, like {@link #connect(InetSocketAddress)}. Over a Unix domain socket with TLS, the server's
     * certificate is checked against {@link TlsOptions#serverName}.
     *
     * @param address the server
     * @return the connection; close it when done
     */
    public Connection connect(final SocketAddress address) {
        dev.braid.spi.IoThreads.checkBlockingAllowed("Braid.connect");
        final CompletableFuture<Connection> f = connectAsync(address);
        final long waitMillis = rt.config().connectTimeout().toMillis() + rt.config().helloTimeout().toMillis()
                + (rt.config().tls() == null ? 0 : rt.config().tls().handshakeTimeout().toMillis());
        try {
            return f.get(waitMillis, TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            final Throwable c = e.getCause();
            if (c instanceof BraidException b) {
                throw b;
            }
            throw new BraidException(BraidException.Category.IO, "cannot connect to " + address + ": " + c, c);
        } catch (TimeoutException e) {
            f.cancel(false);
            throw new BraidException(BraidException.Category.TIMEOUT, "connecting to " + address + " took more than "
                    + waitMillis + " ms", e);
        } catch (InterruptedException e) {
            f.cancel(false); // aborts the connection behind it
            Thread.currentThread().interrupt();
            throw new BraidException(BraidException.Category.CANCELLED, "interrupted while connecting to " + address, e);
        }
    }

    /**
     * Connects to {@code host:port} and negotiates, like {@link #connect(InetSocketAddress)}.
     *
     * @param host the server's name or address
     * @param port its port
     * @return the connection; close it when done
     */
    public Connection connect(final String host, final int port) {
        return connect(new InetSocketAddress(host, port));
    }

    /**
     * Connects like {@link #connect(InetSocketAddress)}, and returns a connection that reconnects by itself
     * whenever it is lost, as {@code policy} says (see {@link ReconnectingConnection} for what happens to
     * calls, streams and listeners then). The first connection: by default it must succeed, and this
     * throws as {@code connect} does when it cannot be made (the message names
     * {@link ReconnectPolicy#retryFirstConnect()}); with {@code policy.retryFirstConnect()} this returns at
     * once and connects in the background, retrying with the policy's backoff, while calls made meanwhile
     * wait for it (bounded by {@link BraidConfig#maxQueuedCalls()} and their timeouts); giving up after
     * {@code maxAttempts} closes the connection, as after a loss.
     *
     * @param address the server
     * @param policy  backoff, jitter, cap, attempts and whether the first connection is retried
     *                ({@link ReconnectPolicy#DEFAULT}: not)
     * @return the connection; close it when done
     * @throws BraidException when the first connection cannot be made and the policy does not retry it
     */
    public ReconnectingConnection connectReconnecting(final InetSocketAddress address, final ReconnectPolicy policy) {
        java.util.Objects.requireNonNull(policy, "policy");
        if (policy.retryFirstConnect()) {
            return new dev.braid.internal.engine.ReconnectingClient(rt, address, policy, this::connectAsync, null);
        }
        final Connection first;
        try {
            first = connect(address);
        } catch (BraidException e) {
            if (e.getClass() == BraidException.class && (e.category() == BraidException.Category.IO
                    || e.category() == BraidException.Category.TIMEOUT)) {
                throw new BraidException(e.category(), e.getMessage() + " (the first connection of a reconnecting "
                        + "connection is not retried unless ReconnectPolicy.retryFirstConnect is set)", e);
            }
            throw e;
        }
        return new dev.braid.internal.engine.ReconnectingClient(rt, address, policy, this::connectAsync, first);
    }

    /**
     * Connects without blocking; the future completes once HELLO is done.
     *
     * @param address the server
     * @return completes with the connection, or with the failure
     */
    public CompletableFuture<Connection> connectAsync(final InetSocketAddress address) {
        return connectAsync((SocketAddress) address);
    }

    /**
     * Connects to a TCP address or a Unix domain socket without blocking; the future completes once HELLO
     * is done.
     *
     * @param address the server
     * @return completes with the connection, or with the failure
     */
    public CompletableFuture<Connection> connectAsync(final SocketAddress address) {
        return connectAsync(address, c -> { });
    }

    /**
     * {@link #connectAsync(SocketAddress)}, with {@code beforeOpen} run on each new connection first. A
     * connection the server closes before answering HELLO is tried again ({@link BraidConfig#connectAttempts()}
     * connections in all), 10 to 50 ms later (random): a
     * server at one of its connection limits closes new connections (issue 11 §1.2; under a flood of silent
     * connections even an honest one, if its HELLO is not read before {@code maxConnectionsInHello} newer ones
     * arrive), and nothing was sent but HELLO. If the last attempt is closed too, the failure says so.
     * Cancelling the returned future aborts the attempt under way.
     */
    private CompletableFuture<Connection> connectAsync(final SocketAddress address,
                                                       final java.util.function.Consumer<Connection> beforeOpen) {
        final CompletableFuture<Connection> result = new CompletableFuture<>();
        final java.util.concurrent.atomic.AtomicReference<CompletableFuture<Connection>> current =
                new java.util.concurrent.atomic.AtomicReference<>();
        result.whenComplete((conn, e) -> {
            final CompletableFuture<Connection> a = current.get();
            if (e != null && a != null) {
                a.cancel(false); // aborts the connection behind it
            }
        });
        attempt(address, beforeOpen, result, current, 1);
        return result;
    }

    private void attempt(final SocketAddress address, final java.util.function.Consumer<Connection> beforeOpen,
                         final CompletableFuture<Connection> result,
                         final java.util.concurrent.atomic.AtomicReference<CompletableFuture<Connection>> current,
                         final int n) {
        if (result.isDone()) {
            return; // cancelled or timed out while the retry waited
        }
        final CompletableFuture<Connection> a;
        try {
            a = attempt(address, beforeOpen);
        } catch (RuntimeException e) {
            result.completeExceptionally(e);
            return;
        }
        current.set(a);
        if (result.isDone()) {
            a.cancel(false);
        }
        a.whenComplete((conn, e) -> {
            if (e == null) {
                if (!result.complete(conn)) {
                    ((ClientConnection) conn).abort(); // the caller gave up meanwhile
                }
                return;
            }
            final Throwable cause = e instanceof java.util.concurrent.CompletionException ? e.getCause() : e;
            final ConnectionClosedException.Reason reason = cause instanceof ConnectionClosedException cc ? cc.reason() : null;
            final boolean closedBeforeHello = reason == ConnectionClosedException.Reason.PEER_CLOSED
                    || reason == ConnectionClosedException.Reason.RESET; // closed with our HELLO unread: a reset
            if (closedBeforeHello && n < rt.config().connectAttempts()) {
                final long delay = java.util.concurrent.ThreadLocalRandom.current().nextLong(10, 51);
                try {
                    rt.timer().schedule(() -> attempt(address, beforeOpen, result, current, n + 1), delay,
                            TimeUnit.MILLISECONDS);
                } catch (java.util.concurrent.RejectedExecutionException closed) {
                    result.completeExceptionally(cause); // braid is closing
                }
            } else if (closedBeforeHello) {
                result.completeExceptionally(new ConnectionClosedException(reason,
                        address + " closed the connection before answering HELLO, on each of " + n + " attempts (a braid "
                                + "server at one of its connection limits, maxConnections, maxConnectionsPerAddress or "
                                + "maxConnectionsInHello, closes new connections, and its log names the limit)", cause));
            } else {
                result.completeExceptionally(cause);
            }
        });
    }

    /** One connection attempt: connect and HELLO. Cancelling its future aborts the connection. */
    private CompletableFuture<Connection> attempt(final SocketAddress address,
                                                  final java.util.function.Consumer<Connection> beforeOpen) {
        final ClientConnection c = new ClientConnection(rt);
        beforeOpen.accept(c); // e.g. a reconnecting connection's event listeners: on before any frame arrives
        final CompletableFuture<Connection> result = new CompletableFuture<>();
        final TlsOptions tls = rt.config().tls();
        final dev.braid.spi.ConnectionHandler handler;
        try {
            handler = tls == null ? c : new TlsConnection(c, tls, true,
                    address instanceof InetSocketAddress i ? i.getHostString() : null,
                    address instanceof InetSocketAddress i ? i.getPort() : -1, rt.pool(), rt.timer(), null);
        } catch (RuntimeException e) {
            c.onClosed(e); // never opened: release what it holds
            throw e;
        }
        rt.io().connect(address, handler).whenComplete((v, e) -> {
            if (e != null) {
                final Throwable cause = e instanceof java.util.concurrent.CompletionException ? e.getCause() : e;
                result.completeExceptionally(cause instanceof BraidException ? cause
                        : new BraidException(BraidException.Category.IO, "cannot connect to " + address + ": "
                        + cause, cause));
                c.onClosed(cause); // never opened: the backend will not call it; release what it holds
            }
        });
        c.ready().whenComplete((conn, e) -> rt.callbacks().execute(() -> { // the caller's stages: off the I/O thread
            if (e != null) {
                result.completeExceptionally(e);
            } else if (!result.complete(conn)) {
                c.abort(); // the caller gave up (cancelled, timed out) before HELLO finished
            }
        }));
        result.whenComplete((conn, e) -> {
            if (e != null) {
                c.abort(); // cancelled or failed: nothing may stay open behind the caller's back
            }
        });
        return result;
    }

    /** {@return the configuration in force (concluded)} */
    public BraidConfig config() {
        return rt.config();
    }

    /**
     * {@return the buffer pool braid lends payload buffers from ({@link BufferPool#outstanding()} counts what is
     * lent out)}
     */
    public BufferPool bufferPool() {
        return rt.pool();
    }

    /**
     * Name of the I/O backend in use.
     *
     * @return the name
     */
    public String backendName() {
        return rt.backend().name();
    }

    /** Aborts every connection, closes every server socket, stops braid's threads. */
    @Override
    public void close() {
        dev.braid.spi.IoThreads.checkBlockingAllowed("Braid.close");
        rt.close();
    }
}
