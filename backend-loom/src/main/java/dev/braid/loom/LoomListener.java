package dev.braid.loom;

import dev.braid.spi.BackendInstance;
import dev.braid.spi.ConnectionHandler;

import java.io.IOException;
import java.net.SocketAddress;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * A blocking listening socket and its accept virtual thread ({@code <prefix>-accept-<id>}), which hands each
 * accepted socket to a new connection. {@link #close()} (any thread) closes the socket, which ends a blocked
 * {@code accept} with {@code AsynchronousCloseException} and so the thread.
 */
final class LoomListener implements BackendInstance.Listener {
    private static final System.Logger LOG = System.getLogger("dev.braid.loom");
    /**
     * First pause after an accept error (for example too many open files), doubled on each error in a row up
     * to {@link #MAX_BACKOFF_MILLIS}, so a persistent one neither spins nor floods the log: one WARNING starts
     * an episode, one INFO ends it (as nio's listener, issue 11 §1.5).
     */
    private static final long ACCEPT_BACKOFF_MILLIS = 10;
    private static final long MAX_BACKOFF_MILLIS = 1_000;
    /**
     * An episode ends (one INFO) once accepts have gone on this long without a failure. Not at the first
     * accept that works: here each connection's reader opens a {@code Selector} (descriptors of its own), so
     * while descriptors are short an accept works, its connection fails for want of one and closes, which
     * frees one, and the next accept fails again; ending the episode at each such accept logged a WARNING and
     * an INFO every 10 ms (16 lines in 150 ms of a descriptor-exhaustion attack).
     */
    private static final long EPISODE_QUIET_MILLIS = 1_000;

    /** Guards the episode state below: the accept thread and an episode's end check. */
    private final java.util.concurrent.locks.ReentrantLock episodeLock = new java.util.concurrent.locks.ReentrantLock();
    private long failuresInEpisode;
    private long episodeStartNanos;
    private long lastFailureNanos;
    private long lastSuccessNanos;
    private boolean endCheckPending;
    /** The thread waiting to end an episode, if any; {@link #close()} interrupts it. */
    private volatile Thread endCheck;

    private final LoomBackendInstance backend;
    final ServerSocketChannel channel;
    private final Supplier<ConnectionHandler> handlers;
    private final SocketAddress address;
    private volatile boolean closed;

    LoomListener(final LoomBackendInstance backend, final ServerSocketChannel channel,
                 final Supplier<ConnectionHandler> handlers) throws IOException {
        this.backend = backend;
        this.channel = channel;
        this.handlers = handlers;
        this.address = channel.getLocalAddress();
    }

    /** Body of the accept thread. */
    void acceptLoop() {
        long backoff = 0; // > 0: accepts failed since the last one that worked
        try {
            while (!closed) {
                final SocketChannel ch;
                try {
                    ch = channel.accept();
                } catch (ClosedChannelException e) {
                    return; // closed (AsynchronousCloseException is one)
                } catch (IOException e) {
                    if (closed || !channel.isOpen()) {
                        return;
                    }
                    if (acceptFailed()) {
                        try {
                            LOG.log(System.Logger.Level.WARNING, "accept failed on " + address + ": " + e
                                    + "; pausing accepts (retrying after " + ACCEPT_BACKOFF_MILLIS + " ms, then up to "
                                    + "every " + MAX_BACKOFF_MILLIS + " ms; existing connections are served meanwhile)");
                        } catch (RuntimeException | Error logFailed) {
                            // a logging backend that needs a descriptor too: the line is lost, the thread goes on
                        }
                    }
                    backoff = backoff == 0 ? ACCEPT_BACKOFF_MILLIS : Math.min(MAX_BACKOFF_MILLIS, backoff * 2);
                    try {
                        Thread.sleep(backoff);
                    } catch (InterruptedException ie) {
                        return;
                    }
                    continue;
                }
                if (closed) {
                    LoomBackendInstance.closeQuietly(ch); // raced with close: stop accepting means this one too
                    return;
                }
                if (backoff > 0) {
                    backoff = 0;
                    acceptWorked();
                }
                try {
                    backend.adopt(ch, handlers);
                } catch (RuntimeException | Error e) { // one connection's failure (even OutOfMemoryError) never stops the listener
                    LOG.log(System.Logger.Level.WARNING, "cannot adopt a connection accepted on " + address, e);
                    LoomBackendInstance.closeQuietly(ch);
                }
            }
        } finally {
            backend.forget(this);
        }
    }

    /** Accept thread: an accept failed. Returns whether it starts an episode (then the caller logs it). */
    private boolean acceptFailed() {
        episodeLock.lock();
        try {
            lastFailureNanos = System.nanoTime();
            if (failuresInEpisode++ == 0) {
                episodeStartNanos = lastFailureNanos;
                return true;
            }
            return false;
        } finally {
            episodeLock.unlock();
        }
    }

    /**
     * Accept thread: an accept worked after failures. The episode ends, with one INFO, once an accept has worked
     * and {@link #EPISODE_QUIET_MILLIS} pass without another failure (checked on a virtual thread of its own, since
     * the accept thread may be blocked in accept by then).
     */
    private void acceptWorked() {
        episodeLock.lock();
        try {
            lastSuccessNanos = System.nanoTime();
            if (endCheckPending || failuresInEpisode == 0) {
                return;
            }
            endCheckPending = true;
        } finally {
            episodeLock.unlock();
        }
        final Thread t = backend.newThread("-accept-episode", this::endEpisodeWhenQuiet);
        endCheck = t;
        backend.startTracked(t);
        if (closed) {
            t.interrupt(); // close() may have looked before endCheck was set
        }
    }

    private void endEpisodeWhenQuiet() {
        while (!closed) {
            final long waitNanos;
            episodeLock.lock();
            try {
                final long quietFor = System.nanoTime() - lastFailureNanos;
                // a failure after the last accept that worked: the accept thread is in a backoff; wait for the next
                waitNanos = lastSuccessNanos - lastFailureNanos < 0 ? TimeUnit.MILLISECONDS.toNanos(EPISODE_QUIET_MILLIS)
                        : TimeUnit.MILLISECONDS.toNanos(EPISODE_QUIET_MILLIS) - quietFor;
                if (waitNanos <= 0) {
                    LOG.log(System.Logger.Level.INFO, "accepting on " + address + " again after " + failuresInEpisode
                            + " failed attempts over " + TimeUnit.NANOSECONDS.toMillis(lastFailureNanos - episodeStartNanos)
                            + " ms");
                    failuresInEpisode = 0;
                    endCheckPending = false;
                    return;
                }
            } finally {
                episodeLock.unlock();
            }
            try {
                Thread.sleep(TimeUnit.NANOSECONDS.toMillis(waitNanos) + 1);
            } catch (InterruptedException e) {
                return;
            }
        }
        episodeLock.lock();
        try {
            endCheckPending = false;
        } finally {
            episodeLock.unlock();
        }
    }

    @Override
    public SocketAddress localAddress() {
        return address;
    }

    @Override
    public void close() {
        closed = true;
        final Thread t = endCheck;
        if (t != null) {
            t.interrupt(); // an episode not yet over ends unlogged with the listener
        }
        try {
            channel.close();
        } catch (IOException e) {
            LOG.log(System.Logger.Level.DEBUG, "closing listener " + address, e);
        }
        dev.braid.internal.backend.UnixSockets.removeAfterClose(address);
    }
}
