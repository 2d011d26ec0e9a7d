package dev.braid.testsuite;

import dev.braid.BraidServer;
import dev.braid.ConnectionClosedException;
import dev.braid.HandlerMode;
import dev.braid.Peer;
import dev.braid.Procedure;
import dev.braid.buffer.BufferPool;
import dev.braid.internal.wire.Extension;
import dev.braid.internal.wire.FrameHeader;
import dev.braid.testing.Await;
import dev.braid.testing.LeakChecks;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Issue 11 §1.3, amplification: a peer that sends small requests whose answers it never reads. Before the
 * fix each 28-byte PONG or empty reply was counted as 28 bytes against the 8 MiB high-water mark while it held
 * a 512-byte pooled buffer and its objects, so one connection could pin about 150 MB, and PONGs had no bound
 * of their own. Now what a queued answer holds is what counts, and PONGs are bounded in number.
 */
class AmplificationTest extends TransportTest {
    static final Procedure EMPTY = Procedure.of(0x414d504c, 1, 1); // "AMPL"
    /** Requests the raw peer sends: each far below the old bounds, far above the new ones. */
    private static final int FLOOD = 60_000;

    private BufferPool serverPool;

    private BraidServer server(final int maxQueuedControlReplies, final AtomicReference<Peer> peer) {
        serverPool = new BufferPool(BufferPool.DEFAULT_RETAINED_BYTES_PER_CLASS, true);
        final BufferPool p = serverPool;
        closeLater(() -> LeakChecks.assertNoOutstandingBuffers(p)); // runs after the server closed
        return server(config(true).bufferPool(serverPool).maxQueuedControlReplies(maxQueuedControlReplies)
                        .keepaliveInterval(Duration.ZERO),
                s -> s.handle(EMPTY, call -> call.reply(new byte[0]), HandlerMode.NON_BLOCKING)
                        .onConnection(peer::set));
    }

    /** A raw socket that reads next to nothing: a small receive buffer, never read. */
    private static Socket nonReader(final BraidServer server) throws IOException {
        final Socket s = new Socket();
        s.setReceiveBufferSize(4096);
        s.connect(new InetSocketAddress(server.address().getAddress(), server.address().getPort()));
        return s;
    }

    /** Writes {@code count} copies of {@code frame} on a virtual thread; stops quietly when the server closes. */
    private static CompletableFuture<Void> flood(final Socket s, final byte[] frame, final int count) {
        final CompletableFuture<Void> done = new CompletableFuture<>();
        Thread.ofVirtual().start(() -> {
            try {
                final OutputStream out = s.getOutputStream();
                final byte[] chunk = new byte[frame.length * 1000];
                for (int i = 0; i < 1000; i++) {
                    System.arraycopy(frame, 0, chunk, i * frame.length, frame.length);
                }
                for (int i = 0; i < count; i += 1000) {
                    out.write(chunk);
                }
                out.flush();
            } catch (IOException e) {
                // the server closed the connection, or the test closed the socket
            } finally {
                done.complete(null);
            }
        });
        return done;
    }

    private static byte[] header(final int prog, final int vers, final int proc, final int type, final int serial) {
        final ByteBuffer h = ByteBuffer.allocate(FrameHeader.HEADER_LENGTH);
        h.putInt(FrameHeader.HEADER_LENGTH).putInt(prog).putInt(vers).putInt(proc).putInt(type).putInt(serial)
                .putInt(FrameHeader.STATUS_OK);
        return h.array();
    }

    @Test
    void aPeerThatFloodsPingsWithoutReadingIsClosedNamingTheLimit() throws Exception {
        final AtomicReference<Peer> peer = new AtomicReference<>();
        final BraidServer server = server(64, peer);
        final Socket raw = nonReader(server);
        try {
            final CompletableFuture<Void> writer = flood(raw, header(Extension.KEEPALIVE_PROGRAM,
                    Extension.KEEPALIVE_VERSION, Extension.KEEPALIVE_PING, FrameHeader.TYPE_MESSAGE, 0), FLOOD);
            Await.until("the server has the connection", () -> peer.get() != null);
            final ConnectionClosedException reason = peer.get().closeFuture().get(60, TimeUnit.SECONDS);
            assertThat(reason.reason()).isEqualTo(ConnectionClosedException.Reason.PROTOCOL_ERROR);
            assertThat(reason.getMessage()).contains("maxQueuedControlReplies = 64");
            raw.close(); // ends the flood: its writer may be blocked on a full socket
            writer.get(60, TimeUnit.SECONDS);
        } finally {
            raw.close();
        }
    }

    @Test
    void aPeerThatFloodsCallsWithoutReadingIsBoundedByTheMemoryItsAnswersHold() throws Exception {
        final AtomicReference<Peer> peer = new AtomicReference<>();
        final BraidServer server = server(1024, peer);
        final Socket raw = nonReader(server);
        try {
            final byte[] call = header(EMPTY.program(), EMPTY.version(), EMPTY.procedure(), FrameHeader.TYPE_CALL, 1);
            final CompletableFuture<Void> writer = flood(raw, call, FLOOD);
            Await.until("the server has the connection", () -> peer.get() != null);
            Await.until("the server stopped reading the peer that does not read its answers",
                    () -> peer.get().stats().outboundSuspensions() > 0 || !peer.get().isOpen(),
                    () -> peer.get().stats() + ", server pool " + serverPool);
            assertThat(peer.get().isOpen()).isTrue();
            // 8 MiB of held answers (the high-water mark), plus the read buffer and what the pool retains
            assertThat(serverPool.allocatedBytes()).as("direct memory the server holds for this peer")
                    .isLessThan(24L << 20);
            raw.close(); // ends the flood: its writer may be blocked on a full socket
            writer.get(60, TimeUnit.SECONDS);
        } finally {
            raw.close();
        }
    }
}
