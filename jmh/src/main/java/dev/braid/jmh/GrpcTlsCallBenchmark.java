package dev.braid.jmh;

/**
 * {@link GrpcCallBenchmark} over TLS 1.3 (gRPC's Netty transport with the JDK's provider, a throwaway CA, the
 * same cipher suite as braid's: {@link GrpcPeer#GrpcPeer(boolean)}): the peer of {@link TlsCallBenchmark}.
 */
public class GrpcTlsCallBenchmark extends GrpcCallBenchmark {
    @Override
    boolean tls() {
        return true;
    }
}
