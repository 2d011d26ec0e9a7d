package dev.braid.cli;

import dev.braid.tooling.ThrowawayPki;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The command line's exposure rules and its TLS and Unix-socket forms, each command a separate JVM: serve
 * refuses a non-loopback address without TLS, warns under --insecure, never offers a console there without
 * client certificates; get, put and ls work over mutual TLS and over unix:PATH; a client without a
 * certificate is refused by a server that requires one, with a message naming it.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class SecureServeTest {
    private static final String JAVA = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    private static final String CLASSPATH = System.getProperty("java.class.path");

    private static Path base;
    private static Path root;
    private static ThrowawayPki ca;
    private static ThrowawayPki.Identity serverId;
    private static ThrowawayPki.Identity clientId;

    @BeforeAll
    static void setUp() throws IOException {
        base = Files.createTempDirectory("braid-cli-tls");
        root = Files.createDirectories(base.resolve("root"));
        ca = ThrowawayPki.create(base.resolve("pki"), "cli");
        serverId = ca.issue("server", List.of("localhost"), List.of("127.0.0.1"));
        clientId = ca.issue("client", List.of(), List.of());
    }

    @AfterAll
    static void tearDown() throws IOException {
        try (Stream<Path> s = Files.walk(base)) {
            s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }

    private static ProcessBuilder command(final String... args) {
        final List<String> cmd = new ArrayList<>(List.of(JAVA, "-cp", CLASSPATH, "-Dbraid.backend=nio",
                "-XX:TieredStopAtLevel=1", "-Xshare:auto", "dev.braid.cli.Main"));
        cmd.addAll(List.of(args));
        return new ProcessBuilder(cmd);
    }

    private record Result(int code, String out, String err) {
    }

    private static Result run(final String... args) throws Exception {
        final Path out = Files.createTempFile(base, "out", ".txt");
        final Path err = Files.createTempFile(base, "err", ".txt");
        final Process p = command(args).redirectOutput(out.toFile()).redirectError(err.toFile()).start();
        assertThat(p.waitFor(100, TimeUnit.SECONDS)).as("braid %s finished", String.join(" ", args)).isTrue();
        return new Result(p.exitValue(), Files.readString(out), Files.readString(err));
    }

    /** A running serve and the endpoint its first line names; its stderr goes to {@code err}. */
    private record Served(Process process, String endpoint, Path err) implements AutoCloseable {
        @Override
        public void close() throws IOException {
            process.destroy();
            try {
                assertThat(process.waitFor(20, TimeUnit.SECONDS)).as("serve stops on SIGTERM").isTrue();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted while serve stopped", e);
            }
        }
    }

    private static Served serve(final String... args) throws Exception {
        final List<String> all = new ArrayList<>(List.of("serve", "--root", root.toString()));
        all.addAll(List.of(args));
        final Path err = Files.createTempFile(base, "serve-err", ".txt");
        final Process p = command(all.toArray(String[]::new)).redirectError(err.toFile()).start();
        final BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
        final String first = r.readLine();
        assertThat(first).as("serve's first line (stderr: %s)", Files.readString(err)).isNotNull()
                .contains("braid serve: serving");
        final Matcher m = Pattern.compile(" on (\\S+) \\(").matcher(first);
        assertThat(m.find()).as(first).isTrue();
        Thread.ofPlatform().daemon().start(() -> {
            try {
                r.transferTo(java.io.Writer.nullWriter());
            } catch (IOException ignored) {
                // the server went
            }
        });
        return new Served(p, m.group(1), err);
    }

    private static String[] clientTls() {
        return new String[]{"--tls-ca", ca.caCertificate().toString(), "--tls-cert", clientId.certificate().toString(),
                "--tls-key", clientId.key().toString()};
    }

    private static String[] serverTls(final boolean requireClients) {
        final List<String> a = new ArrayList<>(List.of("--tls-cert", serverId.certificate().toString(),
                "--tls-key", serverId.key().toString()));
        if (requireClients) {
            a.addAll(List.of("--tls-ca", ca.caCertificate().toString()));
        }
        return a.toArray(String[]::new);
    }

    private static String[] concat(final String[] a, final String... b) {
        final List<String> l = new ArrayList<>(List.of(a));
        l.addAll(List.of(b));
        return l.toArray(String[]::new);
    }

    @Test
    void anExposedAddressWithoutTlsIsRefused() throws Exception {
        final Result r = run("serve", "--root", root.toString(), "--listen", "0.0.0.0:0");
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains("refusing to serve").contains("without TLS").contains("--insecure");
    }

    @Test
    void insecureServesButSaysWhatIsExposed() throws Exception {
        try (Served s = serve("--listen", "0.0.0.0:0", "--insecure")) {
            assertThat(Files.readString(s.err())).contains("WARNING (--insecure)").contains(root.toString())
                    .contains("read and overwritten by anyone");
        }
    }

    @Test
    void aConsoleOnAnExposedAddressNeedsClientCertificates() throws Exception {
        Result r = run(concat(new String[]{"serve", "--root", root.toString(), "--listen", "0.0.0.0:0", "--insecure",
                "--console", "/bin/sh"}));
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains("refusing to offer the console").contains("--tls-ca");
        r = run(concat(concat(new String[]{"serve", "--root", root.toString(), "--listen", "0.0.0.0:0", "--console",
                "/bin/sh"}, serverTls(false))));
        assertThat(r.code()).as("TLS without client certificates is not enough for a console").isEqualTo(2);
    }

    @Test
    void filesMoveOverMutualTlsAndAClientWithoutACertificateIsRefused() throws Exception {
        final Path local = Files.writeString(base.resolve("hello.txt"), "hello over TLS");
        try (Served s = serve(concat(serverTls(true), "--listen", "127.0.0.1:0"))) {
            Result r = run(concat(concat(new String[]{"put"}, clientTls()), local.toString(), s.endpoint(), "tls.txt"));
            assertThat(r.code()).as(r.err()).isZero();
            final Path back = base.resolve("back.txt");
            r = run(concat(concat(new String[]{"get"}, clientTls()), s.endpoint(), "tls.txt", back.toString()));
            assertThat(r.code()).as(r.err()).isZero();
            assertThat(Files.readString(back)).isEqualTo("hello over TLS");
            r = run("ls", "--tls-ca", ca.caCertificate().toString(), s.endpoint());
            assertThat(r.code()).isEqualTo(1);
            assertThat(r.err()).contains("certificate_required");
            r = run("ls", s.endpoint());
            assertThat(r.code()).as("plaintext against TLS").isEqualTo(1);
            assertThat(r.err()).contains("speaks TLS");
        }
    }

    @Test
    void eitherSideMayUseEitherTlsEngine() throws Exception {
        final Path local = Files.writeString(base.resolve("engines.txt"), "JDK server, BoringSSL client");
        // one direction (the JDK's server, BoringSSL's client): TlsEngineChoiceTest has the other, every pairing
        for (String[] engines : new String[][]{{"jdk", "openssl"}}) {
            try (Served s = serve(concat(serverTls(true), "--listen", "127.0.0.1:0", "--tls-engine", engines[0]))) {
                Result r = run(concat(concat(new String[]{"put", "--tls-engine", engines[1]}, clientTls()),
                        local.toString(), s.endpoint(), "engines-" + engines[0] + ".txt"));
                assertThat(r.code()).as("server %s, client %s: %s", engines[0], engines[1], r.err()).isZero();
                final Path back = base.resolve("engines-back-" + engines[0] + ".txt");
                r = run(concat(concat(new String[]{"get", "--tls-engine", engines[1]}, clientTls()), s.endpoint(),
                        "engines-" + engines[0] + ".txt", back.toString()));
                assertThat(r.code()).as(r.err()).isZero();
                assertThat(Files.readString(back)).isEqualTo("JDK server, BoringSSL client");
            }
        }
        final Result bad = run("ls", "--tls-engine", "gnutls", "127.0.0.1:1");
        assertThat(bad.code()).isEqualTo(2);
        assertThat(bad.err()).contains("'gnutls' is not a TLS engine: auto, jdk or openssl");
    }

    @Test
    void unixSocketEndpoints() throws Exception {
        final Path sock = base.resolve("braid.sock");
        Files.writeString(root.resolve("u.txt"), "over a unix socket");
        try (Served s = serve("--listen", "unix:" + sock)) {
            assertThat(s.endpoint()).isEqualTo("unix:" + sock);
            final Result r = run("ls", s.endpoint());
            assertThat(r.code()).as(r.err()).isZero();
            assertThat(r.out()).contains("u.txt");
        }
    }
}
