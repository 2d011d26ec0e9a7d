package dev.braid.jmh;

/**
 * {@link GrpcFairnessBenchmark} over TLS 1.3 (gRPC's Netty transport with the JDK's provider, a throwaway CA,
 * the same cipher suite as braid's: {@link GrpcPeer#GrpcPeer(boolean)}): the peer of
 * {@link TlsFairnessBenchmark}. The shared state sees the benchmark's name ({@link BraidFixture#tls}).
 */
public class GrpcTlsFairnessBenchmark extends GrpcFairnessBenchmark {
}
