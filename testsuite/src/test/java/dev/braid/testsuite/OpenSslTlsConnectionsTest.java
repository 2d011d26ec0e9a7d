package dev.braid.testsuite;

import dev.braid.TlsOptions;
import dev.braid.tls.openssl.OpenSslTls;

import java.nio.file.Path;

/**
 * {@link TlsConnectionsTest} with BoringSSL's engines: 1,000 idle TLS connections per backend lend the pool
 * exactly what they lend with the JDK's (each engine's own memory is native, outside the pool: the test
 * prints the process's resident memory growth), and every engine's native state is freed when its
 * connection closes (the suite's teardown sees every pooled buffer back; Netty's reference count frees the
 * rest).
 */
class OpenSslTlsConnectionsTest extends TlsConnectionsTest {
    @Override
    TlsOptions pem(final Path chain, final Path key, final Path cas) {
        return OpenSslTls.fromPem(chain, key, cas);
    }
}
