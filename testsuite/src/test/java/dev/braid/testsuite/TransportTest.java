package dev.braid.testsuite;

import dev.braid.Braid;
import dev.braid.BraidConfig;
import dev.braid.BraidServer;
import dev.braid.Connection;
import dev.braid.Peer;
import dev.braid.buffer.BufferPool;
import dev.braid.testing.Await;
import dev.braid.testing.LeakChecks;
import dev.braid.testing.VirtualThreadDumpOnTimeout;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Base of every transport test: runs once per {@link Pairing}, gives each test a server braid and a client
 * braid on the pairing's backends sharing one leak-tracking pool, and after each test closes both and checks
 * that no pooled buffer is outstanding and no braid thread is left. A test that runs past its timeout
 * prints a thread dump with the virtual threads (handlers, streams, the loom backend) before it is interrupted.
 */
@ExtendWith(VirtualThreadDumpOnTimeout.class)
@ParameterizedClass(name = "{0}")
@MethodSource("dev.braid.testsuite.Pairing#all")
public abstract class TransportTest {
    @Parameter
    Pairing pairing;

    protected BufferPool pool;
    private final List<AutoCloseable> closeables = new ArrayList<>();

    @BeforeEach
    void setUpPairing() {
        final String why = pairing.unavailability();
        Assumptions.assumeTrue(why == null, why);
        pool = new BufferPool(BufferPool.DEFAULT_RETAINED_BYTES_PER_CLASS, true);
    }

    @AfterEach
    void tearDownPairing() throws Exception {
        for (int i = closeables.size() - 1; i >= 0; i--) {
            closeables.get(i).close();
        }
        closeables.clear();
        if (pool != null) {
            LeakChecks.assertNoOutstandingBuffers(pool);
        }
        LeakChecks.assertNoBraidThreads();
        LeakChecks.assertNoBraidVirtualThreads();
    }

    /** A config for the given side with this test's pool; tweak it before {@link #braid}. */
    protected BraidConfig config(final boolean server) {
        return new BraidConfig().backend(server ? pairing.server() : pairing.client()).bufferPool(pool);
    }

    /** Starts a braid (closed after the test). */
    protected Braid braid(final BraidConfig config) {
        final Braid b = Braid.create(config);
        closeables.add(b);
        return b;
    }

    protected Braid serverBraid() {
        return braid(config(true));
    }

    protected Braid clientBraid() {
        return braid(config(false));
    }

    /** A server with the procedures {@code setup} registers, on a fresh server braid. */
    protected BraidServer server(final Consumer<BraidServer.Builder> setup) {
        return server(config(true), setup);
    }

    protected BraidServer server(final BraidConfig config, final Consumer<BraidServer.Builder> setup) {
        final BraidServer.Builder b = braid(config).server();
        setup.accept(b);
        final BraidServer s = b.bind(0);
        closeables.add(s);
        return s;
    }

    protected Connection connect(final BraidServer server) {
        return connect(config(false), server);
    }

    protected Connection connect(final BraidConfig config, final BraidServer server) {
        final Connection c = braid(config).connect(server.address());
        closeables.add(c::abort);
        return c;
    }

    /** The server's one connection, once it has it (waits for the accept). */
    protected static Peer onlyConnection(final BraidServer server) {
        Await.until("the server has a connection", () -> !server.connections().isEmpty());
        assertThat(server.connections()).hasSize(1);
        return server.connections().get(0);
    }

    protected <T extends AutoCloseable> T closeLater(final T c) {
        closeables.add(c);
        return c;
    }
}
