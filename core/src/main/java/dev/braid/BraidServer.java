package dev.braid;

import dev.braid.internal.engine.BraidRuntime;
import dev.braid.internal.engine.ProcedureRegistry;
import dev.braid.internal.engine.ServerConnection;
import dev.braid.internal.tls.TlsConnection;
import dev.braid.spi.BackendInstance;

import java.net.InetSocketAddress;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;

/**
 * A listening braid server. Build one with {@link Braid#server()}: register procedures and event
 * listeners, then {@link Builder#bind}. Thread-safe: every method may be called from any thread; the
 * blocking ones ({@link #close()}, {@link #awaitTermination}) refuse braid's I/O threads.
 *
 * <h2>Stopping</h2>
 * <ul>
 *   <li>{@link #shutdown()}: graceful drain. Stops accepting; every connection stops serving new calls and
 *       streams (a braid peer is told with a DRAIN message naming the last call served, a libvirt peer's new
 *       calls are answered with an error naming the drain), and calls and streams in flight finish. Each
 *       connection closes once it has nothing in flight (a braid client closes it itself after its last
 *       answer). Does not block.</li>
 *   <li>{@link #awaitTermination(Duration)}: waits until every connection closed.</li>
 *   <li>{@link #shutdownNow()}: ends what is left: calls still running are answered with an error naming
 *       the shutdown, streams are aborted with it, connections close.</li>
 *   <li>{@link #close()}: {@link #shutdownNow()} at once, then waits for the connections to close.</li>
 * </ul>
 * The wire side is docs/protocol.md §3.1.
 */
public final class BraidServer implements AutoCloseable {
    private final BackendInstance.Listener listener;
    private final Set<ServerConnection> connections;
    /** TLS connections still handshaking (not yet in {@link #connections}). */
    private final Set<ServerConnection> opening;
    private final java.util.concurrent.atomic.AtomicBoolean closed;
    private final BraidRuntime rt;
    private final java.time.Duration closeTimeout;

    private BraidServer(final BraidRuntime rt, final BackendInstance.Listener listener,
                        final Set<ServerConnection> connections, final Set<ServerConnection> opening,
                        final java.util.concurrent.atomic.AtomicBoolean closed) {
        this.rt = rt;
        this.closeTimeout = rt.closeTimeout();
        this.listener = listener;
        this.connections = connections;
        this.opening = opening;
        this.closed = closed;
    }

    /**
     * The TCP address the server listens on, with the real port when it bound port 0.
     *
     * @return the address
     * @throws IllegalStateException if the server listens on a Unix domain socket (see {@link #localAddress()})
     */
    public InetSocketAddress address() {
        if (listener.localAddress() instanceof InetSocketAddress a) {
            return a;
        }
        throw new IllegalStateException("the server listens on a Unix domain socket (" + listener.localAddress()
                + "), not a TCP address: use localAddress()");
    }

    /** {@return the address the server listens on: a TCP address or a Unix domain socket path} */
    public java.net.SocketAddress localAddress() {
        return listener.localAddress();
    }

    /**
     * The connections currently open.
     *
     * @return a snapshot of them
     */
    public List<Peer> connections() {
        // a connection leaves the set in a callback of its closeFuture, which may run after a thread waiting on
        // that future has already woken (close(), awaitTermination()): filtered here (and in isTerminated) so
        // that, once they return, the list is empty whatever the order of the callbacks
        return connections.stream().filter(c -> !c.closeFuture().isDone()).map(Peer.class::cast).toList();
    }

    /**
     * Begins a graceful drain (see the class comment): stops listening, and tells every connection to serve
     * no new calls or streams while those in flight finish. Does not block; idempotent. Any thread.
     */
    public void shutdown() {
        closed.set(true); // a connection accepted from now on aborts itself as it opens
        listener.close();
        for (ServerConnection c : List.copyOf(connections)) {
            c.drain("the server is shutting down");
        }
    }

    /** {@return whether {@link #shutdown()}, {@link #shutdownNow()} or {@link #close()} was called} */
    public boolean isShutdown() {
        return closed.get();
    }

    /** {@return whether the server was shut down and every one of its connections is closed} */
    public boolean isTerminated() {
        return closed.get() && connections.stream().allMatch(c -> c.closeFuture().isDone());
    }

    /**
     * Waits until, after a shutdown, every connection closed, or {@code timeout} passed. Not on braid's I/O
     * threads ({@link BlockingOperationException}).
     *
     * @param timeout how long to wait at most
     * @return true if every connection closed, false if some were still open at the timeout
     * @throws IllegalStateException if the server was not shut down first
     * @throws BraidException        CANCELLED if the thread was interrupted (its interrupt status is kept)
     */
    public boolean awaitTermination(final java.time.Duration timeout) {
        dev.braid.spi.IoThreads.checkBlockingAllowed("BraidServer.awaitTermination");
        if (!closed.get()) {
            throw new IllegalStateException("awaitTermination before shutdown(): the server still accepts connections");
        }
        final long deadline = System.nanoTime() + timeout.toNanos();
        for (ServerConnection c : List.copyOf(connections)) {
            final long left = deadline - System.nanoTime();
            try {
                c.closeFuture().get(Math.max(0, left), java.util.concurrent.TimeUnit.NANOSECONDS);
            } catch (java.util.concurrent.TimeoutException e) {
                return false;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new BraidException(BraidException.Category.CANCELLED, "interrupted in awaitTermination", e);
            } catch (java.util.concurrent.ExecutionException e) {
                throw new IllegalStateException(e); // closeFuture never fails
            }
        }
        return true; // every connection there was closed, and no new one was accepted after the shutdown
    }

    /**
     * Ends every connection now, with a reason the peers see: calls still running are answered with an
     * ERROR ("server shut down before call ... finished ...; it may have partly executed"), open streams are
     * aborted with it, and each connection closes once that is written (at most the close timeout later).
     * Stops listening if {@link #shutdown()} did not already. Does not block. Any thread.
     */
    public void shutdownNow() {
        closed.set(true);
        listener.close();
        for (ServerConnection c : List.copyOf(connections)) {
            c.shutdownNow("shutdownNow", rt.config().closeTimeout().toMillis());
        }
    }

    /**
     * Stops listening and closes every connection at once (answers not yet sent are dropped); returns once
     * they are closed, or once the close timeout has passed, counted once for all of them (not per connection:
     * 5,000 connections stuck in closing do not make it wait 5,000 times), logging how many were still open.
     * For a graceful stop use {@link #shutdown()} and {@link #awaitTermination(java.time.Duration)} first.
     */
    @Override
    public void close() {
        dev.braid.spi.IoThreads.checkBlockingAllowed("BraidServer.close");
        closed.set(true); // a connection accepted while we close aborts itself when it opens
        listener.close();
        final List<ServerConnection> open = new java.util.ArrayList<>(connections);
        open.addAll(opening);
        for (ServerConnection c : open) {
            c.abort();
        }
        final long deadline = System.nanoTime() + closeTimeout.toNanos();
        int late = 0;
        for (ServerConnection c : open) {
            if (!c.awaitClosedUntil(deadline)) {
                late++;
            }
        }
        if (late > 0) {
            System.getLogger("dev.braid").log(System.Logger.Level.WARNING, "server " + address() + ": " + late + " of "
                    + open.size() + " connections had not closed within closeTimeout = " + closeTimeout.toMillis()
                    + " ms; close returns without them");
        }
    }

    /** Registers what the server serves. Not thread-safe; used by one thread before {@link #bind}. */
    public static final class Builder {
        private final BraidRuntime rt;
        private final ProcedureRegistry registry = new ProcedureRegistry();
        private Consumer<Peer> onConnection;
        private java.util.function.BiConsumer<java.net.SocketAddress, ConnectionClosedException> onConnectionFailed;
        private boolean bound;

        Builder(final BraidRuntime rt) {
            this.rt = rt;
        }

        /**
         * Serves {@code procedure} with a handler that may block (runs on a virtual thread).
         *
         * @param procedure the procedure
         * @param handler answers its calls
         * @return this builder
         */
        public Builder handle(final Procedure procedure, final CallHandler handler) {
            return handle(procedure, handler, HandlerMode.BLOCKING);
        }

        /**
         * Serves {@code procedure} with a handler run as {@code mode} says.
         *
         * @param procedure the procedure
         * @param handler answers its calls
         * @param mode where the handler runs (see {@link HandlerMode})
         * @return this builder
         */
        public Builder handle(final Procedure procedure, final CallHandler handler, final HandlerMode mode) {
            registry.add(procedure, handler, mode);
            return this;
        }

        /**
         * Serves a typed procedure with a handler that may block (a virtual thread per call): the request
         * arrives decoded, the handler's return value is the reply (see {@link TypedCallHandler}).
         *
         * @param <Q> the request type
         * @param <R> the reply type
         * @param procedure the typed procedure: its address and the marshallers of its request and reply
         * @param handler answers its calls with the reply
         * @return this builder
         */
        public <Q, R> Builder handle(final ProcedureDescriptor<Q, R> procedure, final TypedCallHandler<Q, R> handler) {
            return handle(procedure, handler, HandlerMode.BLOCKING);
        }

        /**
         * Serves a typed procedure where {@code mode} says. {@link HandlerMode#NON_BLOCKING} is the server's
         * allocation-free typed path: decoded on the I/O thread, the reply encoded straight into its frame.
         *
         * @param <Q> the request type
         * @param <R> the reply type
         * @param procedure the typed procedure: its address and the marshallers of its request and reply
         * @param handler answers its calls with the reply
         * @param mode where the handler runs (see {@link HandlerMode})
         * @return this builder
         */
        public <Q, R> Builder handle(final ProcedureDescriptor<Q, R> procedure, final TypedCallHandler<Q, R> handler,
                                     final HandlerMode mode) {
            registry.addTyped(procedure, handler, mode);
            return this;
        }

        /**
         * Serves a typed stream procedure (a virtual thread per stream): the opening request arrives decoded.
         *
         * @param <Q> the opening request type
         * @param procedure the typed stream procedure: its address and the marshallers of its opening request
         *                  and opening reply
         * @param handler serves each stream
         * @return this builder
         */
        public <Q> Builder stream(final ProcedureDescriptor<Q, ?> procedure, final TypedStreamHandler<Q> handler) {
            return stream(procedure, handler, HandlerMode.BLOCKING);
        }

        /**
         * Serves a typed stream procedure with a handler run as {@code mode} says: the opening request arrives
         * decoded.
         *
         * @param <Q> the opening request type
         * @param procedure the typed stream procedure: its address and the marshallers of its opening request
         *                  and opening reply
         * @param handler serves each stream
         * @param mode where the handler runs (see {@link HandlerMode})
         * @return this builder
         */
        public <Q> Builder stream(final ProcedureDescriptor<Q, ?> procedure, final TypedStreamHandler<Q> handler,
                                  final HandlerMode mode) {
            registry.addTypedStream(procedure, handler, mode);
            return this;
        }

        /**
         * Serves a stream procedure: each call on it opens a stream, handed to {@code handler} with the call
         * (a virtual thread per stream by default).
         *
         * @param procedure the stream procedure
         * @param handler serves each stream
         * @return this builder
         */
        public Builder stream(final Procedure procedure, final StreamHandler handler) {
            return stream(procedure, handler, HandlerMode.BLOCKING);
        }

        /**
         * Serves a stream procedure with a handler run as {@code mode} says.
         *
         * @param procedure the stream procedure
         * @param handler serves each stream
         * @param mode where the handler runs (see {@link HandlerMode})
         * @return this builder
         */
        public Builder stream(final Procedure procedure, final StreamHandler handler, final HandlerMode mode) {
            registry.addStream(procedure, handler, mode);
            return this;
        }

        /**
         * Delivers events on {@code procedure} from any client to {@code listener}.
         *
         * @param procedure the event procedure
         * @param listener receives the events, on a virtual thread, in order per connection
         * @return this builder
         */
        public Builder onEvent(final Procedure procedure, final EventListener listener) {
            return onEvent(procedure, listener, HandlerMode.BLOCKING);
        }

        /**
         * Delivers events on {@code procedure} to {@code listener}, run as {@code mode} says.
         *
         * @param procedure the event procedure
         * @param listener receives the events, in order per connection
         * @param mode where the listener runs (see {@link HandlerMode})
         * @return this builder
         */
        public Builder onEvent(final Procedure procedure, final EventListener listener, final HandlerMode mode) {
            registry.addListener(procedure, listener, mode);
            return this;
        }

        /**
         * Called on the I/O thread when a client connects; must not block.
         *
         * @param callback receives the new connection
         * @return this builder
         */
        public Builder onConnection(final Consumer<Peer> callback) {
            onConnection = callback;
            return this;
        }

        /**
         * Called when an accepted connection closes before it opened: its TLS handshake failed (the reason
         * names the certificate problem, the missing client certificate, a plaintext client) or did not
         * complete in time. Such failures are also logged (rate-limited) on {@code dev.braid.peer}. Runs on
         * the thread that closes the connection (an I/O thread); must not block.
         *
         * @param callback receives the client's address (null if unknown) and the reason
         * @return this builder
         */
        public Builder onConnectionFailed(
                final java.util.function.BiConsumer<java.net.SocketAddress, ConnectionClosedException> callback) {
            onConnectionFailed = callback;
            return this;
        }

        /**
         * Starts serving on the loopback address.
         *
         * @param port the port; 0 for any free one
         * @return the running server
         */
        public BraidServer bind(final int port) {
            return bind(new InetSocketAddress(java.net.InetAddress.getLoopbackAddress(), port));
        }

        /**
         * Starts serving on {@code address}. A builder binds once.
         *
         * @param address where to listen; port 0 for any free one
         * @return the running server
         */
        public BraidServer bind(final InetSocketAddress address) {
            return bind((java.net.SocketAddress) address);
        }

        /**
         * Starts serving on a TCP address or a Unix domain socket ({@link java.net.UnixDomainSocketAddress}:
         * a stale socket file a crashed server left is replaced, a live server's is refused; the file's
         * permissions decide who may connect; it is removed when the server closes). A builder binds once.
         *
         * @param address where to listen
         * @return the running server
         */
        public BraidServer bind(final java.net.SocketAddress address) {
            if (bound) {
                throw new IllegalStateException("this builder already bound a server");
            }
            bound = true;
            // The JDK's logging opens files at its first use: java.util.logging its configuration
            // (conf/logging.properties), and the first line it formats the time-zone database (lib/tzdb.dat,
            // through ZoneId.systemDefault()). If that first use is a listener's "accept failed" under
            // descriptor exhaustion, the time zone's class fails to initialize, for good: that line and every
            // later one throws java.lang.Error instead of being written (seen running the descriptors attack
            // under prlimit, issue 11 §1.5). Both are done now, while descriptors are there.
            System.getLogger("dev.braid").isLoggable(System.Logger.Level.WARNING);
            java.time.ZoneId.systemDefault();
            dev.braid.internal.observe.JfrEvents.preload(); // same reason: the first abnormal close loads them
            final Set<ServerConnection> connections = ConcurrentHashMap.newKeySet();
            final Consumer<Peer> cb = onConnection;
            final java.util.concurrent.atomic.AtomicBoolean closed = new java.util.concurrent.atomic.AtomicBoolean();
            final dev.braid.internal.engine.ServerAdmission admission = new dev.braid.internal.engine.ServerAdmission(rt);
            final Set<ServerConnection> opening = ConcurrentHashMap.newKeySet();
            final TlsOptions tls = rt.config().tls();
            final java.util.function.BiConsumer<java.net.SocketAddress, ConnectionClosedException> failed =
                    onConnectionFailed;
            final BackendInstance.Listener l = rt.io().listen(address, () -> {
                final ServerConnection sc = new ServerConnection(rt, registry, c -> {
                    opening.remove(c);
                    connections.add(c);
                    c.closeFuture().whenComplete((r, e) -> connections.remove(c));
                    if (closed.get()) {
                        c.abort();
                        return;
                    }
                    if (cb != null) {
                        cb.accept(c);
                    }
                }, admission);
                if (tls == null) {
                    return sc;
                }
                opening.add(sc); // aborted by close() while it handshakes; one accepted after it aborts on open
                sc.closeFuture().whenComplete((r, e) -> opening.remove(sc));
                final TlsConnection[] self = new TlsConnection[1];
                self[0] = new TlsConnection(sc, tls, false, null, 0, rt.pool(), rt.timer(), reason -> {
                    if (reason.reason() != ConnectionClosedException.Reason.LOCAL_CLOSE) {
                        rt.logPeerError(sc, reason.getMessage()); // the peer's doing, not this side's close
                    }
                    if (failed != null) {
                        failed.accept(self[0].remoteAddress(), reason);
                    }
                });
                return self[0];
            });
            return new BraidServer(rt, l, connections, opening, closed);
        }
    }
}
