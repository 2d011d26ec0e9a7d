package dev.braid.testsuite;

import dev.braid.BraidException;
import dev.braid.BraidServer;
import dev.braid.BraidStream;
import dev.braid.CallOptions;
import dev.braid.ConnectionClosedException;
import dev.braid.HandlerMode;
import dev.braid.Procedure;
import dev.braid.ReconnectPolicy;
import dev.braid.ReconnectingConnection;
import dev.braid.ReconnectingConnection.State;
import dev.braid.Reply;
import dev.braid.StreamOptions;
import dev.braid.testing.Await;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Issue 14 §2: a reconnecting connection under a killed server (the server closed, a new one started on the
 * same port): backoff and HELLO again, a state listener sees each transition, calls made while the
 * connection is down are sent on the new one, a call already sent fails saying it may have executed, an
 * open stream fails once, and event listeners stay registered.
 */
class ReconnectTest extends TransportTest {
    static final int PROG = 0x52434e31; // "RCN1"
    static final Procedure ECHO = Procedure.of(PROG, 1, 1);
    static final Procedure GATED = Procedure.of(PROG, 1, 2);
    static final Procedure DOWNLOAD = Procedure.of(PROG, 1, 3);
    static final Procedure EVENT = Procedure.of(PROG, 1, 4);
    /** Counts each id it executes (the first 4 bytes of the arguments) in {@link #executions}, then echoes. */
    static final Procedure COUNTED = Procedure.of(PROG, 1, 5);
    static final ReconnectPolicy FAST = new ReconnectPolicy(Duration.ofMillis(5), Duration.ofMillis(100), 2.0, 0.5, 0);

    private final CountDownLatch gate = new CountDownLatch(1);
    private final java.util.concurrent.ConcurrentHashMap<Integer, AtomicInteger> executions =
            new java.util.concurrent.ConcurrentHashMap<>();
    private final AtomicInteger gatedRunning = new AtomicInteger();
    /** When set, each new server connection is greeted with this event at once (before HELLO is answered). */
    private volatile Integer greeting;

    private BraidServer serverOn(final int port) {
        return serverOn(port, dev.braid.BraidConfig.DEFAULT_MAX_OUTSTANDING_CALLS);
    }

    private BraidServer serverOn(final int port, final int maxOutstandingCalls) {
        final BraidServer s = braid(config(true).maxOutstandingCalls(maxOutstandingCalls)).server()
                .onConnection(peer -> {
                    final Integer g = greeting;
                    if (g != null) {
                        peer.sendEvent(EVENT, ByteBuffer.allocate(4).putInt(0, g));
                    }
                })
                .handle(ECHO, call -> call.reply(call.args()), HandlerMode.NON_BLOCKING)
                .handle(COUNTED, call -> {
                    executions.computeIfAbsent(call.args().getInt(0), k -> new AtomicInteger()).incrementAndGet();
                    call.reply(call.args());
                }, HandlerMode.NON_BLOCKING)
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
                    call.reply(new byte[0]);
                    stream.write(ByteBuffer.allocate(1024));
                    gate.await(60, TimeUnit.SECONDS);
                    stream.finish();
                })
                .bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
        closeLater(s);
        return s;
    }

    /**
     * The new server on the killed one's port. The old listener's port may be held for a moment after its
     * close returns (a listening channel closed while its accept thread is inside accept() releases the port
     * only when that thread leaves it), so the bind is retried until it succeeds, as a restarting service would.
     */
    private BraidServer restartOn(final int port, final int maxOutstandingCalls) {
        final BraidServer[] s = new BraidServer[1];
        Await.until("the port is free again", () -> {
            try {
                s[0] = serverOn(port, maxOutstandingCalls);
                return true;
            } catch (BraidException e) {
                if (!String.valueOf(e.getMessage()).contains("Address already in use")) {
                    throw e;
                }
                return false;
            }
        });
        return s[0];
    }

    @AfterEach
    void openTheGate() {
        gate.countDown();
    }

    @Test
    void reconnectsToAServerRestartedOnTheSamePort() throws Exception {
        final BraidServer first = serverOn(0);
        final int port = first.address().getPort();
        final ReconnectingConnection c = braid(config(false)).connectReconnecting(first.address(), FAST);
        closeLater(c::abort);
        final List<String> transitions = new CopyOnWriteArrayList<>();
        c.addStateListener((from, to, cause) -> transitions.add(from + "->" + to));
        final List<Integer> events = new CopyOnWriteArrayList<>();
        c.onEvent(EVENT, e -> events.add(e.payload().getInt(0)));
        assertThat(c.call(ECHO, new byte[]{1, 2, 3})).containsExactly(1, 2, 3);
        onlyConnection(first).sendEvent(EVENT, ByteBuffer.allocate(4).putInt(0, 1));
        Await.until("the first event", () -> events.contains(1));

        final CompletableFuture<Reply> sent = c.callAsync(GATED, ByteBuffer.allocate(4), CallOptions.DEFAULT);
        final BraidStream stream = c.openStream(DOWNLOAD, ByteBuffer.allocate(0), StreamOptions.DEFAULT);
        Await.until("the gated call runs on the first server", () -> gatedRunning.get() == 1);

        first.close(); // the server is killed: its connections aborted, its port free
        assertThatThrownBy(() -> sent.get(30, TimeUnit.SECONDS)).isInstanceOf(ExecutionException.class).cause()
                .isInstanceOf(ConnectionClosedException.class).hasMessageContaining("it may have executed")
                .hasMessageContaining("not retried");
        assertThatThrownBy(() -> {
            final ByteBuffer buf = ByteBuffer.allocate(4096);
            while (stream.read(buf.clear()) != BraidStream.EOF) {
                // the first KiB, then the failure
            }
        }).isInstanceOf(BraidException.class);
        Await.until("reconnecting", () -> c.state() == State.RECONNECTING);
        assertThat(c.isOpen()).isTrue();

        // Made while no connection is up: waits, and goes out on the next connection.
        final CompletableFuture<Reply> parked = c.callAsync(ECHO, ByteBuffer.wrap(new byte[]{7}), CallOptions.DEFAULT);
        final BraidServer second = restartOn(port, dev.braid.BraidConfig.DEFAULT_MAX_OUTSTANDING_CALLS);
        try (Reply r = parked.get(30, TimeUnit.SECONDS)) {
            assertThat(r.toByteArray()).containsExactly(7);
        }
        Await.until("connected again", () -> c.state() == State.CONNECTED);
        assertThat(c.reconnects()).isEqualTo(1);
        assertThat(c.extensionsNegotiated()).isTrue(); // HELLO again
        assertThat(c.call(ECHO, new byte[]{9})).containsExactly(9);
        onlyConnection(second).sendEvent(EVENT, ByteBuffer.allocate(4).putInt(0, 2));
        Await.until("the listener, registered once, hears the new server", () -> events.contains(2));
        Await.until("both transitions reported", () -> transitions.size() == 2, transitions::toString);
        assertThat(transitions).containsExactly("CONNECTED->RECONNECTING", "RECONNECTING->CONNECTED");

        c.close();
        assertThat(c.state()).isEqualTo(State.CLOSED);
        assertThat(c.closeFuture().get(30, TimeUnit.SECONDS).getMessage()).contains("closed");
        assertThatThrownBy(() -> c.call(ECHO, new byte[1])).isInstanceOf(ConnectionClosedException.class);
    }

    /**
     * An event the new server sends the moment the connection opens, before the HELLO is done, reaches the
     * listener registered once on the reconnecting connection: the listeners are on each new connection before
     * its socket opens. (They were added only once the connection was up, and such an event was dropped.)
     */
    @Test
    void anEventSentAsTheNewConnectionOpensReachesTheListener() throws Exception {
        final BraidServer first = serverOn(0);
        final int port = first.address().getPort();
        final ReconnectingConnection c = braid(config(false)).connectReconnecting(first.address(), FAST);
        closeLater(c::abort);
        final List<Integer> events = new CopyOnWriteArrayList<>();
        c.onEvent(EVENT, e -> events.add(e.payload().getInt(0)));
        greeting = 42;
        first.close();
        restartOn(port, dev.braid.BraidConfig.DEFAULT_MAX_OUTSTANDING_CALLS);
        Await.until("connected again", () -> c.reconnects() == 1 && c.state() == State.CONNECTED, c::state);
        assertThat(c.call(ECHO, new byte[]{1})).containsExactly(1); // anything sent before this reply has arrived
        Await.until("the greeting of the new server", () -> events.contains(42), events::toString);
    }

    /**
     * A call still waiting for a call slot when the connection is lost was never written: it goes out on the
     * next connection and succeeds; the call that held the slot was written and fails saying it may have
     * executed. (The server allows one outstanding call, so the second one waits in the client's queue.)
     */
    @Test
    void aCallThatWaitedForASlotIsSentOnTheNextConnection() throws Exception {
        final BraidServer first = serverOn(0, 1);
        final int port = first.address().getPort();
        final ReconnectingConnection c = braid(config(false)).connectReconnecting(first.address(), FAST);
        closeLater(c::abort);
        final CompletableFuture<Reply> holder = c.callAsync(GATED, ByteBuffer.allocate(4), CallOptions.DEFAULT);
        Await.until("the gated call holds the only slot", () -> gatedRunning.get() == 1);
        final CompletableFuture<Reply> queued = c.callAsync(ECHO, ByteBuffer.wrap(new byte[]{5}), CallOptions.DEFAULT);
        assertThat(c.stats().callsQueued()).isEqualTo(1);
        first.close();
        assertThatThrownBy(() -> holder.get(30, TimeUnit.SECONDS)).cause().hasMessageContaining("it may have executed");
        assertThat(queued).isNotDone();
        restartOn(port, 1);
        try (Reply r = queued.get(30, TimeUnit.SECONDS)) {
            assertThat(r.toByteArray()).containsExactly(5);
        }
        assertThat(c.reconnects()).isEqualTo(1);
    }

    /** A server that never comes back: after maxAttempts the connection closes for good and parked calls fail (not sent). */
    @Test
    void givesUpAfterMaxAttemptsAndFailsWhatWaited() throws Exception {
        final BraidServer only = serverOn(0);
        final ReconnectingConnection c = braid(config(false)).connectReconnecting(only.address(),
                new ReconnectPolicy(Duration.ofMillis(5), Duration.ofMillis(20), 2.0, 0.0, 3));
        closeLater(c::abort);
        final List<String> transitions = new CopyOnWriteArrayList<>();
        c.addStateListener((from, to, cause) -> transitions.add(from + "->" + to));
        only.close();
        Await.until("reconnecting", () -> c.state() != State.CONNECTED);
        final CompletableFuture<Reply> waiting = c.callAsync(ECHO, ByteBuffer.allocate(1), CallOptions.DEFAULT);
        final ConnectionClosedException why = c.closeFuture().get(30, TimeUnit.SECONDS);
        assertThat(why).hasMessageContaining("gave up reconnecting").hasMessageContaining("after 3 attempts");
        assertThat(c.state()).isEqualTo(State.CLOSED);
        assertThatThrownBy(() -> waiting.get(30, TimeUnit.SECONDS)).cause()
                .isInstanceOfSatisfying(ConnectionClosedException.class, e -> assertThat(e.callNotSent()).isTrue());
        Await.until("both transitions reported", () -> transitions.size() == 2, transitions::toString);
        assertThat(transitions).containsExactly("CONNECTED->RECONNECTING", "RECONNECTING->CLOSED");
    }

    /** A call waiting for the connection to come back times out by its own timeout, unsent. */
    @Test
    void aCallWaitingForTheConnectionTimesOut() throws Exception {
        final BraidServer only = serverOn(0);
        final ReconnectingConnection c = braid(config(false)).connectReconnecting(only.address(), FAST);
        closeLater(c::abort);
        only.close();
        Await.until("reconnecting", () -> c.state() == State.RECONNECTING);
        final CompletableFuture<Reply> waiting = c.callAsync(ECHO, ByteBuffer.allocate(1),
                new CallOptions(Duration.ofMillis(50)));
        assertThatThrownBy(() -> waiting.get(30, TimeUnit.SECONDS)).cause().isInstanceOf(BraidException.class)
                .hasMessageContaining("timed out after 50 ms waiting for the connection").hasMessageContaining("not sent");
        c.abort();
        assertThat(c.state()).isEqualTo(State.CLOSED);
    }

    /** A port nothing listens on (a server bound and closed: nothing else binds loopback ports here). */
    private int freePort() throws Exception {
        try (java.net.ServerSocket probe = new java.net.ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return probe.getLocalPort();
        }
    }

    /** By default the first connection is not retried: a server that is down is reported at once, saying how to wait for it. */
    @Test
    void withoutRetryFirstConnectAServerThatIsDownFailsAtOnceSayingHowToWait() throws Exception {
        final InetSocketAddress nobody = new InetSocketAddress(InetAddress.getLoopbackAddress(), freePort());
        assertThatThrownBy(() -> braid(config(false)).connectReconnecting(nobody, FAST))
                .isInstanceOf(BraidException.class).hasMessageContaining("cannot connect")
                .hasMessageContaining("ReconnectPolicy.retryFirstConnect");
    }

    /**
     * With retryFirstConnect, a client started before its server returns at once, its calls (blocking and
     * not) wait, and go out on the first connection once the server is up; nothing before it pretends to be a
     * connection (no limits; the target as remote address; zero counters).
     */
    @Test
    void retryFirstConnectWaitsForAServerThatStartsLater() throws Exception {
        final int port = freePort();
        final InetSocketAddress target = new InetSocketAddress(InetAddress.getLoopbackAddress(), port);
        final ReconnectingConnection c = braid(config(false)).connectReconnecting(target,
                FAST.withRetryFirstConnect(true));
        closeLater(c::abort);
        final List<String> transitions = new CopyOnWriteArrayList<>();
        c.addStateListener((from, to, cause) -> transitions.add(from + "->" + to));
        assertThat(c.state()).isEqualTo(State.RECONNECTING);
        assertThat(c.isOpen()).isTrue();
        assertThat(c.remoteAddress()).isEqualTo(target);
        assertThat(c.stats().callsStarted()).isZero();
        assertThat(c.extensionsNegotiated()).isFalse();
        assertThatThrownBy(c::limits).isInstanceOf(IllegalStateException.class).hasMessageContaining("no connection");
        final CompletableFuture<Reply> async = c.callAsync(ECHO, ByteBuffer.wrap(new byte[]{4}), CallOptions.DEFAULT);
        final CompletableFuture<Integer> blocking = CompletableFuture.supplyAsync(() -> {
            final ByteBuffer reply = ByteBuffer.allocate(8);
            c.call(ECHO, ByteBuffer.wrap(new byte[]{5, 6}), reply, CallOptions.DEFAULT);
            return reply.flip().remaining() == 2 ? reply.get(1) & 0xff : -1;
        });
        restartOn(port, dev.braid.BraidConfig.DEFAULT_MAX_OUTSTANDING_CALLS); // the server starts late
        try (Reply r = async.get(30, TimeUnit.SECONDS)) {
            assertThat(r.toByteArray()).containsExactly(4);
        }
        assertThat(blocking.get(30, TimeUnit.SECONDS)).isEqualTo(6);
        Await.until("connected", () -> c.state() == State.CONNECTED);
        assertThat(c.reconnects()).isZero(); // the first connection is not a reconnection
        assertThat(c.limits()).isNotNull();
        Await.until("the transition reported", () -> transitions.size() == 1, transitions::toString);
        assertThat(transitions).containsExactly("RECONNECTING->CONNECTED");
    }

    /** retryFirstConnect with maxAttempts: a server that never starts closes the connection; what waited fails, not sent. */
    @Test
    void retryFirstConnectGivesUpAfterMaxAttempts() throws Exception {
        final InetSocketAddress nobody = new InetSocketAddress(InetAddress.getLoopbackAddress(), freePort());
        final ReconnectingConnection c = braid(config(false)).connectReconnecting(nobody,
                new ReconnectPolicy(Duration.ofMillis(5), Duration.ofMillis(20), 2.0, 0.0, 3, true));
        closeLater(c::abort);
        final CompletableFuture<Integer> blocking = CompletableFuture.supplyAsync(
                () -> c.call(ECHO, ByteBuffer.allocate(1), ByteBuffer.allocate(8), CallOptions.DEFAULT));
        final ConnectionClosedException why = c.closeFuture().get(30, TimeUnit.SECONDS);
        assertThat(why).hasMessageContaining("gave up connecting").hasMessageContaining("after 3 attempts");
        assertThat(c.state()).isEqualTo(State.CLOSED);
        assertThatThrownBy(() -> blocking.get(30, TimeUnit.SECONDS)).cause()
                .isInstanceOfSatisfying(ConnectionClosedException.class, e -> assertThat(e.callNotSent()).isTrue());
    }

    /**
     * Calls racing a server killed and restarted three times, from four threads (blocking calls into a buffer,
     * typed blocking calls and async calls): each call either returns (the server executed it exactly once),
     * or fails saying it may have executed (executed at most once), or fails unsent (never executed); none is
     * executed twice, none is left without an outcome.
     */
    @Test
    void callsRacingReconnectionsAreSentOnceOrFailSayingTheyMayHaveExecuted() throws Exception {
        final BraidServer first = serverOn(0);
        final int port = first.address().getPort();
        final ReconnectingConnection c = braid(config(false)).connectReconnecting(first.address(), FAST);
        closeLater(c::abort);
        final java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
        final java.util.concurrent.atomic.AtomicInteger ids = new java.util.concurrent.atomic.AtomicInteger();
        final java.util.concurrent.ConcurrentHashMap<Integer, String> outcomes = new java.util.concurrent.ConcurrentHashMap<>();
        final CallOptions options = new CallOptions(Duration.ofSeconds(30));
        final dev.braid.ProcedureDescriptor<Integer, Integer> typed = dev.braid.ProcedureDescriptor.of(COUNTED,
                dev.braid.xdr.XdrCodec.INT, dev.braid.xdr.XdrCodec.INT);
        final List<CompletableFuture<Void>> workers = new java.util.ArrayList<>();
        for (int w = 0; w < 4; w++) {
            final int kind = w % 3;
            workers.add(CompletableFuture.runAsync(() -> {
                final ByteBuffer args = ByteBuffer.allocate(4);
                final ByteBuffer reply = ByteBuffer.allocate(16);
                for (int n = 0; n < 20_000 && !stop.get(); n++) {
                    final int id = ids.incrementAndGet();
                    String outcome;
                    try {
                        if (kind == 0) {
                            c.call(COUNTED, args.clear().putInt(0, id), reply.clear(), options);
                            outcome = reply.getInt(0) == id ? "ok" : "wrong reply";
                        } else if (kind == 1) {
                            outcome = c.call(typed, id, options) == id ? "ok" : "wrong reply";
                        } else {
                            try (Reply r = c.callAsync(COUNTED, ByteBuffer.allocate(4).putInt(0, id), options)
                                    .get(60, TimeUnit.SECONDS)) {
                                outcome = r.payload().getInt(0) == id ? "ok" : "wrong reply";
                            }
                        }
                    } catch (ExecutionException e) {
                        outcome = classify(e.getCause());
                    } catch (Exception e) {
                        outcome = classify(e);
                    }
                    outcomes.put(id, outcome);
                }
            }));
        }
        BraidServer server = first;
        for (int restart = 0; restart < 3; restart++) {
            final int before = ids.get();
            Await.until("calls flow", () -> ids.get() > before + 50);
            server.close(); // killed mid-traffic
            server = restartOn(port, dev.braid.BraidConfig.DEFAULT_MAX_OUTSTANDING_CALLS);
        }
        final int before = ids.get();
        Await.until("calls flow on the last server", () -> ids.get() > before + 50);
        stop.set(true);
        CompletableFuture.allOf(workers.toArray(CompletableFuture[]::new)).get(120, TimeUnit.SECONDS);
        assertThat(c.reconnects()).isEqualTo(3);
        assertThat(outcomes).hasSize(ids.get()); // every call has an outcome
        final java.util.Map<String, Integer> tally = new java.util.TreeMap<>();
        outcomes.forEach((id, outcome) -> {
            tally.merge(outcome, 1, Integer::sum);
            final AtomicInteger ran = executions.get(id);
            final int times = ran == null ? 0 : ran.get();
            switch (outcome) {
                case "ok" -> assertThat(times).as("call %d answered", id).isEqualTo(1);
                case "may have executed" -> assertThat(times).as("call %d may have executed", id).isLessThanOrEqualTo(1);
                case "not sent" -> assertThat(times).as("call %d not sent", id).isZero();
                default -> throw new AssertionError("call " + id + ": " + outcome);
            }
        });
        assertThat(tally.get("ok")).isGreaterThan(200);
    }

    private static String classify(final Throwable e) {
        if (e instanceof ConnectionClosedException cce && cce.getMessage().contains("it may have executed")) {
            return "may have executed";
        }
        if (e instanceof ConnectionClosedException cce && cce.callNotSent()) {
            return "not sent";
        }
        return "unexpected: " + e;
    }
}
