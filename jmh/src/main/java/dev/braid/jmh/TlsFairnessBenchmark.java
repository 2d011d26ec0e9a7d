package dev.braid.jmh;

/**
 * {@link FairnessBenchmark} over TLS 1.3 (the JDK's provider, a throwaway CA, the client checking the server's
 * name): a 64-byte call's round trip on an idle connection and beside four streams on the same connection.
 * Issue 12 §5: the fairness ratio (loaded call p99 / idle call p99) with TLS no worse than 1.5 x plaintext
 * braid's. The shared state sees the benchmark's name ({@link BraidFixture#tls}).
 */
public class TlsFairnessBenchmark extends FairnessBenchmark {
}
