package dev.braid.testsuite;

import dev.braid.BraidException;
import dev.braid.BraidServer;
import dev.braid.BraidStream;
import dev.braid.Connection;
import dev.braid.Procedure;
import dev.braid.TlsOptions;
import dev.braid.tooling.ThrowawayPki;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Unix domain sockets on every backend pairing: calls, streams, TLS, and the socket file's life. */
class UnixSocketTest extends TransportTest {
    static final int PROG = 0x554453; // "UDS"
    static final Procedure ECHO = Procedure.of(PROG, 1, 1);
    static final Procedure DOWNLOAD = Procedure.of(PROG, 1, 2);

    private Path dir;
    private UnixDomainSocketAddress path;

    @BeforeEach
    void makeDirectory() throws IOException {
        dir = Files.createTempDirectory("braid-uds");
        path = UnixDomainSocketAddress.of(dir.resolve("braid.sock"));
    }

    @AfterEach
    void deleteDirectory() throws IOException {
        try (var files = Files.walk(dir)) {
            for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }

    private BraidServer serve(final dev.braid.BraidConfig config) {
        final BraidServer.Builder b = braid(config).server()
                .handle(ECHO, call -> call.reply(call.args()))
                .stream(DOWNLOAD, (call, stream) -> {
                    final long total = call.args().getLong(0);
                    call.reply(new byte[0]);
                    StreamsTest.send(stream, 5, total);
                    stream.finish();
                });
        return closeLater(b.bind(path));
    }

    private Connection connectTo(final dev.braid.BraidConfig config) {
        final Connection c = braid(config).connect(path);
        closeLater(c::abort);
        return c;
    }

    private static void exercise(final Connection c) {
        final Random random = new Random(3);
        for (int size : new int[]{0, 1, 4096, 200_000, 2_000_000}) {
            final byte[] payload = new byte[size];
            random.nextBytes(payload);
            assertThat(c.call(ECHO, payload)).as("payload of %d bytes", size).isEqualTo(payload);
        }
        final long size = 8L << 20;
        final BraidStream down = c.openStream(DOWNLOAD, ByteBuffer.allocate(8).putLong(0, size),
                dev.braid.StreamOptions.DEFAULT);
        assertThat(StreamsTest.receive(down, 5)).isEqualTo(size);
        down.finish();
    }

    @Test
    void callsAndStreamsOverAUnixSocket() {
        final BraidServer server = serve(config(true));
        assertThat(server.localAddress()).isEqualTo(path);
        assertThatThrownBy(server::address).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("Unix domain socket");
        final Connection c = connectTo(config(false));
        exercise(c);
        assertThat(c.remoteAddress()).isInstanceOf(UnixDomainSocketAddress.class);
        assertThat(onlyConnection(server).localAddress()).isInstanceOf(UnixDomainSocketAddress.class);
    }

    @Test
    void tlsOverAUnixSocketVerifiesTheServerName() throws IOException {
        final ThrowawayPki ca = ThrowawayPki.create(dir, "uds");
        final ThrowawayPki.Identity id = ca.issue("server", List.of("braid.local"), List.of());
        final BraidServer server = serve(config(true).tls(TlsOptions.fromPem(id.certificate(), id.key(), null)));
        final TlsOptions client = TlsOptions.fromPem(null, null, ca.caCertificate());
        assertThatThrownBy(() -> connectTo(config(false).tls(client)))
                .hasMessageContaining("needs a host name");
        final Connection c = connectTo(config(false).tls(client.serverName("braid.local")));
        exercise(c);
        assertThat(c.tls().orElseThrow().peerPrincipal().getName()).contains("CN=server");
        assertThat(server.connections()).hasSize(1);
    }

    @Test
    void aStaleSocketFileIsReplaced() throws IOException {
        try (ServerSocketChannel crashed = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            crashed.bind(path); // closing it leaves the file behind, as a crashed server does
        }
        assertThat(Files.exists(path.getPath())).isTrue();
        serve(config(true));
        exercise(connectTo(config(false)));
    }

    @Test
    void aLiveServersSocketIsRefused() {
        serve(config(true));
        assertThatThrownBy(() -> braid(config(true)).server().bind(path))
                .isInstanceOf(BraidException.class).hasMessageContaining("is in use");
        exercise(connectTo(config(false))); // the first server still serves
    }

    @Test
    void aFileThatIsNotASocketIsNeverReplaced() throws IOException {
        Files.writeString(path.getPath(), "precious");
        assertThatThrownBy(() -> braid(config(true)).server().bind(path))
                .isInstanceOf(BraidException.class).hasMessageContaining("is not a socket (a regular file)");
        assertThat(Files.readString(path.getPath())).isEqualTo("precious");
    }

    @Test
    void theSocketFileIsRemovedWhenTheServerCloses() {
        final BraidServer server = serve(config(true));
        assertThat(Files.exists(path.getPath())).isTrue();
        server.close();
        assertThat(Files.exists(path.getPath())).isFalse();
    }
}
