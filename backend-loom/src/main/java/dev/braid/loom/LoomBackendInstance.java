package dev.braid.loom;

import dev.braid.BraidException;
import dev.braid.ConnectionClosedException;
import dev.braid.ConnectionClosedException.Reason;
import dev.braid.spi.BackendInstance;
import dev.braid.spi.BackendSettings;
import dev.braid.spi.ConnectionHandler;
import dev.braid.spi.IoThreads;

import java.io.IOException;
import java.net.ConnectException;
import java.net.SocketAddress;
import java.net.SocketTimeoutException;
import java.net.StandardSocketOptions;
import java.nio.channels.NetworkChannel;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Supplier;

/**
 * A running loom backend: no threads of its own until there is work. A connect runs on the connection's
 * future reader thread ({@code <prefix>-r-<id>}), which connects (blocking, with the configured timeout)
 * and then reads; each listener has an accept thread. Every thread is a virtual thread named with
 * {@link BackendSettings#threadNamePrefix()}.
 *
 * <h2>Threads and lifecycle</h2>
 * Every method may be called from any thread. Virtual threads are not listed by
 * {@link Thread#getAllStackTraces()}, so this class tracks each thread it starts in {@code threads} (each
 * removes itself as its last action) and {@link #close()} joins them. {@code lifecycleLock} orders
 * starting new work against closing: {@code closed} is set under it, and a connect, a listen or an
 * accepted connection is registered under it only while {@code closed} is false, so {@link #close()} sees
 * (and closes) everything that was registered, and nothing is registered after. A writer thread is started
 * even after close (its connection was registered, so close is already closing it), by the connection's
 * reader thread, which is tracked until after that: {@code threads} is never empty while a thread may
 * still be started.
 */
final class LoomBackendInstance implements BackendInstance {
    private static final System.Logger LOG = System.getLogger("dev.braid.loom");
    private static final int BACKLOG = 4096; // as epoll's (EpollBackendInstance.BACKLOG says why)
    /** After this, close() closes every socket and interrupts every thread still running. */
    private static final long FORCE_AFTER_MILLIS = 10_000;
    /** After this, close() gives up waiting (and logs the threads left). */
    private static final long JOIN_MILLIS = 30_000;

    final BackendSettings settings;
    private final String prefix;
    private final AtomicLong connectionIds = new AtomicLong();
    private final AtomicLong listenerIds = new AtomicLong();
    private final ReentrantLock lifecycleLock = new ReentrantLock();
    /** Written under {@code lifecycleLock}; read without it where a stale false is harmless. */
    private volatile boolean closed;
    private final Set<Thread> threads = ConcurrentHashMap.newKeySet();
    private final Set<LoomConnection> connections = ConcurrentHashMap.newKeySet();
    private final Set<LoomListener> listeners = ConcurrentHashMap.newKeySet();
    private final Set<SocketChannel> connecting = ConcurrentHashMap.newKeySet();

    LoomBackendInstance(final BackendSettings settings) {
        this.settings = settings;
        this.prefix = settings.threadNamePrefix();
    }

    // ------------------------------------------------------------------ threads

    /** An unstarted virtual thread named {@code prefix + suffix} that leaves {@code threads} when it ends. */
    Thread newThread(final String suffix, final Runnable body) {
        return Thread.ofVirtual().name(prefix + suffix).unstarted(() -> {
            IoThreads.markCurrent("loom"); // every thread of this backend runs engine calls or tasks (accept: the handler supplier)
            try {
                body.run();
            } finally {
                threads.remove(Thread.currentThread());
            }
        });
    }

    /** Tracks and starts {@code t} whether or not the backend is closing. */
    void startTracked(final Thread t) {
        threads.add(t);
        try {
            t.start();
        } catch (Throwable e) {
            threads.remove(t);
            throw e;
        }
    }

    // ------------------------------------------------------------------ connect

    @Override
    public CompletableFuture<Void> connect(final SocketAddress remote, final ConnectionHandler handler) {
        final CompletableFuture<Void> f = new CompletableFuture<>();
        final long id = connectionIds.incrementAndGet();
        final Thread t = newThread("-r-" + id, () -> connectAndRead(remote, handler, f, id));
        lifecycleLock.lock();
        try {
            if (closed) {
                f.completeExceptionally(closing());
                return f;
            }
            startTracked(t);
        } catch (Throwable e) {
            f.completeExceptionally(e);
        } finally {
            lifecycleLock.unlock();
        }
        return f;
    }

    /** Body of a connecting reader thread. The handler is never called unless the connect succeeded. */
    private void connectAndRead(final SocketAddress remote, final ConnectionHandler handler,
                                final CompletableFuture<Void> f, final long id) {
        SocketChannel ch = null;
        final LoomConnection c;
        try {
            ch = dev.braid.internal.backend.UnixSockets.openFor(remote);
            if (!register(ch)) {
                throw closing();
            }
            try {
                configure(ch);
                if (dev.braid.internal.backend.UnixSockets.isUnix(remote)) {
                    ch.connect(remote); // local: completes or fails at once (no socket adaptor for this family)
                } else {
                    ch.socket().connect(remote, (int) Math.min(Integer.MAX_VALUE, settings.connectTimeoutMillis()));
                }
            } finally {
                connecting.remove(ch);
            }
            c = new LoomConnection(this, ch, handler, id);
        } catch (Throwable e) {
            closeQuietly(ch);
            f.completeExceptionally(connectFailure(remote, e));
            return;
        }
        if (f.isDone() || !register(c)) {
            // The caller gave up on the future (it cleans the handler up), or the backend closed meanwhile.
            c.closeChannel();
            f.completeExceptionally(closing());
            return;
        }
        c.runReader(f);
    }

    private Throwable connectFailure(final SocketAddress remote, final Throwable e) {
        if (closed) {
            return closing();
        }
        if (e instanceof SocketTimeoutException) {
            final ConnectException ce = new ConnectException("connect to " + remote + " timed out after "
                    + settings.connectTimeoutMillis() + " ms");
            ce.initCause(e);
            return ce;
        }
        return e;
    }

    private boolean register(final SocketChannel ch) {
        lifecycleLock.lock();
        try {
            return !closed && connecting.add(ch);
        } finally {
            lifecycleLock.unlock();
        }
    }

    private boolean register(final LoomConnection c) {
        lifecycleLock.lock();
        try {
            return !closed && connections.add(c);
        } finally {
            lifecycleLock.unlock();
        }
    }

    // ------------------------------------------------------------------ listen and accept

    @Override
    public Listener listen(final SocketAddress local, final Supplier<ConnectionHandler> handlers) {
        final LoomListener l;
        try {
            final ServerSocketChannel ssc = dev.braid.internal.backend.UnixSockets.openServerFor(local);
            try {
                if (settings.receiveBufferSize() > 0 && !dev.braid.internal.backend.UnixSockets.isUnix(local)) {
                    // before bind, so that accepted sockets can advertise a window scale for it
                    ssc.setOption(StandardSocketOptions.SO_RCVBUF, settings.receiveBufferSize());
                }
                ssc.bind(local, BACKLOG);
                l = new LoomListener(this, ssc, handlers);
            } catch (IOException | RuntimeException e) {
                ssc.close();
                throw e;
            }
        } catch (IOException e) {
            throw new BraidException(BraidException.Category.IO, "cannot listen on " + local + ": " + e.getMessage(), e);
        }
        final Thread t = newThread("-accept-" + listenerIds.incrementAndGet(), l::acceptLoop);
        lifecycleLock.lock();
        try {
            if (!closed) {
                listeners.add(l);
                startTracked(t);
                return l;
            }
        } finally {
            lifecycleLock.unlock();
        }
        l.close();
        throw new BraidException(BraidException.Category.IO, "cannot listen on " + local + ": the backend is closed");
    }

    /** Accept thread: attaches a new handler to an accepted socket and starts its reader. */
    void adopt(final SocketChannel ch, final Supplier<ConnectionHandler> handlers) {
        if (closed) {
            closeQuietly(ch);
            return;
        }
        final ConnectionHandler handler;
        try {
            handler = handlers.get();
        } catch (RuntimeException | Error e) { // an OutOfMemoryError too: this socket only, never the listener
            LOG.log(System.Logger.Level.WARNING, "no handler for an accepted connection", e);
            closeQuietly(ch);
            return;
        }
        final long id = connectionIds.incrementAndGet();
        final LoomConnection c;
        try {
            configure(ch);
            c = new LoomConnection(this, ch, handler, id);
        } catch (IOException | RuntimeException | Error e) {
            LOG.log(System.Logger.Level.WARNING, "cannot set up an accepted connection", e);
            closeQuietly(ch);
            handler.onClosed(e); // never opened (as on nio)
            return;
        }
        final Thread t = newThread("-r-" + id, () -> c.runReader(null));
        boolean started = false;
        lifecycleLock.lock();
        try {
            if (!closed) {
                connections.add(c);
                startTracked(t);
                started = true;
            }
        } catch (Throwable e) {
            connections.remove(c);
            LOG.log(System.Logger.Level.WARNING, "cannot start a reader thread for an accepted connection", e);
        } finally {
            lifecycleLock.unlock();
        }
        if (!started) {
            c.closeChannel();
            handler.onClosed(closing()); // never opened
        }
    }

    private void configure(final NetworkChannel ch) throws IOException {
        if (!ch.supportedOptions().contains(StandardSocketOptions.TCP_NODELAY)) {
            return; // a Unix domain socket: no TCP options; the kernel's buffers as they are
        }
        ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
        if (settings.sendBufferSize() > 0) {
            ch.setOption(StandardSocketOptions.SO_SNDBUF, settings.sendBufferSize());
        }
        if (settings.receiveBufferSize() > 0) {
            ch.setOption(StandardSocketOptions.SO_RCVBUF, settings.receiveBufferSize());
        }
    }

    void forget(final LoomConnection c) {
        connections.remove(c);
    }

    void forget(final LoomListener l) {
        listeners.remove(l);
    }

    // ------------------------------------------------------------------ close

    @Override
    public void close() {
        final boolean first;
        lifecycleLock.lock();
        try {
            first = !closed;
            closed = true;
        } finally {
            lifecycleLock.unlock();
        }
        if (first) {
            for (LoomListener l : listeners) {
                l.close();
            }
            for (SocketChannel ch : connecting) {
                closeQuietly(ch); // the connecting thread fails its future with closing()
            }
            final ConnectionClosedException reason = closing();
            for (LoomConnection c : connections) {
                c.close(reason); // each reader closes its socket after the writer's last flush (bounded)
            }
        }
        awaitThreads();
    }

    /**
     * Joins every thread this backend started (but the caller's own, if close runs on one of them). After
     * {@link #FORCE_AFTER_MILLIS} closes every socket and interrupts what is left; gives up after
     * {@link #JOIN_MILLIS}.
     */
    private void awaitThreads() {
        final Thread self = Thread.currentThread();
        final long start = System.nanoTime();
        final long forceAt = start + TimeUnit.MILLISECONDS.toNanos(FORCE_AFTER_MILLIS);
        final long deadline = start + TimeUnit.MILLISECONDS.toNanos(JOIN_MILLIS);
        boolean forced = false;
        while (true) {
            final List<Thread> left = new ArrayList<>();
            for (Thread t : threads) {
                if (t != self) {
                    left.add(t);
                }
            }
            if (left.isEmpty()) {
                return;
            }
            final long now = System.nanoTime();
            if (now - deadline >= 0) {
                LOG.log(System.Logger.Level.WARNING, "loom backend: threads still running after " + JOIN_MILLIS
                        + " ms: " + left.stream().map(Thread::getName).toList());
                return;
            }
            if (!forced && now - forceAt >= 0) {
                forced = true;
                force(left);
            }
            final long waitNanos = (forced ? deadline : forceAt) - now;
            try {
                left.get(0).join(Math.max(1, TimeUnit.NANOSECONDS.toMillis(waitNanos)));
            } catch (InterruptedException e) {
                force(left);
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    private void force(final List<Thread> left) {
        LOG.log(System.Logger.Level.WARNING, "loom backend: closing sockets and interrupting threads still running: "
                + left.stream().map(Thread::getName).toList());
        for (LoomConnection c : connections) {
            c.closeChannel();
        }
        for (Thread t : left) {
            t.interrupt();
        }
    }

    /** Threads started by this backend and still running (for tests). */
    int liveThreads() {
        return threads.size();
    }

    private static ConnectionClosedException closing() {
        return new ConnectionClosedException(Reason.LOCAL_CLOSE, "braid is closing", null);
    }

    static void closeQuietly(final java.nio.channels.Channel ch) {
        if (ch != null) {
            try {
                ch.close();
            } catch (IOException e) {
                // nothing more to do
            }
        }
    }
}
