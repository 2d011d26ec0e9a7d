package dev.braid.testsuite;

import dev.braid.TlsOptions;
import dev.braid.tls.openssl.OpenSslTls;
import org.junit.jupiter.api.BeforeEach;

import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Every test of {@link TlsTest}, on each backend (client and server on the same one; TlsTest crosses the
 * pairings with the JDK's engines), with BoringSSL's engines (braid-tls-openssl) on
 * both braid sides: the same TLS, the same mistakes and the same error texts as with the JDK's engines. The
 * raw peers some tests use (a JDK {@code SSLSocket} that cuts the connection or renegotiates) stay the JDK's.
 */
class OpenSslTlsTest extends TlsTest {
    @BeforeEach
    void boringSslLoads() {
        // the engine sits above the backend (TlsTest crosses every pairing with the JDK's): one run per backend
        org.junit.jupiter.api.Assumptions.assumeTrue(pairing.client().equals(pairing.server()),
                "BoringSSL's engines: one pairing per backend");
        assertThat(OpenSslTls.isAvailable()).as("BoringSSL on this machine: %s", OpenSslTls.unavailabilityCause())
                .isTrue();
    }

    @Override
    TlsOptions pem(final Path chain, final Path key, final Path cas) {
        return OpenSslTls.fromPem(chain, key, cas);
    }
}
