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
    static final ReconnectPolicy FAST = new ReconnectPolicy(Duration.ofMillis(5), Duration.ofMillis(100), 2.0, 0.5, 0);

    private final CountDownLatch gate = new CountDownLatch(1);
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
}
