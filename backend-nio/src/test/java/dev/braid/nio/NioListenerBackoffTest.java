package dev.braid.nio;

import dev.braid.spi.BackendInstance;
import dev.braid.spi.BackendSettings;
import dev.braid.testing.Await;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Issue 11 §1.5: accept failing as under descriptor exhaustion (EMFILE, injected through the listener's
 * accept seam). Before the fix the listener logged a WARNING with a stack trace for every attempt, in a busy
 * loop (the socket stays ready while the connection waits in the backlog). Now it pauses accepting (OP_ACCEPT
 * off, a growing backoff), logs once per episode, keeps serving the loop's connections, and accepts the
 * waiting connection once accept works again.
 */
class NioListenerBackoffTest {
    private BackendInstance backend;

    @AfterEach
    void close() {
        if (backend != null) {
            backend.close();
        }
    }

    /** Runs {@code what} on the listener's loop and returns its result. */
    private static <T> T onLoop(final NioListener l, final Supplier<T> what) throws Exception {
        final CompletableFuture<T> f = new CompletableFuture<>();
        l.loop.execute(() -> f.complete(what.get()));
        return f.get(10, TimeUnit.SECONDS);
    }

    @Test
    void acceptFailuresPauseAcceptingLogOncePerEpisodeAndTheLoopGoesOn() throws Exception {
        backend = new NioBackend().start(new BackendSettings(1, "braid-tb-nio", 0, 0, 5_000));
        final LinkedBlockingQueue<RecordingHandler> accepted = new LinkedBlockingQueue<>();
        final NioListener l = (NioListener) backend.listen(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0),
                () -> {
                    final RecordingHandler h = new RecordingHandler(4096);
                    accepted.add(h);
                    return h;
                });
        // an existing connection on the same loop, echoing
        try (Socket existing = new Socket(InetAddress.getLoopbackAddress(), ((java.net.InetSocketAddress) l.localAddress()).getPort())) {
            final RecordingHandler h = accepted.poll(10, TimeUnit.SECONDS);
            assertThat(h).isNotNull();
            h.opened.get(10, TimeUnit.SECONDS);
            h.afterInbound = (chunk, total) -> h.send(chunk, 10_000);

            final AtomicBoolean exhausted = new AtomicBoolean(true);
            final AtomicInteger attempts = new AtomicInteger();
            onLoop(l, () -> {
                final NioListener.Acceptor real = l.acceptor;
                l.acceptor = () -> {
                    attempts.incrementAndGet();
                    if (exhausted.get()) {
                        throw new IOException("Too many open files");
                    }
                    return real.accept();
                };
                return null;
            });
            try (Socket waiting = new Socket(InetAddress.getLoopbackAddress(), ((java.net.InetSocketAddress) l.localAddress()).getPort())) {
                Await.until("several failed attempts", () -> attempts.get() >= 4);
                assertThat(onLoop(l, () -> l.episodes)).as("one episode, logged once").isEqualTo(1);
                // between attempts the listener waits with OP_ACCEPT off, instead of spinning on a ready socket
                Await.until("accepting paused", () -> {
                    try {
                        return onLoop(l, () -> l.paused && l.key.interestOps() == 0);
                    } catch (Exception e) {
                        throw new AssertionError(e);
                    }
                });
                // the loop still serves the existing connection
                existing.getOutputStream().write(new byte[]{1, 2, 3});
                assertThat(existing.getInputStream().readNBytes(3)).containsExactly(1, 2, 3);

                exhausted.set(false); // descriptors again: the waiting connection is accepted at the next attempt
                final RecordingHandler next = accepted.poll(30, TimeUnit.SECONDS);
                assertThat(next).as("the waiting connection accepted after the episode").isNotNull();
                next.opened.get(10, TimeUnit.SECONDS);
                assertThat(waiting.isConnected()).isTrue();
            }
            final long failed = onLoop(l, () -> l.failedAccepts);
            assertThat(onLoop(l, () -> l.episodes)).isEqualTo(1);
            assertThat(failed).isGreaterThanOrEqualTo(4);
        }
    }
}
