package dev.braid.internal.engine;

import dev.braid.BraidConfig;
import dev.braid.buffer.BufferPool;
import dev.braid.spi.Backend;
import dev.braid.spi.BackendInstance;

import java.lang.System.Logger;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * What every connection of one {@link dev.braid.Braid} shares: configuration, buffer pool, timer thread,
 * handler executor and the running backend. Thread-safe.
 */
public final class BraidRuntime {
    static final Logger LOG = System.getLogger("dev.braid");
    private static final AtomicInteger INSTANCES = new AtomicInteger();

    final BraidConfig config;
    final BufferPool pool;
    final ScheduledThreadPoolExecutor timer;
    /** Protocol violations and limit refusals by peers: WARNING, rate-limited (see PeerErrorLog). */
    final PeerErrorLog peerErrors = new PeerErrorLog();
    final ExecutorService handlers;
    private final boolean ownsHandlers;
    final Backend backend;
    final BackendInstance io;
    private final Set<ConnectionEngine> connections = ConcurrentHashMap.newKeySet();
    final String name;

    public BraidRuntime(final BraidConfig config, final Backend backend) {
        this.config = config;
        this.name = "braid-" + INSTANCES.incrementAndGet();
        this.pool = config.bufferPool() != null ? config.bufferPool() : new BufferPool();
        this.timer = new ScheduledThreadPoolExecutor(1, r -> {
            final Thread t = new Thread(r, name + "-timer");
            t.setDaemon(true);
            return t;
        });
        timer.setRemoveOnCancelPolicy(true);
        if (config.handlerExecutor() != null) {
            handlers = config.handlerExecutor();
            ownsHandlers = false;
        } else {
            handlers = Executors.newThreadPerTaskExecutor(Thread.ofVirtual().name(name + "-handler-", 0).factory());
            ownsHandlers = true;
        }
        this.backend = backend;
        BackendInstance started = null;
        try {
            started = backend.start(new dev.braid.spi.BackendSettings(config.ioThreads(), name + "-" + backend.name(),
                    config.socketSendBufferSize(), config.socketReceiveBufferSize(),
                    config.connectTimeout().toMillis()));
        } finally {
            if (started == null) {
                timer.shutdownNow();
                if (ownsHandlers) {
                    handlers.shutdownNow();
                }
            }
        }
        this.io = started;
    }

    public BraidConfig config() {
        return config;
    }

    /** {@return the timer thread (deadlines; its tasks must be short and never block)} */
    public java.util.concurrent.ScheduledExecutorService timer() {
        return timer;
    }

    /** Logs a peer's fault (rate-limited, WARNING on dev.braid.peer). Any thread. */
    public void logPeerError(final Object connection, final String message) {
        peerErrors.log(connection, message);
    }

    public BufferPool pool() {
        return pool;
    }

    public BackendInstance io() {
        return io;
    }

    public Backend backend() {
        return backend;
    }

    void register(final ConnectionEngine c) {
        connections.add(c);
    }

    void unregister(final ConnectionEngine c) {
        connections.remove(c);
    }

    /** Closes every connection at once, the backend, the timer and (if braid owns it) the handler executor. */
    public void close() {
        for (ConnectionEngine c : connections) {
            c.abort();
        }
        io.close();
        for (ConnectionEngine c : connections) {
            c.awaitClosed(config.closeTimeout().toMillis());
        }
        timer.shutdownNow();
        if (ownsHandlers) {
            handlers.shutdown();
            try {
                if (!handlers.awaitTermination(config.closeTimeout().toMillis(), TimeUnit.MILLISECONDS)) {
                    LOG.log(Logger.Level.WARNING, "handlers still running after closeTimeout; interrupting them");
                    handlers.shutdownNow();
                }
            } catch (InterruptedException e) {
                handlers.shutdownNow();
                Thread.currentThread().interrupt();
            }
        }
        try {
            timer.awaitTermination(config.closeTimeout().toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
