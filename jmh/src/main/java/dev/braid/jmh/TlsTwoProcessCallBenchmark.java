package dev.braid.jmh;

/**
 * {@link TwoProcessCallBenchmark} with both processes on TLS 1.3 (the JDK's provider, a throwaway CA, the
 * client checking the server's name): the same round trip, so the two side by side are TLS's cost on a
 * round trip between two processes (issue 12 §5: p50 at most 1.3 x plaintext on the same backend). With
 * {@code -Dbraid.bench.tls=openssl} both processes use BoringSSL's engines (braid-tls-openssl) instead.
 */
public class TlsTwoProcessCallBenchmark extends TwoProcessCallBenchmark {
    @Override
    boolean tls() {
        return true;
    }
}
