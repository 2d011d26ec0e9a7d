package dev.braid.internal.engine.stream;

import dev.braid.BraidConfig;
import dev.braid.TlsOptions;
import dev.braid.buffer.BufferPool;
import dev.braid.internal.engine.io.Outbound;
import dev.braid.internal.engine.io.ReadGate;
import dev.braid.internal.wire.FrameHeader;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The send budget a connection starts with: {@code streamSendBudget} in plaintext, {@code tlsStreamSendBudget}
 * (half of it by default, two maximal packets) when the configuration has TLS.
 */
class TlsSendBudgetTest {
    private final BufferPool pool = new BufferPool(BufferPool.DEFAULT_RETAINED_BYTES_PER_CLASS, true);

    private long budgetOf(final BraidConfig cfg) {
        final StreamScheduler scheduler = new StreamScheduler();
        final ReadGate gate = new ReadGate();
        final Outbound outbound = new Outbound(scheduler, gate, 1024);
        try {
            return new StreamTable(cfg, pool, outbound, scheduler, gate, new StreamTable.Role() {
                @Override
                public void streamEnded(final StreamHandle s) {
                }

                @Override
                public void streamSlotFree(final StreamHandle s) {
                }
            }).sendBudget.budget();
        } finally {
            outbound.close();
        }
    }

    @Test
    void tlsConnectionsStartWithHalfThePlaintextBudget() throws Exception {
        final TlsOptions tls = TlsOptions.of(javax.net.ssl.SSLContext.getDefault());
        assertThat(budgetOf(new BraidConfig())).isEqualTo(BraidConfig.DEFAULT_STREAM_WINDOW);
        assertThat(budgetOf(new BraidConfig().tls(tls))).isEqualTo(BraidConfig.DEFAULT_STREAM_WINDOW / 2)
                .isEqualTo(2L * (FrameHeader.HEADER_LENGTH + FrameHeader.MAX_STREAM_PAYLOAD));
    }

    @Test
    void eachIsConfiguredOnItsOwn() throws Exception {
        final TlsOptions tls = TlsOptions.of(javax.net.ssl.SSLContext.getDefault());
        assertThat(budgetOf(new BraidConfig().tls(tls).tlsStreamSendBudget(300_000).streamSendBudget(900_000)))
                .isEqualTo(300_000);
        assertThat(budgetOf(new BraidConfig().tlsStreamSendBudget(300_000).streamSendBudget(900_000)))
                .isEqualTo(900_000);
    }
}
