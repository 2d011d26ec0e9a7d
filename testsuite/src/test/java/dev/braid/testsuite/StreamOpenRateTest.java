package dev.braid.testsuite;

import dev.braid.BraidConfig;
import dev.braid.BraidException;
import dev.braid.BraidObserver;
import dev.braid.BraidServer;
import dev.braid.BraidStream;
import dev.braid.Connection;
import dev.braid.HandlerMode;
import dev.braid.Peer;
import dev.braid.Procedure;
import dev.braid.testing.Await;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.Level;
import java.util.logging.LogRecord;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Issue 11, the open/abort attack held by back-pressure: a server takes a token per stream the peer opens
 * ({@code maxStreamOpensPerSecond}, a burst of {@code maxConcurrentStreams}; an abort costs
 * {@link BraidConfig#STREAM_ABORT_OPEN_COST} opens) and, out of tokens, stops reading the connection until one
 * is due. Opens beyond the rate are delayed, never refused; calls already read are answered meanwhile; with
 * the limit off nothing waits. Before the limit nothing slowed a peer's opens (the observer saw no
 * {@code STREAM_OPEN_RATE} suspension: the first test failed).
 */
class StreamOpenRateTest extends TransportTest {
    static final int PROG = 0x52415445; // "RATE"
    /** Accepts, reads to the end, finishes. */
    static final Procedure SINK = Procedure.of(PROG, 1, 1);
    /** Accepts, then reads until the client ends or aborts. */
    static final Procedure HOLD = Procedure.of(PROG, 1, 2);
    static final Procedure PING = Procedure.of(PROG, 1, 3);
    /** A call that runs until the test lets it answer. */
    static final Procedure SLOW = Procedure.of(PROG, 1, 4);

    private final LogCapture log = new LogCapture();
    private final AtomicLong throttled = new AtomicLong();
    private final AtomicLong resumed = new AtomicLong();
    private final AtomicInteger finished = new AtomicInteger();
    private final AtomicInteger handlersEnded = new AtomicInteger();
    private final CountDownLatch slowRunning = new CountDownLatch(1);
    private final CountDownLatch slowMayAnswer = new CountDownLatch(1);

    @BeforeEach
    void captureLog() {
        log.start();
    }

    @AfterEach
    void releaseLog() {
        log.stop();
        slowMayAnswer.countDown();
    }

    private BraidServer server(final int perSecond, final int burst) {
        final BraidConfig cfg = config(true).maxStreamOpensPerSecond(perSecond).maxConcurrentStreams(burst)
                .observer(new BraidObserver() {
                    @Override
                    public void readSuspended(final Peer connection, final Side side, final Suspension reason) {
                        if (reason == Suspension.STREAM_OPEN_RATE) {
                            throttled.incrementAndGet();
                        }
                    }

                    @Override
                    public void readResumed(final Peer connection, final Side side, final Suspension reason,
                                            final long nanos) {
                        if (reason == Suspension.STREAM_OPEN_RATE) {
                            resumed.incrementAndGet();
                        }
                    }
                });
        return server(cfg, s -> s
                .stream(SINK, (call, stream) -> {
                    call.reply(new byte[0]);
                    final ByteBuffer b = ByteBuffer.allocate(1024);
                    while (stream.read(b.clear()) >= 0) {
                        // to the end
                    }
                    stream.finish();
                    finished.incrementAndGet();
                })
                .stream(HOLD, (call, stream) -> {
                    try {
                        call.reply(new byte[0]);
                        final ByteBuffer sink = ByteBuffer.allocate(64);
                        while (stream.read(sink.clear()) >= 0) {
                            // until the client ends or aborts it
                        }
                    } catch (BraidException aborted) {
                        // the client aborted the stream, or the connection closed
                    } finally {
                        handlersEnded.incrementAndGet();
                    }
                })
                .handle(PING, call -> call.reply(call.args()), HandlerMode.NON_BLOCKING)
                .handle(SLOW, call -> {
                    slowRunning.countDown();
                    try {
                        slowMayAnswer.await();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                    call.reply(new byte[] {5});
                }, HandlerMode.BLOCKING));
    }

    /** Opens {@code n} streams one after another, each sending a few bytes and finishing. */
    private static void uploads(final Connection c, final int n) {
        for (int i = 0; i < n; i++) {
            try (BraidStream s = c.openStream(SINK, new byte[0])) {
                s.write(new byte[] {1, 2, 3}, 0, 3);
                s.finish();
            } catch (Exception e) {
                throw new AssertionError("stream " + i + " failed", e);
            }
        }
    }

    @Test
    void opensBeyondTheRateAreDelayedNotRefusedAndALongThrottleIsLoggedOnce() {
        final BraidServer server = server(4, 2); // 2 at once, then 4 a second: 10 opens take about 2 s
        final Connection c = connect(server);
        uploads(c, 10);
        Await.until("the server's handlers finished 10 streams", () -> finished.get() >= 10); // they count after the client's finish returns
        assertThat(finished).hasValue(10);
        final Peer serverSide = onlyConnection(server);
        assertThat(serverSide.stats().streamsOpened()).isEqualTo(10);
        assertThat(serverSide.stats().streamsAborted()).isZero();
        assertThat(throttled.get()).as("reads stopped for the rate").isPositive();
        assertThat(c.call(PING, new byte[] {1})).containsExactly(1);
        assertThat(c.isOpen()).isTrue();
        // a connection throttled for over a second: one WARNING on dev.braid.peer naming the limit
        final List<LogRecord> lines = logged("maxStreamOpensPerSecond = 4");
        assertThat(lines).hasSize(1);
        assertThat(lines.get(0).getLevel()).isEqualTo(Level.WARNING);
        assertThat(lines.get(0).getLoggerName()).isEqualTo("dev.braid.peer");
        assertThat(lines.get(0).getMessage()).contains("stream opens throttled").contains("nothing is refused")
                .contains("127.0.0.1");
    }

    @Test
    void zeroTurnsTheLimitOff() {
        final BraidServer server = server(0, 64); // aborts free their client slots asynchronously: room for a few
        final Connection c = connect(server);
        uploads(c, 100);
        for (int i = 0; i < 50; i++) {
            c.openStream(HOLD, new byte[0]).abort("again");
        }
        Await.until("the server saw 50 aborts", () -> handlersEnded.get() == 50);
        uploads(c, 10);
        Await.until("the server's handlers finished 110 streams", () -> finished.get() >= 110); // they count after the client's finish returns
        assertThat(finished).hasValue(110);
        assertThat(throttled).hasValue(0);
        assertThat(logged("maxStreamOpensPerSecond")).isEmpty();
    }

    @Test
    void theDefaultDoesNotSlowABurstOfOpens() {
        final BraidServer server = server(BraidConfig.DEFAULT_MAX_STREAM_OPENS_PER_SECOND, 64);
        final Connection c = connect(server);
        uploads(c, 60); // within the burst of an idle connection
        Await.until("the server's handlers finished 60 streams", () -> finished.get() >= 60); // they count after the client's finish returns
        assertThat(finished).hasValue(60);
        assertThat(throttled).hasValue(0);
    }

    /**
     * A call read before the throttled open is answered while the reads wait: an open and abort leaves a debt
     * of 10 tokens at 1 a second, so the next open waits about 10 s, far longer than the answer takes; the
     * test then closes the connection (the waiting open's frame is released, no buffer leaks).
     */
    @Test
    void callsAlreadyReadAreAnsweredWhileOpensWait() throws Exception {
        final BraidServer server = server(1, 1);
        final Connection c = connect(server);
        final CompletableFuture<dev.braid.Reply> slow = c.callAsync(SLOW, new byte[0]);
        assertThat(slowRunning.await(30, TimeUnit.SECONDS)).isTrue();
        c.openStream(HOLD, new byte[0]).abort("costs ten opens");
        Await.until("the server saw the abort", () -> handlersEnded.get() == 1);
        // waits for the client's slot too: the aborted stream's comes back asynchronously (with one stream
        // allowed, opening at once failed with "no free stream slot" on some pairings, and nothing was throttled)
        final CompletableFuture<BraidStream> waiting = CompletableFuture.supplyAsync(
                () -> c.openStream(HOLD, ByteBuffer.allocate(0),
                        dev.braid.StreamOptions.waitForSlot(java.time.Duration.ofSeconds(30))),
                r -> Thread.ofVirtual().start(r));
        Await.until("the server stops reading for the rate", () -> throttled.get() == 1);
        slowMayAnswer.countDown();
        try (dev.braid.Reply r = slow.get(30, TimeUnit.SECONDS)) {
            final ByteBuffer p = r.payload();
            assertThat(p.get(p.position())).isEqualTo((byte) 5);
        }
        assertThat(resumed).as("answered while the reads were still held").hasValue(0);
        assertThat(waiting).isNotDone();
        c.abort(); // close() would wait its closeTimeout for the open the server has not read
        assertThat(waiting).failsWithin(30, TimeUnit.SECONDS);
        // the server sees the client's close only once it reads again (the throttle: about ten seconds at one
        // open a second); closing the server ends its side at once, reads held or not, and leaks nothing
        server.close();
        assertThat(server.connections()).isEmpty();
    }

    private List<LogRecord> logged(final String text) {
        return log.containing(text);
    }
}
