package dev.braid.testsuite;

import dev.braid.BraidException;
import dev.braid.BraidServer;
import dev.braid.BraidStream;
import dev.braid.CallOptions;
import dev.braid.Connection;
import dev.braid.ConnectionClosedException;
import dev.braid.DrainingException;
import dev.braid.HandlerMode;
import dev.braid.Procedure;
import dev.braid.RemoteException;
import dev.braid.ReplyHandler;
import dev.braid.StreamOptions;
import dev.braid.testing.Await;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Issue 14 §1: graceful drain of a server ({@code BraidServer.shutdown / awaitTermination / shutdownNow}) and
 * of a client connection ({@code Connection.shutdown}), with calls and streams in flight: nothing in flight
 * is lost, nothing is answered twice, new work is refused at once with a {@link DrainingException} (a
 * libvirt peer, without extensions, gets an ERROR reply naming the drain).
 */
class DrainTest extends TransportTest {
    static final int PROG = 0x44524e31; // "DRN1"
    static final Procedure ECHO = Procedure.of(PROG, 1, 1);
    /** Answers with its arguments once the test opens the gate. */
    static final Procedure GATED = Procedure.of(PROG, 1, 2);
    /** A stream: the server sends the requested number of bytes once the gate opens, then finishes. */
    static final Procedure DOWNLOAD = Procedure.of(PROG, 1, 3);
    static final int CALLS = 16;
    static final long STREAM_BYTES = 4L << 20;

    private final CountDownLatch gate = new CountDownLatch(1);
    private final AtomicInteger gatedRunning = new AtomicInteger();

    private BraidServer server(final dev.braid.BraidConfig config) {
        return server(config, b -> b
                .handle(ECHO, call -> call.reply(call.args()), HandlerMode.NON_BLOCKING)
                .handle(GATED, call -> {
                    gatedRunning.incrementAndGet();
                    try {
                        gate.await(60, TimeUnit.SECONDS);
                    } finally {
                        gatedRunning.decrementAndGet();
                    }
                    call.reply(call.args());
                })
                .stream(DOWNLOAD, (call, stream) -> {
                    final long total = call.args().getLong(0);
                    call.reply(new byte[0]);
                    gate.await(60, TimeUnit.SECONDS);
                    final ByteBuffer packet = ByteBuffer.allocate(64 << 10);
                    long sent = 0;
                    while (sent < total) {
                        packet.clear();
                        packet.putLong(0, sent);
                        stream.write(packet);
                        sent += packet.capacity();
                    }
                    stream.finish();
                }));
    }

    /** Counts each call's outcomes: exactly one per call, the reply carrying the call's own argument. */
    private static final class Outcomes implements ReplyHandler {
        final ConcurrentHashMap<Integer, Integer> perCall = new ConcurrentHashMap<>();
        final List<String> wrong = new CopyOnWriteArrayList<>();
        final List<BraidException> failures = new CopyOnWriteArrayList<>();
        final AtomicInteger replies = new AtomicInteger();

        @Override
        public void onReply(final Procedure procedure, final int serial, final ByteBuffer payload, final Object a) {
            if (perCall.merge((Integer) a, 1, Integer::sum) > 1) {
                wrong.add("call " + a + " answered twice");
            }
            if (payload.getInt(0) != (Integer) a) {
                wrong.add("call " + a + " got the reply of " + payload.getInt(0));
            }
            replies.incrementAndGet();
        }

        @Override
        public void onFailure(final Procedure procedure, final int serial, final BraidException error,
                              final Object a) {
            if (perCall.merge((Integer) a, 1, Integer::sum) > 1) {
                wrong.add("call " + a + " answered twice");
            }
            failures.add(error);
        }

        int outcomes() {
            return perCall.size();
        }
    }

    private static ByteBuffer intArg(final int v) {
        return ByteBuffer.allocate(4).putInt(0, v);
    }

    /**
     * Server drain with {@value #CALLS} calls and a 4 MiB stream in flight: the client learns of the drain
     * (DRAIN), a new call fails at once with a DrainingException, every call in flight is answered once
     * with its own reply, the stream delivers every byte and finishes, and then the connection closes
     * gracefully and awaitTermination returns true.
     */
    @Test
    void serverDrainWithCallsAndStreamsInFlightLosesNothing() throws Exception {
        final BraidServer server = server(config(true));
        final Connection c = connect(server);
        final Outcomes outcomes = new Outcomes();
        for (int i = 0; i < CALLS; i++) {
            c.callAsync(GATED, intArg(i), CallOptions.DEFAULT, outcomes, i);
        }
        final BraidStream s = c.openStream(DOWNLOAD, ByteBuffer.allocate(8).putLong(0, STREAM_BYTES),
                StreamOptions.DEFAULT);
        Await.until("every gated call runs on the server", () -> gatedRunning.get() == CALLS);

        server.shutdown();
        Await.until("the client heard the DRAIN", c::isDraining);
        assertThat(c.isOpen()).isTrue(); // work in flight: it stays open
        assertThatThrownBy(() -> c.call(ECHO, new byte[4], CallOptions.DEFAULT))
                .isInstanceOfSatisfying(DrainingException.class, e -> {
                    assertThat(e.refusedByServer()).isFalse();
                    assertThat(e.category()).isEqualTo(BraidException.Category.DRAINING);
                })
                .hasMessageContaining("draining").hasMessageContaining("the last call it serves is serial");
        assertThatThrownBy(() -> c.openStream(DOWNLOAD, ByteBuffer.allocate(8), StreamOptions.DEFAULT))
                .isInstanceOf(DrainingException.class);
        assertThat(server.awaitTermination(Duration.ZERO)).isFalse();

        gate.countDown();
        long received = 0;
        final ByteBuffer buf = ByteBuffer.allocate(64 << 10);
        int n;
        while ((n = s.read(buf.clear())) != BraidStream.EOF) {
            received += n;
        }
        s.finish();
        assertThat(received).isEqualTo(STREAM_BYTES);
        assertThat(server.awaitTermination(Duration.ofSeconds(30))).isTrue();
        final ConnectionClosedException why = c.closeFuture().get(30, TimeUnit.SECONDS);
        assertThat(why.reason()).isEqualTo(ConnectionClosedException.Reason.LOCAL_CLOSE);
        assertThat(why).hasMessageContaining("closed gracefully");
        Await.until("every call has its outcome", () -> outcomes.outcomes() == CALLS);
        assertThat(outcomes.wrong).isEmpty();
        assertThat(outcomes.failures).isEmpty();
        assertThat(outcomes.replies.get()).isEqualTo(CALLS);
        assertThat(c.stats().lateReplies()).isZero();
        assertThat(server.isTerminated()).isTrue();
    }

    /**
     * Calls racing with the drain: a client keeps calling while the server drains. Every call has exactly
     * one outcome: a reply (served before the drain) or a DrainingException (refused by the server, or by
     * the client once it heard the DRAIN); none is lost to the close, none answered twice.
     */
    @Test
    void callsRacingWithTheDrainAreAnsweredOrRefusedExactlyOnce() throws Exception {
        final BraidServer server = server(config(true));
        final Connection c = connect(server);
        final Outcomes outcomes = new Outcomes();
        final CompletableFuture<Integer> started = new CompletableFuture<>();
        final Thread caller = Thread.ofPlatform().name("drain-race-caller").start(() -> {
            int i = 0;
            try {
                while (true) {
                    c.callAsync(ECHO, intArg(i), CallOptions.DEFAULT, outcomes, i);
                    i++;
                    if (i == 200) {
                        server.shutdown(); // mid-stream of calls
                    }
                    if (i >= 20_000) { // bound: the client hears the DRAIN long before
                        break;
                    }
                }
            } catch (DrainingException expected) {
                // the client heard the DRAIN: new calls are refused at once
            } catch (RuntimeException e) {
                started.completeExceptionally(e);
                return;
            }
            started.complete(i);
        });
        final int issued = started.get(60, TimeUnit.SECONDS);
        caller.join();
        assertThat(server.awaitTermination(Duration.ofSeconds(30))).isTrue();
        c.closeFuture().get(30, TimeUnit.SECONDS);
        Await.until("every call issued has its outcome",
                () -> outcomes.replies.get() + outcomes.failures.size() == issued,
                () -> outcomes.replies.get() + " replies + " + outcomes.failures.size() + " failures of " + issued);
        assertThat(outcomes.outcomes()).isEqualTo(issued);
        assertThat(outcomes.wrong).isEmpty();
        assertThat(outcomes.failures).allSatisfy(e -> assertThat(e).isInstanceOf(DrainingException.class));
    }

    /**
     * A peer without braid's extensions (libvirt-compatible mode) gets no DRAIN message: a call in flight
     * is still answered, a new call gets an ERROR reply naming the drain (turned into a DrainingException
     * marked as refused by the server), and the server closes the connection once nothing is in flight.
     */
    @Test
    void aLibvirtPeerGetsErrorsNamingTheDrain() throws Exception {
        final BraidServer server = server(config(true));
        final Connection c = connect(config(false).extensions(false), server);
        final CompletableFuture<dev.braid.Reply> inFlight = c.callAsync(GATED, intArg(7), CallOptions.DEFAULT);
        Await.until("the gated call runs on the server", () -> gatedRunning.get() == 1);
        server.shutdown();
        final DrainingException refused = awaitRefusal(c);
        assertThat(refused.refusedByServer()).isTrue();
        assertThat(refused).hasMessageContaining("draining: the server is shutting down")
                .hasMessageContaining("was not executed").hasMessageContaining("retry it on another connection");
        gate.countDown();
        try (dev.braid.Reply r = inFlight.get(30, TimeUnit.SECONDS)) {
            assertThat(r.payload().getInt(0)).isEqualTo(7);
        }
        assertThat(server.awaitTermination(Duration.ofSeconds(30))).isTrue();
        c.closeFuture().get(30, TimeUnit.SECONDS);
    }

    /** Calls ECHO until one is refused by the drain (calls read before the drain began are served). */
    private static DrainingException awaitRefusal(final Connection c) {
        final DrainingException[] refused = new DrainingException[1];
        Await.until("a call is refused by the drain", () -> {
            try {
                c.call(ECHO, new byte[4], CallOptions.DEFAULT);
                return false;
            } catch (DrainingException e) {
                refused[0] = e;
                return true;
            }
        });
        return refused[0];
    }

    /**
     * A client's own drain: new calls fail at once (not sent), the call in flight is answered, and the
     * connection closes by itself after it; the server never drains.
     */
    @Test
    void aClientConnectionDrainsThenCloses() throws Exception {
        final BraidServer server = server(config(true));
        final Connection c = connect(server);
        final CompletableFuture<dev.braid.Reply> inFlight = c.callAsync(GATED, intArg(3), CallOptions.DEFAULT);
        Await.until("the gated call runs on the server", () -> gatedRunning.get() == 1);
        c.shutdown();
        assertThat(c.isDraining()).isTrue();
        assertThatThrownBy(() -> c.callAsync(ECHO, new byte[4]))
                .isInstanceOfSatisfying(DrainingException.class, e -> assertThat(e.refusedByServer()).isFalse())
                .hasMessageContaining("Connection.shutdown()");
        assertThat(c.awaitTermination(Duration.ZERO)).isFalse();
        gate.countDown();
        try (dev.braid.Reply r = inFlight.get(30, TimeUnit.SECONDS)) {
            assertThat(r.payload().getInt(0)).isEqualTo(3);
        }
        assertThat(c.awaitTermination(Duration.ofSeconds(30))).isTrue();
        assertThat(c.closeFuture().get().getMessage()).contains("closed gracefully");
        Await.until("the server saw the close", () -> server.connections().isEmpty());
        assertThat(server.isShutdown()).isFalse();
    }

    /**
     * shutdownNow after a drain that cannot finish: the call still running is answered with an ERROR
     * naming the shutdown (it may have partly executed), the open stream is aborted with it, and the
     * connection closes; the handler's own answer, later, goes nowhere.
     */
    @Test
    void shutdownNowEndsWhatIsLeftWithAReasonThePeerSees() throws Exception {
        final BraidServer server = server(config(true));
        final Connection c = connect(server);
        final CompletableFuture<dev.braid.Reply> stuck = c.callAsync(GATED, intArg(1), CallOptions.DEFAULT);
        final BraidStream s = c.openStream(DOWNLOAD, ByteBuffer.allocate(8).putLong(0, STREAM_BYTES),
                StreamOptions.DEFAULT);
        Await.until("the gated call runs on the server", () -> gatedRunning.get() == 1);
        server.shutdown();
        Await.until("the client heard the DRAIN", c::isDraining);
        assertThat(server.awaitTermination(Duration.ZERO)).isFalse();
        server.shutdownNow();
        assertThatThrownBy(() -> stuck.get(30, TimeUnit.SECONDS)).isInstanceOf(ExecutionException.class)
                .cause().isInstanceOf(RemoteException.class).hasMessageContaining("server shut down before call")
                .hasMessageContaining("may have partly executed");
        assertThatThrownBy(() -> {
            final ByteBuffer buf = ByteBuffer.allocate(64 << 10);
            while (s.read(buf.clear()) != BraidStream.EOF) {
                // drain what came
            }
        }).isInstanceOf(BraidException.class).hasMessageContaining("shutdownNow");
        assertThat(server.awaitTermination(Duration.ofSeconds(30))).isTrue();
        c.closeFuture().get(30, TimeUnit.SECONDS);
        gate.countDown(); // the handlers return; their answers are dropped quietly
        Await.until("the handlers returned", () -> gatedRunning.get() == 0);
    }

    @org.junit.jupiter.api.AfterEach
    void openTheGate() {
        gate.countDown(); // never leave a handler blocked (the leak check looks for braid's virtual threads)
    }
}
