package dev.braid.testsuite;

import dev.braid.BraidServer;
import dev.braid.Connection;
import dev.braid.Procedure;
import dev.braid.RemoteError;
import dev.braid.internal.wire.Extension;
import dev.braid.internal.wire.FrameHeader;
import dev.braid.internal.wire.RemoteErrorCodec;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class HelloTest extends TransportTest {
    static final Procedure ECHO = Procedure.of(0x20008086, 1, 1);

    @Test
    void helloNegotiatesTheSmallerMessageLimitAndTheServersCallLimit() {
        final BraidServer server = server(config(true).maxMessageSize(1 << 20).maxOutstandingCalls(17)
                        .maxConcurrentStreams(9).initialStreamWindow(1 << 19),
                s -> s.handle(ECHO, call -> call.reply(call.args())));
        final Connection c = connect(config(false).maxMessageSize(2 << 20), server);
        assertThat(c.extensionsNegotiated()).isTrue();
        assertThat(c.limits().protocolVersion()).isEqualTo(Extension.PROTOCOL_VERSION);
        assertThat(c.limits().maxMessageSize()).isEqualTo(1 << 20);
        assertThat(c.limits().maxOutstandingCalls()).isEqualTo(17);
        assertThat(c.limits().maxConcurrentStreams()).isEqualTo(9);
        assertThat(c.limits().initialStreamWindow()).isEqualTo(1 << 19);
        assertThat(c.call(ECHO, new byte[]{5})).containsExactly(5);
        assertThat(server.connections().get(0).stats().extensionsNegotiated()).isTrue();
    }

    @Test
    void aServerWithoutExtensionsRefusesHelloAndTheClientFallsBackToLibvirtMode() {
        final BraidServer server = server(config(true).extensions(false),
                s -> s.handle(ECHO, call -> call.reply(call.args())));
        final Connection c = connect(config(false).maxOutstandingCalls(33), server);
        assertThat(c.extensionsNegotiated()).isFalse();
        assertThat(c.limits().protocolVersion()).isZero();
        assertThat(c.limits().maxOutstandingCalls()).isEqualTo(33);
        assertThat(c.call(ECHO, new byte[]{1, 2})).containsExactly(1, 2);
        assertThat(server.connections().get(0).stats().extensionsNegotiated()).isFalse();
    }

    @Test
    void aClientWithoutExtensionsSendsNoHello() {
        final BraidServer server = server(s -> s.handle(ECHO, call -> call.reply(call.args())));
        final Connection c = connect(config(false).extensions(false), server);
        assertThat(c.extensionsNegotiated()).isFalse();
        assertThat(c.call(ECHO, new byte[]{3})).containsExactly(3);
        assertThat(server.connections().get(0).stats().extensionsNegotiated()).isFalse();
    }

    /** An interrupted connect leaves nothing open behind the caller. */
    @Test
    void anInterruptedConnectClosesItsConnection() throws Exception {
        try (ScriptedServer silent = new ScriptedServer()) {
            final dev.braid.Braid client = clientBraid();
            final CompletableFuture<Throwable> outcome = new CompletableFuture<>();
            final Thread t = Thread.ofPlatform().start(() -> {
                try {
                    client.connect(silent.address());
                    outcome.complete(null);
                } catch (Throwable e) {
                    outcome.complete(e);
                }
            });
            silent.readFrame(); // the HELLO, never answered
            t.interrupt();
            assertThat(outcome.get(10, TimeUnit.SECONDS)).isInstanceOfSatisfying(dev.braid.BraidException.class,
                    e -> assertThat(e.category()).isEqualTo(dev.braid.BraidException.Category.CANCELLED));
            // the client closed its socket: the server's next read ends
            assertThatThrownBy(silent::readFrame).isInstanceOf(java.io.IOException.class);
        }
    }

    /** A plain libvirt daemon answers the unknown HELLO program with an ERROR reply; braid carries on. */
    @Test
    void aPlainLibvirtPeerAnsweringHelloWithAnErrorIsSpokenToInCompatibleMode() throws Exception {
        try (ScriptedServer libvirtd = new ScriptedServer()) {
            final CompletableFuture<Connection> connecting = clientBraid().connectAsync(libvirtd.address());
            final ByteBuffer hello = libvirtd.readFrame();
            assertThat(hello.getInt(FrameHeader.PROG_OFFSET)).isEqualTo(Extension.PROGRAM);
            assertThat(hello.getInt(FrameHeader.TYPE_OFFSET)).isEqualTo(FrameHeader.TYPE_CALL);
            final int helloSerial = hello.getInt(FrameHeader.SERIAL_OFFSET);
            final RemoteError refusal = RemoteError.of(RemoteError.VIR_ERR_RPC, RemoteError.VIR_FROM_RPC,
                    "Cannot find program 1651665252 version 1");
            final ByteBuffer err = ByteBuffer.allocate(RemoteErrorCodec.encodedSize(refusal));
            RemoteErrorCodec.encode(refusal, err);
            libvirtd.write(ScriptedServer.frame(Extension.PROGRAM, 1, Extension.PROC_HELLO, FrameHeader.TYPE_REPLY,
                    helloSerial, FrameHeader.STATUS_ERROR, err.array()));
            final Connection c = connecting.get(10, TimeUnit.SECONDS);
            closeLater(c::abort);
            assertThat(c.extensionsNegotiated()).isFalse();

            final CompletableFuture<byte[]> answer = CompletableFuture.supplyAsync(() -> c.call(ECHO, new byte[]{9}));
            final ByteBuffer call = libvirtd.readFrame();
            assertThat(call.getInt(FrameHeader.PROG_OFFSET)).isEqualTo(0x20008086);
            assertThat(call.getInt(FrameHeader.SERIAL_OFFSET)).isEqualTo(helloSerial + 1);
            libvirtd.write(ScriptedServer.frame(0x20008086, 1, 1, FrameHeader.TYPE_REPLY,
                    call.getInt(FrameHeader.SERIAL_OFFSET), FrameHeader.STATUS_OK, new byte[]{4, 2}));
            assertThat(answer.get(10, TimeUnit.SECONDS)).containsExactly(4, 2);
        }
    }

    /**
     * Issue 10 §1.3: each stream packet costs at least 512 bytes of window, so a peer advertising less would
     * stall every stream for good. The server refuses such a HELLO with an error naming the minimum; the
     * boundary, 512, is accepted.
     */
    @Test
    void aHelloWithAWindowThatCannotCarryAPacketIsRefused() throws Exception {
        final BraidServer server = server(b -> b.handle(ECHO, call -> call.reply(call.args())));
        for (int window : new int[]{1, 511, 512}) {
            final RawPeer peer = closeLater(RawPeer.connect(server.address()));
            peer.send(RawPeer.frame(Extension.PROGRAM, Extension.VERSION, Extension.PROC_HELLO, FrameHeader.TYPE_CALL,
                    1, FrameHeader.STATUS_OK, RawPeer.hello(1, Extension.SUPPORTED_FEATURES, 1 << 20, 16, 16, window)));
            final RawPeer.Frame reply = peer.readFrame();
            assertThat(reply.type()).isEqualTo(FrameHeader.TYPE_REPLY);
            if (window < Extension.MIN_PACKET_COST) {
                assertThat(reply.status()).as("window %d", window).isEqualTo(FrameHeader.STATUS_ERROR);
                assertThat(reply.remoteError().message()).contains("initial stream window of " + window)
                        .contains("below the minimum of 512");
            } else {
                assertThat(reply.status()).as("window %d", window).isEqualTo(FrameHeader.STATUS_OK);
                assertThat(reply.hello().version()).isEqualTo(Extension.PROTOCOL_VERSION);
            }
        }
    }

    /** The same rule on the client: a server answering HELLO with a 100-byte window fails the connect. */
    @Test
    void aServerHelloWithAWindowThatCannotCarryAPacketFailsTheConnect() throws Exception {
        try (ScriptedServer peer = new ScriptedServer()) {
            final CompletableFuture<Connection> connecting = clientBraid().connectAsync(peer.address());
            final ByteBuffer hello = peer.readFrame();
            final int serial = hello.getInt(FrameHeader.SERIAL_OFFSET);
            peer.write(ScriptedServer.frame(Extension.PROGRAM, 1, Extension.PROC_HELLO, FrameHeader.TYPE_REPLY,
                    serial, FrameHeader.STATUS_OK, RawPeer.hello(1, Extension.SUPPORTED_FEATURES, 1 << 20, 16, 16, 100)));
            assertThatThrownBy(() -> connecting.get(10, TimeUnit.SECONDS))
                    .hasMessageContaining("initial stream window of 100 bytes is below the minimum of 512");
        }
    }
}
