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
 * handler executor, callback executor and the running backend. Thread-safe.
 */
public final class BraidRuntime {
    static final Logger LOG = System.getLogger("dev.braid.runtime");
    private static final AtomicInteger INSTANCES = new AtomicInteger();

    final BraidConfig config;
    final BufferPool pool;
    final ScheduledThreadPoolExecutor timer;
    /** Protocol violations and limit refusals by peers: WARNING, rate-limited (see PeerErrorLog). */
    final PeerErrorLog peerErrors = new PeerErrorLog();
    /** Connections closed by an internal error (a bug, or a callback that threw): WARNING with the stack trace. */
    final PeerErrorLog internalErrors = new PeerErrorLog(System.getLogger("dev.braid.connection"));
    final ExecutorService handlers;
    private final boolean ownsHandlers;
    /** Where client callbacks run (futures, reply handlers); see BraidConfig.callbackExecutor. */
    final dev.braid.internal.engine.call.Callbacks callbacks;
    /** braid's own callback executor (a virtual thread per callback), or null when the config gave one. */
    private final ExecutorService ownedCallbacks;
    final Backend backend;
    final BackendInstance io;
    private final Set<ConnectionEngine> connections = ConcurrentHashMap.newKeySet();
    final String name;

    public BraidRuntime(final BraidConfig config, final Backend backend) {
        this.config = config;
        this.name = "braid-" + INSTANCES.incrementAndGet();
        this.pool = config.bufferPool() != null ? config.bufferPool() : new BufferPool(config.maxPooledBytes());
        this.timer = new ScheduledThreadPoolExecutor(1, r -> {
            final Thread t = new Thread(r, name + "-timer");
            t.setDaemon(true);
            return t;
        });
        timer.setRemoveOnCancelPolicy(true);
        if (config.bufferPool() == null) { // braid's own pool: trimmed back to its idle size when it stops growing
            timer.scheduleWithFixedDelay(() -> pool.trimIfIdle(BufferPool.IDLE_RETAINED_BYTES_PER_CLASS),
                    BufferPool.IDLE_TRIM_PERIOD_SECONDS, BufferPool.IDLE_TRIM_PERIOD_SECONDS, TimeUnit.SECONDS);
        }
        if (config.handlerExecutor() != null) {
            handlers = config.handlerExecutor();
            ownsHandlers = false;
        } else {
            handlers = Executors.newThreadPerTaskExecutor(Thread.ofVirtual().name(name + "-handler-", 0).factory());
            ownsHandlers = true;
        }
        if (config.callbackExecutor() != null) {
            ownedCallbacks = null;
            callbacks = new dev.braid.internal.engine.call.Callbacks(config.callbackExecutor());
        } else {
            ownedCallbacks = Executors.newThreadPerTaskExecutor(Thread.ofVirtual().name(name + "-callback-", 0)
                    .factory());
            callbacks = new dev.braid.internal.engine.call.Callbacks(ownedCallbacks);
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
                if (ownedCallbacks != null) {
                    ownedCallbacks.shutdownNow();
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

    /** {@return where client callbacks run} */
    public dev.braid.internal.engine.call.Callbacks callbacks() {
        return callbacks;
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
            if (c.transport == null) {
                // Still connecting when the backend stopped (a connectAsync, a reconnect attempt): the backend
                // will never open nor close it, so release what it holds here instead of waiting closeTimeout.
                c.onClosed(new dev.braid.ConnectionClosedException(dev.braid.ConnectionClosedException.Reason.LOCAL_CLOSE,
                        "braid is closing", null));
            }
            c.awaitClosed(config.closeTimeout().toMillis());
        }
        timer.shutdownNow();
        if (ownsHandlers) {
            stop(handlers, "handlers");
        }
        if (ownedCallbacks != null) {
            stop(ownedCallbacks, "callbacks");
        }
        try {
            timer.awaitTermination(config.closeTimeout().toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Shuts down an executor braid owns: waits closeTimeout for its tasks, then interrupts them. */
    private void stop(final ExecutorService executor, final String what) {
        executor.shutdown();
        try {
            if (!executor.awaitTermination(config.closeTimeout().toMillis(), TimeUnit.MILLISECONDS)) {
                LOG.log(Logger.Level.WARNING, what + " still running after closeTimeout; interrupting them");
                executor.shutdownNow();
            }
        } catch (InterruptedException e) {
            executor.shutdownNow();
            Thread.currentThread().interrupt();
        }
    }

    /** The configured close timeout (for callers outside this package). */
    public java.time.Duration closeTimeout() {
        return config.closeTimeout();
    }
}
