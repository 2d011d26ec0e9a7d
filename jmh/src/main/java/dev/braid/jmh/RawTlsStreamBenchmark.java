package dev.braid.jmh;

import dev.braid.TlsOptions;
import dev.braid.tooling.ThrowawayPki;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import javax.net.ssl.SSLServerSocket;
import javax.net.ssl.SSLSocket;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The TLS baseline for {@link TlsStreamBenchmark}: 256 KiB per operation over one JDK {@code SSLSocket}
 * (TLS 1.3, the same throwaway CA) on 127.0.0.1, a platform thread at the far end discarding (upload) or
 * writing continuously (download). This is what the JDK's TLS moves with nothing else in the way.
 */
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
public class RawTlsStreamBenchmark {
    static final int CHUNK = 256 * 1024;

    @Benchmark
    public int upload(final Upload s) throws IOException {
        s.out.write(s.buffer);
        return CHUNK;
    }

    @Benchmark
    public int download(final Download s) throws IOException {
        int n = 0;
        while (n < CHUNK) {
            final int k = s.in.read(s.buffer, n, CHUNK - n);
            if (k < 0) {
                throw new EOFException("server closed");
            }
            n += k;
        }
        return s.buffer[CHUNK - 1];
    }

    @State(Scope.Thread)
    public static class Upload extends Pair {
        @Override
        void serve(final SSLSocket s, final byte[] b) throws IOException {
            final InputStream in = s.getInputStream();
            while (in.read(b) >= 0) {
                // discard
            }
        }
    }

    @State(Scope.Thread)
    public static class Download extends Pair {
        @Override
        void serve(final SSLSocket s, final byte[] b) throws IOException {
            final OutputStream out = s.getOutputStream();
            while (true) {
                out.write(b);
            }
        }
    }

    /** A TLS connection: the benchmark thread's end and a platform thread serving the other. */
    abstract static class Pair {
        final byte[] buffer = GrpcPeer.pattern(CHUNK);
        InputStream in;
        OutputStream out;
        private SSLSocket client;
        private Thread server;
        private Path dir;
        private volatile boolean closing;
        private volatile Throwable failure;

        abstract void serve(SSLSocket s, byte[] b) throws IOException;

        @Setup(Level.Trial)
        public void open() throws Exception {
            dir = Files.createTempDirectory("braid-jmh-rawtls");
            final ThrowawayPki pki = ThrowawayPki.create(dir, "raw");
            final ThrowawayPki.Identity id = pki.issue("server", List.of("localhost"), List.of("127.0.0.1"));
            final SSLServerSocket listener = (SSLServerSocket) TlsOptions.fromPem(id.certificate(), id.key(), null, TlsOptions.JDK)
                    .context().getServerSocketFactory().createServerSocket(0, 1, InetAddress.getByName("127.0.0.1"));
            listener.setEnabledProtocols(new String[]{"TLSv1.3"});
            final byte[] serverBuffer = GrpcPeer.pattern(CHUNK);
            server = Thread.ofPlatform().name("raw-tls-server").daemon().start(() -> {
                try (listener; SSLSocket s = (SSLSocket) listener.accept()) {
                    s.setTcpNoDelay(true);
                    serve(s, serverBuffer);
                } catch (IOException e) {
                    if (!closing) {
                        failure = e;
                    }
                }
            });
            client = (SSLSocket) TlsOptions.fromPem(null, null, pki.caCertificate(), TlsOptions.JDK).context().getSocketFactory()
                    .createSocket("127.0.0.1", listener.getLocalPort());
            client.setTcpNoDelay(true);
            client.startHandshake();
            in = client.getInputStream();
            out = client.getOutputStream();
        }

        @TearDown(Level.Trial)
        public void close() throws Exception {
            closing = true;
            client.close();
            if (!server.join(Duration.ofSeconds(GrpcPeer.TIMEOUT_SECONDS))) {
                throw new IllegalStateException("raw TLS server thread did not exit");
            }
            try (var files = Files.walk(dir)) {
                for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
                    Files.deleteIfExists(p);
                }
            }
            if (failure != null) {
                throw new IOException("raw TLS server failed", failure);
            }
        }
    }
}
