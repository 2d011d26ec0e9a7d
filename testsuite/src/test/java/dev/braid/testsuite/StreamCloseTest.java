package dev.braid.testsuite;

import dev.braid.BraidServer;
import dev.braid.BraidStream;
import dev.braid.Connection;
import dev.braid.Procedure;
import dev.braid.StreamOptions;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Issue 10 §1.4: {@code BraidStream.close()} does what its javadoc says: a stream whose every byte was read
 * (EOF) is finished cleanly, with the handshake, and one closed before that is aborted.
 */
class StreamCloseTest extends TransportTest {
    static final Procedure DOWNLOAD = Procedure.of(0x434c4f53, 1, 1); // "CLOS"

    /** Server side of DOWNLOAD: sends {@code total} bytes, then finishes; completes with the outcome. */
    private BraidServer server(final CompletableFuture<Throwable> outcome) {
        return server(b -> b.stream(DOWNLOAD, (call, stream) -> {
            final long total = call.args().getLong(0);
            call.reply(new byte[0]);
            try {
                final ByteBuffer chunk = ByteBuffer.allocate(64 << 10);
                for (long sent = 0; sent < total; sent += chunk.capacity()) {
                    stream.write(chunk.clear());
                }
                stream.finish();
                outcome.complete(null);
            } catch (Throwable t) {
                outcome.complete(t);
            }
        }));
    }

    @Test
    void closeAfterEofFinishesTheStream() throws Exception {
        final CompletableFuture<Throwable> outcome = new CompletableFuture<>();
        final Connection c = connect(server(outcome));
        final BraidStream s = c.openStream(DOWNLOAD, ByteBuffer.allocate(8).putLong(0, 1 << 20), StreamOptions.DEFAULT);
        final ByteBuffer buf = ByteBuffer.allocate(100_000);
        long read = 0;
        int n;
        while ((n = s.read(buf.clear())) != BraidStream.EOF) {
            read += n;
        }
        assertThat(read).isEqualTo(1 << 20);
        s.close();
        assertThat(s.isOpen()).isFalse();
        assertThat(outcome.get(30, TimeUnit.SECONDS)).as("the server's finish()").isNull();
    }

    @Test
    void closeBeforeEofAbortsTheStream() throws Exception {
        final CompletableFuture<Throwable> outcome = new CompletableFuture<>();
        final Connection c = connect(server(outcome));
        final BraidStream s = c.openStream(DOWNLOAD, ByteBuffer.allocate(8).putLong(0, 64L << 20),
                StreamOptions.DEFAULT);
        assertThat(s.read(ByteBuffer.allocate(1000))).isPositive();
        s.close();
        assertThat(s.isOpen()).isFalse();
        assertThat(outcome.get(30, TimeUnit.SECONDS)).as("the server's write or finish()").isNotNull()
                .hasMessageContaining("aborted");
    }
}
