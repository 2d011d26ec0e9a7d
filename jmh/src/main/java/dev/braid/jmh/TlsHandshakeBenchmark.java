package dev.braid.jmh;

import dev.braid.Braid;
import dev.braid.BraidConfig;
import dev.braid.BraidServer;
import dev.braid.Connection;
import dev.braid.HandlerMode;
import dev.braid.TlsOptions;
import dev.braid.tooling.ThrowawayPki;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import javax.net.ssl.SSLSessionContext;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * What it costs to open a connection: one operation is {@code connect} (TCP, the TLS handshake, libvirt's
 * confirmation byte, braid's HELLO) then an abort. {@code mode}: {@code plain} (no TLS), {@code full} (every
 * handshake a full TLS 1.3 one: the client's session cache is emptied before each connect) or {@code resumed}
 * (the client keeps the server's session tickets, so TLS 1.3 resumes with a pre-shared key). In-process,
 * loopback; the server's handshake work runs on its I/O thread.
 */
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsPrepend = "--enable-native-access=ALL-UNNAMED") // Netty epoll loads its native library
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@State(Scope.Benchmark)
public class TlsHandshakeBenchmark {
    @Param({"nio", "epoll"})
    String backend;

    @Param({"plain", "full", "resumed"})
    String mode;

    private Path dir;
    private Braid serverBraid;
    private Braid clientBraid;
    private BraidServer server;
    private SSLSessionContext clientSessions;

    @Setup(Level.Trial)
    public void setUp() throws Exception {
        TlsOptions serverTls = null;
        TlsOptions clientTls = null;
        if (!mode.equals("plain")) {
            dir = Files.createTempDirectory("braid-jmh-handshake");
            final ThrowawayPki pki = ThrowawayPki.create(dir, "hs");
            final ThrowawayPki.Identity id = pki.issue("server", List.of("localhost"), List.of("127.0.0.1"));
            serverTls = TlsOptions.fromPem(id.certificate(), id.key(), null, TlsOptions.JDK);
            clientTls = TlsOptions.fromPem(null, null, pki.caCertificate(), TlsOptions.JDK);
            clientSessions = clientTls.context().getClientSessionContext();
        }
        serverBraid = Braid.create(new BraidConfig().backend(backend).tls(serverTls));
        clientBraid = Braid.create(new BraidConfig().backend(backend).tls(clientTls));
        server = serverBraid.server().handle(BraidFixture.ECHO, call -> call.reply(call.args()), HandlerMode.NON_BLOCKING)
                .bind(0);
    }

    @TearDown(Level.Trial)
    public void tearDown() throws Exception {
        server.close();
        clientBraid.close();
        serverBraid.close();
        if (dir != null) {
            try (var files = Files.walk(dir)) {
                for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
                    Files.deleteIfExists(p);
                }
            }
        }
    }

    @Benchmark
    public boolean connect() {
        if (mode.equals("full")) {
            for (byte[] id : Collections.list(clientSessions.getIds())) {
                final javax.net.ssl.SSLSession s = clientSessions.getSession(id);
                if (s != null) {
                    s.invalidate();
                }
            }
        }
        final Connection c = clientBraid.connect(server.address());
        final boolean open = c.isOpen();
        c.abort();
        return open;
    }
}
