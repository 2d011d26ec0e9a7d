package dev.braid.testsuite;

import dev.braid.BraidServer;
import dev.braid.Connection;
import dev.braid.ConnectionClosedException;
import dev.braid.Procedure;
import dev.braid.Reply;
import dev.braid.internal.wire.Extension;
import dev.braid.internal.wire.FrameHeader;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class KeepaliveTest extends TransportTest {
    static final Procedure ECHO = Procedure.of(0x5555, 1, 1);

    @Test
    void idleConnectionsStayUpBecauseBothSidesAnswerPings() throws Exception {
        final BraidServer server = server(config(true).keepaliveInterval(Duration.ofMillis(50)).keepaliveCount(2),
                s -> s.handle(ECHO, call -> call.reply(call.args())));
        final Connection c = connect(config(false).keepaliveInterval(Duration.ofMillis(50)).keepaliveCount(2), server);
        Thread.sleep(600); // many keepalive intervals with no calls at all
        assertThat(c.isOpen()).isTrue();
        assertThat(c.call(ECHO, new byte[]{1})).containsExactly(1);
    }

    /** Keepalive is not a call: with every call slot taken by slow calls, PINGs are still answered. */
    @Test
    void keepaliveNeverCountsAgainstTheCallLimit() throws Exception {
        final BraidServer server = server(config(true).maxOutstandingCalls(2)
                        .keepaliveInterval(Duration.ofMillis(50)).keepaliveCount(2),
                s -> s.handle(ECHO, call -> {
                    Thread.sleep(600); // twelve keepalive intervals with every slot busy
                    call.reply(call.args());
                }));
        final Connection c = connect(config(false).keepaliveInterval(Duration.ofMillis(50)).keepaliveCount(2), server);
        final CompletableFuture<Reply> a = c.callAsync(ECHO, new byte[]{1});
        final CompletableFuture<Reply> b = c.callAsync(ECHO, new byte[]{2});
        final CompletableFuture<Reply> queued = c.callAsync(ECHO, new byte[]{3});
        assertThat(c.stats().callsQueued()).isEqualTo(1);
        for (CompletableFuture<Reply> f : java.util.List.of(a, b, queued)) {
            f.get(10, TimeUnit.SECONDS).close();
        }
        assertThat(c.isOpen()).isTrue();
        assertThat(server.connections().get(0).stats().readSuspensions()).isZero();
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
