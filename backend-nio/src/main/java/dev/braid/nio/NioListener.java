package dev.braid.nio;

import dev.braid.spi.BackendInstance;
import dev.braid.spi.ConnectionHandler;

import java.io.IOException;
import java.net.SocketAddress;
import java.nio.channels.SelectionKey;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * A listening socket, registered for OP_ACCEPT on the first event loop. Accept runs on that loop's thread.
 *
 * <h2>When accept fails (issue 11 §1.5)</h2>
 * An accept that fails (EMFILE or ENFILE: no descriptor left; ENOBUFS) leaves the connection in the kernel's
 * backlog, so the selector reports the socket ready again at once: retrying would spin, and logging each
 * failure would flood the log (218,014 warnings in 15 s before this). Instead the listener stops accepting
 * (OP_ACCEPT off) for {@link #MIN_BACKOFF_MILLIS}, doubling on each failure in a row up to
 * {@link #MAX_BACKOFF_MILLIS}, as Netty (one second without auto-read) and Tomcat (a growing pause) do. The
 * loop goes on serving its connections meanwhile, and closing one of them frees the descriptor the next
 * attempt needs. One WARNING starts an episode (the error's message, no stack trace), one INFO ends it with
 * the count of failed attempts. Nothing thrown by accept stops the loop (see {@link NioEventLoop}).
 *
 * <p><b>Threads.</b> The loop thread, except {@link #close()} and {@link #localAddress()} (any thread).
 */
final class NioListener implements BackendInstance.Listener {
    private static final System.Logger LOG = System.getLogger("dev.braid.nio");
    /** First pause after a failed accept. */
    static final long MIN_BACKOFF_MILLIS = 10;
    /** Longest pause between attempts while accept keeps failing. */
    static final long MAX_BACKOFF_MILLIS = 1_000;

    /** How the listener accepts: the channel's own accept; a test may make it fail. Loop thread. */
    interface Acceptor {
        SocketChannel accept() throws IOException;
    }

    private final NioBackendInstance backend;
    /** The loop the listener is registered on (set by {@link NioEventLoop#register}). */
    NioEventLoop loop;
    final ServerSocketChannel channel;
    private final Supplier<ConnectionHandler> handlers;
    private final SocketAddress address;
    SelectionKey key;
    Acceptor acceptor;
    // ---- loop thread: the current episode of failures
    private long backoffMillis;
    private long failuresInEpisode;
    private long episodeStartNanos;
    /** When accepting resumes (System.nanoTime), while paused; read by the loop's select timeout. */
    long resumeAtNanos;
    /** Whether OP_ACCEPT is off for a backoff. Loop thread (read by tests in a loop task). */
    boolean paused;
    /** Episodes so far, and failed attempts in all of them (for tests and diagnostics). Loop thread. */
    long episodes;
    long failedAccepts;

    NioListener(final NioBackendInstance backend, final ServerSocketChannel channel,
                final Supplier<ConnectionHandler> handlers) throws IOException {
        this.backend = backend;
        this.channel = channel;
        this.handlers = handlers;
        this.address = channel.getLocalAddress();
        this.acceptor = channel::accept;
    }

    /** Loop thread: accept everything pending and hand each socket to a loop. */
    void acceptAll() {
        while (true) {
            final SocketChannel ch;
            try {
                ch = acceptor.accept();
            } catch (IOException e) {
                if (channel.isOpen()) {
                    acceptFailed(e);
                }
                return;
            }
            if (ch == null) {
                return;
            }
            if (failuresInEpisode > 0) {
                LOG.log(System.Logger.Level.INFO, "accepting on " + address + " again after " + failuresInEpisode
                        + " failed attempts over " + TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - episodeStartNanos)
                        + " ms");
                failuresInEpisode = 0;
                backoffMillis = 0;
            }
            final ConnectionHandler handler;
            try {
                handler = handlers.get();
            } catch (Throwable t) { // an Error too (the engine could not allocate): this socket only
                NioEventLoop.FAILURES.warn("no handler for a connection accepted on " + address + "; closing it", t);
                try {
                    ch.close();
                } catch (IOException e) {
                    // closing anyway
                }
                continue;
            }
            backend.nextLoop().adopt(ch, handler);
        }
    }

    /** Loop thread: accept failed; pause accepting for the next backoff, logging only an episode's first failure. */
    private void acceptFailed(final IOException e) {
        failedAccepts++;
        backoffMillis = backoffMillis == 0 ? MIN_BACKOFF_MILLIS : Math.min(MAX_BACKOFF_MILLIS, backoffMillis * 2);
        pause(System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(backoffMillis)); // first: the log may fail too
        if (failuresInEpisode++ == 0) {
            episodes++;
            episodeStartNanos = System.nanoTime();
            try {
                LOG.log(System.Logger.Level.WARNING, "accept failed on " + address + ": " + e
                        + "; pausing accepts (retrying after " + MIN_BACKOFF_MILLIS + " ms, then up to every "
                        + MAX_BACKOFF_MILLIS + " ms; existing connections are served meanwhile)");
            } catch (RuntimeException | Error logFailed) {
                // a logging backend that needs a descriptor too: the line is lost, the backoff holds
            }
        }
    }

    /** Loop thread: OP_ACCEPT off until {@code at}; the loop resumes it ({@link #resumeIfDue}). */
    private void pause(final long at) {
        if (key != null && key.isValid()) {
            key.interestOps(0);
        }
        paused = true;
        resumeAtNanos = at;
        loop.acceptPaused(this);
    }

    /** Loop thread: OP_ACCEPT on again once the backoff is over. Returns whether it is still paused. */
    boolean resumeIfDue(final long now) {
        if (!paused) {
            return false;
        }
        if (now - resumeAtNanos < 0) {
            return true;
        }
        paused = false;
        if (key != null && key.isValid()) {
            key.interestOps(SelectionKey.OP_ACCEPT); // level-triggered: a waiting connection is reported at once
        }
        return false;
    }

    @Override
    public SocketAddress localAddress() {
        return address;
    }

    @Override
    public void close() {
        try {
            channel.close(); // the selector drops the key at its next select
            dev.braid.internal.backend.UnixSockets.removeAfterClose(address);
        } catch (IOException e) {
            System.getLogger("dev.braid.nio").log(System.Logger.Level.DEBUG, "closing listener " + address, e);
        }
    }
}
