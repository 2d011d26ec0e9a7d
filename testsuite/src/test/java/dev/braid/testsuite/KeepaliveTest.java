package dev.braid.testsuite;

import dev.braid.BraidServer;
import dev.braid.Connection;
import dev.braid.ConnectionClosedException;
import dev.braid.Peer;
import dev.braid.Procedure;
import dev.braid.Reply;
import dev.braid.internal.wire.Extension;
import dev.braid.internal.wire.FrameHeader;
import dev.braid.testing.Await;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class KeepaliveTest extends TransportTest {
    static final Procedure ECHO = Procedure.of(0x5555, 1, 1);

    /**
     * The keepalive used where a connection must stay up: a PING every 50 ms of silence, and the connection
     * closes only after 20 in a row go unanswered, about a second with nothing received at all. So a loaded
     * machine (a starved I/O thread, a GC pause) cannot close a healthy connection, and PINGs still come
     * often enough to see many of them answered in a test.
     */
    static final Duration INTERVAL = Duration.ofMillis(50);
    static final int COUNT = 20;
    /** Every keepalive frame is a bare header: PING and PONG carry no payload. */
    static final int KEEPALIVE_FRAME = FrameHeader.HEADER_LENGTH;

    /**
     * Each side answers the other's PINGs, so an idle connection stays up: more PINGs are answered than the
     * keepalive count, so a side that did not answer, or whose count an answer did not reset, would have
     * closed the connection. One connection per direction, with keepalive on at the pinging side only, so
     * every byte the pinging side reads is a PONG and every byte it writes a PING.
     */
    @Test
    void idleConnectionsStayUpBecauseBothSidesAnswerPings() throws Exception {
        final BraidServer answering = server(config(true).keepaliveInterval(Duration.ZERO),
                s -> s.handle(ECHO, call -> call.reply(call.args())));
        final Connection clientPings = connect(config(false).keepaliveInterval(INTERVAL).keepaliveCount(COUNT), answering);
        final BraidServer pinging = server(config(true).keepaliveInterval(INTERVAL).keepaliveCount(COUNT),
                s -> s.handle(ECHO, call -> call.reply(call.args())));
        final Connection clientAnswers = connect(config(false).keepaliveInterval(Duration.ZERO), pinging);
        final Peer serverPings = onlyConnection(pinging);
        final KeepaliveTraffic clientSide = new KeepaliveTraffic("client", clientPings);
        final KeepaliveTraffic serverSide = new KeepaliveTraffic("server", serverPings);
        Await.until("both sides had " + (COUNT + 1) + " PINGs answered, the connections open",
                () -> clientSide.answered() > COUNT & serverSide.answered() > COUNT,
                () -> clientSide + ", " + serverSide);
        assertThat(clientPings.call(ECHO, new byte[]{1})).containsExactly(1);
        assertThat(clientAnswers.call(ECHO, new byte[]{2})).containsExactly(2);
    }

    /** Keepalive is not a call: with every call slot taken by calls that do not end, PINGs are still answered. */
    @Test
    void keepaliveNeverCountsAgainstTheCallLimit() throws Exception {
        final CountDownLatch entered = new CountDownLatch(2);
        final CountDownLatch release = new CountDownLatch(1);
        final BraidServer server = server(config(true).maxOutstandingCalls(2).keepaliveInterval(Duration.ZERO),
                s -> s.handle(ECHO, call -> {
                    entered.countDown();
                    release.await();
                    call.reply(call.args());
                }));
        final Connection c = connect(config(false).keepaliveInterval(INTERVAL).keepaliveCount(COUNT), server);
        final CompletableFuture<Reply> a = c.callAsync(ECHO, new byte[]{1});
        final CompletableFuture<Reply> b = c.callAsync(ECHO, new byte[]{2});
        final CompletableFuture<Reply> queued = c.callAsync(ECHO, new byte[]{3});
        assertThat(c.stats().callsQueued()).isEqualTo(1);
        assertThat(entered.await(30, TimeUnit.SECONDS)).as("both slots busy at the server").isTrue();
        // From here until the release only PINGs leave the client and only PONGs reach it. A server that did
        // not answer them while its slots are busy would have the client close the connection after COUNT.
        final KeepaliveTraffic pings = new KeepaliveTraffic("client", c);
        Await.until("the client had 3 PINGs answered while every call slot was busy", () -> pings.answered() >= 3,
                pings::toString);
        release.countDown();
        for (CompletableFuture<Reply> f : java.util.List.of(a, b, queued)) {
            f.get(30, TimeUnit.SECONDS).close();
        }
        assertThat(c.isOpen()).isTrue();
        assertThat(onlyConnection(server).stats().readSuspensions()).isZero();
    }

    /**
     * The keepalive frames one side sent and received since this was made, while nothing else moves on its
     * connection: {@link #answered()} fails at once if the connection closed.
     */
    private static final class KeepaliveTraffic {
        private final String side;
        private final Peer peer;
        private final long read0;
        private final long written0;

        KeepaliveTraffic(final String side, final Peer peer) {
            this.side = side;
            this.peer = peer;
            final dev.braid.ConnectionStats s = peer.stats();
            this.read0 = s.bytesRead();
            this.written0 = s.bytesWritten();
        }

        /** PONGs received (each answers one PING); fails if the connection closed. */
        long answered() {
            assertThat(peer.isOpen()).as("%s's connection, closed by %s (%s)", side,
                    peer.closeFuture().getNow(null), this).isTrue();
            return (peer.stats().bytesRead() - read0) / KEEPALIVE_FRAME;
        }

        @Override
        public String toString() {
            final dev.braid.ConnectionStats s = peer.stats();
            return side + ": " + (s.bytesWritten() - written0) / KEEPALIVE_FRAME + " PINGs sent, "
                    + (s.bytesRead() - read0) / KEEPALIVE_FRAME + " PONGs received";
        }
    }


    /** A peer that accepts our bytes but never answers: keepalive detects it and fails the pending calls. */
    @Test
    void aPeerThatStopsAnsweringIsDetectedAndItsCallsFail() throws Exception {
        try (ScriptedServer silent = new ScriptedServer()) {
            final CompletableFuture<Connection> connecting = braid(config(false)
                    .keepaliveInterval(Duration.ofMillis(50)).keepaliveCount(3)).connectAsync(silent.address());
            final ByteBuffer hello = silent.readFrame();
            final ByteBuffer mine = ByteBuffer.allocate(Extension.HELLO_LENGTH);
            new Extension.Hello(1, 0, 1 << 20, 64, 8, 1 << 20).encode(mine);
            silent.write(ScriptedServer.frame(Extension.PROGRAM, 1, Extension.PROC_HELLO, FrameHeader.TYPE_REPLY,
                    hello.getInt(FrameHeader.SERIAL_OFFSET), FrameHeader.STATUS_OK, mine.array()));
            final Connection c = connecting.get(10, TimeUnit.SECONDS);
            closeLater(c::abort);
            final CompletableFuture<Reply> pending = c.callAsync(ECHO, new byte[]{1});
            // The peer reads everything (so TCP is healthy) and answers nothing.
            final LinkedBlockingQueue<ByteBuffer> seen = new LinkedBlockingQueue<>();
            final ByteBuffer ping = silent.readFrame(FrameHeader.TYPE_MESSAGE, Extension.KEEPALIVE_PROGRAM, seen);
            assertThat(ping.getInt(FrameHeader.PROC_OFFSET)).isEqualTo(Extension.KEEPALIVE_PING);
            assertThat(ping.getInt(FrameHeader.SERIAL_OFFSET)).isZero();
            final Thread drain = Thread.ofVirtual().start(() -> {
                try {
                    while (true) {
                        silent.readFrame();
                    }
                } catch (Exception e) {
                    // connection closed by the client: expected
                }
            });
            assertThatThrownBy(() -> pending.get(10, TimeUnit.SECONDS)).isInstanceOf(ExecutionException.class)
                    .cause().isInstanceOfSatisfying(ConnectionClosedException.class, e -> {
                        assertThat(e.reason()).isEqualTo(ConnectionClosedException.Reason.PEER_NOT_RESPONDING);
                        assertThat(e.getMessage()).contains("3 keepalive PINGs");
                    });
            assertThat(c.isOpen()).isFalse();
            drain.join(10_000);
        }
    }

    /** braid answers a libvirt peer's PING with a PONG, whatever its own keepalive settings. */
    @Test
    void pingsFromThePeerAreAnsweredWithPongs() throws Exception {
        try (ScriptedServer peer = new ScriptedServer()) {
            final CompletableFuture<Connection> connecting = braid(config(false).keepaliveInterval(Duration.ZERO))
                    .connectAsync(peer.address());
            final ByteBuffer hello = peer.readFrame();
            peer.write(ScriptedServer.frame(Extension.PROGRAM, 1, Extension.PROC_HELLO, FrameHeader.TYPE_REPLY,
                    hello.getInt(FrameHeader.SERIAL_OFFSET), FrameHeader.STATUS_ERROR, errorPayload()));
            closeLater(connecting.get(10, TimeUnit.SECONDS)::abort);
            peer.write(ScriptedServer.frame(Extension.KEEPALIVE_PROGRAM, 1, Extension.KEEPALIVE_PING,
                    FrameHeader.TYPE_MESSAGE, 0, FrameHeader.STATUS_OK, new byte[0]));
            final ByteBuffer pong = peer.readFrame();
            assertThat(pong.getInt(FrameHeader.PROG_OFFSET)).isEqualTo(Extension.KEEPALIVE_PROGRAM);
            assertThat(pong.getInt(FrameHeader.PROC_OFFSET)).isEqualTo(Extension.KEEPALIVE_PONG);
            assertThat(pong.getInt(FrameHeader.TYPE_OFFSET)).isEqualTo(FrameHeader.TYPE_MESSAGE);
            assertThat(pong.getInt(FrameHeader.LENGTH_OFFSET)).isEqualTo(FrameHeader.HEADER_LENGTH);
        }
    }

    private static byte[] errorPayload() {
        final dev.braid.RemoteError e = dev.braid.RemoteError.of(39, 7, "no such program");
        final ByteBuffer b = ByteBuffer.allocate(dev.braid.internal.wire.RemoteErrorCodec.encodedSize(e));
        dev.braid.internal.wire.RemoteErrorCodec.encode(e, b);
        return b.array();
    }
}
