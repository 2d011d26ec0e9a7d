package dev.braid;

import dev.braid.spi.TlsEngineProvider;
import org.junit.jupiter.api.Test;

import javax.net.ssl.SSLContext;
import java.nio.file.Path;
import java.security.NoSuchAlgorithmException;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * How {@link TlsOptions#fromPem} chooses its engines, with no provider on core's own class path: auto is the
 * JDK's, a name that is not here is refused with the names that are, the {@code braid.tls.engine} property is
 * read, and a provider passed in is used, or refused with its cause when it cannot run. (With braid-tls-openssl
 * present, auto taking BoringSSL is tested in the testsuite's {@code TlsEngineChoiceTest}.)
 */
class TlsOptionsEngineTest {
    /** A provider whose engines come from the JDK's default context; available or not as told. */
    private record FakeProvider(boolean available) implements TlsEngineProvider {
        @Override
        public String name() {
            return "fake";
        }

        @Override
        public boolean isAvailable() {
            return available;
        }

        @Override
        public Throwable unavailabilityCause() {
            return available ? null : new UnsatisfiedLinkError("libfake.so: cannot open shared object file");
        }

        @Override
        public String description() {
            return "Fake TLS 0.1";
        }

        @Override
        public TlsOptions.EngineFactory engines(final Path chain, final Path key, final Path cas) {
            return (client, host, port) -> {
                try {
                    return SSLContext.getDefault().createSSLEngine();
                } catch (NoSuchAlgorithmException e) {
                    throw new IllegalStateException(e);
                }
            };
        }
    }

    @Test
    void withoutProvidersAutoIsTheJdksEngines() {
        assertThat(TlsOptions.engineProviders()).isEmpty();
        final TlsOptions auto = TlsOptions.fromPem(null, null, null);
        assertThat(auto.engine()).isEqualTo(TlsOptions.JDK);
        assertThat(auto.context()).isNotNull();
        assertThat(TlsOptions.fromPem(null, null, null, TlsOptions.AUTO).engine()).isEqualTo(TlsOptions.JDK);
        assertThat(TlsOptions.fromPem(null, null, null, TlsOptions.JDK).engine()).isEqualTo(TlsOptions.JDK);
    }

    @Test
    void anEngineThatIsNotHereIsRefusedWithTheOnesThatAre() {
        assertThatThrownBy(() -> TlsOptions.fromPem(null, null, null, "gnutls")).isInstanceOfSatisfying(
                BraidException.class, e -> assertThat(e.category()).isEqualTo(BraidException.Category.CONFIG))
                .hasMessage("no TLS engine 'gnutls' here (engines: auto, jdk)");
        assertThatThrownBy(() -> TlsOptions.fromPem(null, null, null, "openssl"))
                .hasMessageContaining("no TLS engine 'openssl' here")
                .hasMessageContaining("comes with the artifact dev.braid:braid-tls-openssl");
    }

    @Test
    void thePropertyChoosesTheEngine() {
        final String before = System.getProperty(TlsOptions.ENGINE_PROPERTY);
        try {
            System.setProperty(TlsOptions.ENGINE_PROPERTY, " GnuTLS ");
            assertThatThrownBy(() -> TlsOptions.fromPem(null, null, null))
                    .hasMessage("braid.tls.engine= GnuTLS : no TLS engine 'gnutls' here (engines: auto, jdk)");
            System.setProperty(TlsOptions.ENGINE_PROPERTY, "jdk");
            assertThat(TlsOptions.fromPem(null, null, null).engine()).isEqualTo(TlsOptions.JDK);
        } finally {
            if (before == null) {
                System.clearProperty(TlsOptions.ENGINE_PROPERTY);
            } else {
                System.setProperty(TlsOptions.ENGINE_PROPERTY, before);
            }
        }
    }

    @Test
    void aProviderIsUsedOrRefusedWithItsCause() {
        final TlsOptions fake = TlsOptions.fromPem(null, null, null, new FakeProvider(true));
        assertThat(fake.engine()).isEqualTo("fake");
        assertThat(fake.context()).isNull();
        assertThat(fake.engineFactory().create(true, "localhost", 1)).isNotNull();
        assertThat(fake.toString()).startsWith("TLS(Fake TLS 0.1, PEM (no certificate), default trust store");
        assertThat(fake.clientAuth(TlsOptions.ClientAuth.REQUIRED).engine()).as("kept by copies").isEqualTo("fake");
        assertThatThrownBy(() -> TlsOptions.fromPem(null, null, null, new FakeProvider(false)))
                .isInstanceOf(BraidException.class)
                .hasMessage("TLS engine 'fake' (Fake TLS 0.1) cannot run here: java.lang.UnsatisfiedLinkError: "
                        + "libfake.so: cannot open shared object file");
        assertThatThrownBy(() -> TlsOptions.fromPem(Path.of("chain.pem"), null, null, new FakeProvider(true)))
                .as("the chain's key is checked before the provider builds anything")
                .isInstanceOf(BraidException.class);
        assertThat(TlsOptions.of(fake.engineFactory(), "mine").engine()).isEqualTo(TlsOptions.CUSTOM);
    }
}
