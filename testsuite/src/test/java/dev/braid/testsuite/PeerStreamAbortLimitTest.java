package dev.braid.testsuite;

import dev.braid.BraidConfig;
import dev.braid.BraidException;
import dev.braid.BraidObserver;
import dev.braid.BraidServer;
import dev.braid.BraidStream;
import dev.braid.Connection;
import dev.braid.ConnectionClosedException;
import dev.braid.HandlerMode;
import dev.braid.Peer;
import dev.braid.Procedure;
import dev.braid.RemoteException;
import dev.braid.testing.Await;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.logging.Level;
import java.util.logging.LogRecord;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Issue 11 §3, the rapid stream open/abort attack (HTTP/2's "rapid reset", CVE-2023-44487): a server closes a
 * connection whose peer aborts more than {@code maxPeerStreamAbortsPerWindow} streams within
 * {@code peerStreamAbortWindow}, naming the limit to the peer (its open streams are aborted with the text), in
 * its own log and to its observer; a peer that stays under the limit in every window is never closed; a client
 * does not count the server's aborts. Before the limit, nothing bounded a peer's aborts at all (the first test
 * failed: the connection stayed open).
 */
class PeerStreamAbortLimitTest extends TransportTest {
    static final int PROG = 0x52535431; // "RST1"
    /** Accepts, then reads until the client ends or aborts the stream. */
    static final Procedure HOLD = Procedure.of(PROG, 1, 1);
    /** Accepts, then aborts the stream at once (the server aborting the client's streams). */
    static final Procedure REFUSE = Procedure.of(PROG, 1, 2);
    static final Procedure PING = Procedure.of(PROG, 1, 3);
    /** A call that runs until the test lets it answer. */
    static final Procedure SLOW = Procedure.of(PROG, 1, 4);

    private final LogCapture log = new LogCapture();
    /** Server handlers that saw their stream end (aborted by the client, or closed). */
    private final AtomicInteger handlersEnded = new AtomicInteger();
    private final List<String> refusedLimits = new CopyOnWriteArrayList<>();
    private final java.util.concurrent.CountDownLatch slowMayAnswer = new java.util.concurrent.CountDownLatch(1);
    private final java.util.concurrent.CountDownLatch slowRunning = new java.util.concurrent.CountDownLatch(1);

    @BeforeEach
    void captureLog() {
        log.start();
    }

    @AfterEach
    void releaseLog() {
        log.stop();
    }

    private BraidServer server(final int maxAborts, final Duration window) {
        final BraidConfig cfg = config(true).maxPeerStreamAbortsPerWindow(maxAborts).peerStreamAbortWindow(window)
                .maxStreamOpensPerSecond(0) // this test is about the abort limit: the open rate (an abort costs ten
                // opens) made 250 open/aborts take 2.5 s a pairing (StreamOpenRateTest is about that one)
                .observer(new BraidObserver() {
                    @Override
                    public void limitRefused(final Peer connection, final Side side, final String limit,
                                             final long value, final String detail) {
                        refusedLimits.add(limit + "=" + value + ": " + detail);
                    }
                });
        return server(cfg, s -> s
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
                .stream(REFUSE, (call, stream) -> {
                    call.reply(new byte[0]);
                    stream.abort("refused by the handler");
                })
                .handle(PING, call -> call.reply(call.args()), HandlerMode.NON_BLOCKING)
                .handle(SLOW, call -> {
                    slowRunning.countDown();
                    try {
                        slowMayAnswer.await();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                    call.reply(new byte[0]); // after the close: dropped
                }, HandlerMode.BLOCKING));
    }

    /** Opens {@code n} streams and aborts each, then waits until the server's handlers saw every abort. */
    private void openAndAbort(final Connection c, final int n) {
        final int before = handlersEnded.get();
        for (int i = 0; i < n; i++) {
            c.openStream(HOLD, new byte[0]).abort("again");
        }
        Await.until("the server saw " + n + " aborts", () -> handlersEnded.get() >= before + n);
    }

    @Test
    void aPeerThatAbortsOneStreamMoreThanTheLimitIsClosedAndTheErrorNamesTheLimit() throws Exception {
        final BraidServer server = server(5, Duration.ofHours(1)); // the window never ends within the test
        final Connection c = connect(server);
        final Peer serverSide = onlyConnection(server);
        final BraidStream witness = c.openStream(HOLD, new byte[0]); // stays open: the peer reads the reason here
        final java.util.concurrent.CompletableFuture<dev.braid.Reply> running = c.callAsync(SLOW, new byte[0]); // and here
        assertThat(slowRunning.await(30, TimeUnit.SECONDS)).isTrue();
        openAndAbort(c, 5); // exactly the limit: still served
        assertThat(c.call(PING, new byte[] {7})).containsExactly(7);
        assertThat(c.isOpen()).isTrue();
        assertThat(refusedLimits).isEmpty();

        c.openStream(HOLD, new byte[0]).abort("one too many");

        final ConnectionClosedException serverReason = serverSide.closeFuture().get(30, TimeUnit.SECONDS);
        assertThat(serverReason.reason()).isEqualTo(ConnectionClosedException.Reason.PROTOCOL_ERROR);
        assertThat(serverReason.getMessage()).contains("the peer aborted 6 streams within")
                .contains("limit maxPeerStreamAbortsPerWindow = 5 per peerStreamAbortWindow = 3600000 ms");
        // the peer: its open stream was aborted with the reason before the connection closed
        final dev.braid.ConnectionStats clientAtServerClose = c.stats(); // diagnostics: CI once saw the nio
        // client read nothing for a keepalive interval here (the witness then failed with a reset)
        assertThatThrownBy(() -> witness.read(ByteBuffer.allocate(16)))
                .as(() -> "the witness stream; client stats when the server closed: " + clientAtServerClose
                        + "; after the read: " + c.stats())
                .isInstanceOfSatisfying(RemoteException.class,
                e -> assertThat(e.getMessage()).contains("aborted by the server: rapid stream aborts")
                        .contains("limit maxPeerStreamAbortsPerWindow = 5"));
        assertThat(running).failsWithin(30, TimeUnit.SECONDS).withThrowableOfType(
                        java.util.concurrent.ExecutionException.class).havingCause()
                .isInstanceOf(RemoteException.class).withMessageContaining("was not finished: the server closed the "
                        + "connection (rapid stream aborts").withMessageContaining("maxPeerStreamAbortsPerWindow = 5");
        c.closeFuture().get(30, TimeUnit.SECONDS);
        assertThat(c.isOpen()).isFalse();
        slowMayAnswer.countDown();
        // the server: one WARNING line on dev.braid.peer naming the limit, and the observer told
        Await.until("the close is logged", () -> !logged("maxPeerStreamAbortsPerWindow = 5").isEmpty());
        final List<LogRecord> lines = logged("maxPeerStreamAbortsPerWindow = 5");
        assertThat(lines).hasSize(1);
        assertThat(lines.get(0).getLevel()).isEqualTo(Level.WARNING);
        assertThat(lines.get(0).getLoggerName()).isEqualTo("dev.braid.peer");
        assertThat(lines.get(0).getMessage()).contains("protocol error");
        assertThat(refusedLimits).singleElement().asString().startsWith("maxPeerStreamAbortsPerWindow=5: ");
        // the server goes on: a new connection is served
        assertThat(connect(server).call(PING, new byte[] {9})).containsExactly(9);
        Await.until("every server handler ended", () -> handlersEnded.get() == 7);
    }

    @Test
    void aPeerThatStaysUnderTheLimitInEveryWindowIsNeverClosed() {
        final Duration window = Duration.ofMillis(200);
        final BraidServer server = server(3, window);
        final Connection c = connect(server);
        final Peer serverSide = onlyConnection(server);
        for (int round = 0; round < 4; round++) {
            openAndAbort(c, 3); // the limit in each window, 12 in all
            sleepPast(window); // the server saw the last abort: the next one is in a window of its own
        }
        assertThat(c.call(PING, new byte[] {1})).containsExactly(1);
        assertThat(c.isOpen()).isTrue();
        assertThat(serverSide.isOpen()).isTrue();
        assertThat(serverSide.stats().streamsAborted()).isEqualTo(12);
        assertThat(refusedLimits).isEmpty();
        assertThat(logged("maxPeerStreamAbortsPerWindow")).isEmpty();
    }

    @Test
    void zeroTurnsTheLimitOff() {
        final BraidServer server = server(0, Duration.ofHours(1));
        final Connection c = connect(server);
        openAndAbort(c, 250); // more than the default limit, in one window
        assertThat(c.call(PING, new byte[] {2})).containsExactly(2);
        assertThat(onlyConnection(server).isOpen()).isTrue();
        assertThat(refusedLimits).isEmpty();
    }

    /** Only a server counts: a client whose streams the server aborts (its own choice to open them) stays open. */
    @Test
    void aClientDoesNotCountTheServersAborts() {
        final BraidServer server = server(3, Duration.ofHours(1));
        final Connection c = connect(config(false).maxPeerStreamAbortsPerWindow(1).peerStreamAbortWindow(Duration.ofHours(1)),
                server);
        for (int i = 0; i < 5; i++) {
            final BraidStream s = c.openStream(REFUSE, new byte[0]);
            assertThatThrownBy(() -> s.read(ByteBuffer.allocate(16))).isInstanceOf(RemoteException.class)
                    .hasMessageContaining("refused by the handler");
        }
        assertThat(c.call(PING, new byte[] {3})).containsExactly(3);
        assertThat(c.isOpen()).isTrue();
        assertThat(onlyConnection(server).isOpen()).as("the server's own aborts are not the peer's").isTrue();
    }

    private List<LogRecord> logged(final String text) {
        return log.containing(text);
    }

    /** Lets more than {@code d} pass: the spacing between two windows' aborts is what this test is about. */
    private static void sleepPast(final Duration d) {
        try {
            Thread.sleep(d.toMillis() + 50);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}
