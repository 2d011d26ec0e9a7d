package dev.braid.testsuite;

import dev.braid.BraidServer;
import dev.braid.Connection;
import dev.braid.Procedure;
import dev.braid.TlsOptions;
import dev.braid.tls.openssl.OpenSslTls;
import dev.braid.tooling.ThrowawayPki;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * With braid-tls-openssl on the class path, {@link TlsOptions#fromPem(Path, Path, Path)} takes BoringSSL's
 * engines (the {@code openssl} provider, found by ServiceLoader), unless asked for the JDK's; and the two
 * engines talk to each other (every backend pairing).
 */
class TlsEngineChoiceTest extends TransportTest {
    private static final Procedure ECHO = Procedure.of(0x454e47, 1, 1); // "ENG"
    private static Path dir;
    private static ThrowawayPki pki;
    private static ThrowawayPki.Identity server;

    @BeforeAll
    static void pki() throws IOException {
        dir = Files.createTempDirectory("braid-tls-engine");
        pki = ThrowawayPki.create(dir, "engines");
        server = pki.issue("server", List.of("localhost"), List.of("127.0.0.1"));
    }

    @AfterAll
    static void delete() throws IOException {
        try (var files = Files.walk(dir)) {
            for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }

    @Test
    void autoTakesBoringSslWhereItLoadsAndJdkIsTheJdks() {
        assertThat(OpenSslTls.isAvailable()).as("BoringSSL loads on this project's CI").isTrue();
        assertThat(TlsOptions.engineProviders()).containsExactly("openssl");
        final TlsOptions auto = TlsOptions.fromPem(null, null, pki.caCertificate());
        assertThat(auto.engine()).isEqualTo("openssl");
        assertThat(auto.context()).isNull();
        assertThat(auto.toString()).startsWith("TLS(OpenSSL (BoringSSL), PEM (no certificate), CAs ");
        assertThat(TlsOptions.fromPem(null, null, pki.caCertificate(), TlsOptions.JDK).engine()).isEqualTo("jdk");
        assertThat(OpenSslTls.fromPem(null, null, pki.caCertificate()).engine()).isEqualTo("openssl");
    }

    @Test
    void anAutoServerAndAJdkClientTalk() {
        final BraidServer s = server(config(true).tls(TlsOptions.fromPem(server.certificate(), server.key(), null)),
                b -> b.handle(ECHO, call -> call.reply(call.args())));
        final Connection c = connect(config(false).tls(TlsOptions.fromPem(null, null, pki.caCertificate(),
                TlsOptions.JDK)), s);
        assertThat(c.call(ECHO, new byte[]{1, 2, 3})).containsExactly(1, 2, 3);
        assertThat(c.tls()).hasValueSatisfying(t -> assertThat(t.protocol()).isEqualTo("TLSv1.3"));
    }
}
