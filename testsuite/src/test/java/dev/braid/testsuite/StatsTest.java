package dev.braid.testsuite;

import dev.braid.BraidServer;
import dev.braid.BraidStream;
import dev.braid.ConnectionStats;
import dev.braid.Connection;
import dev.braid.Peer;
import dev.braid.Procedure;
import dev.braid.StreamOptions;
import dev.braid.testing.Await;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A stream reports its windows, credit and queued bytes on both sides, and {@link ConnectionStats} sums them
 * and counts streams and their bytes, on every pairing.
 */
class StatsTest extends TransportTest {
    static final Procedure UPLOAD = Procedure.of(0x5353, 1, 10);
    static final int WINDOW = 256 * 1024;

    @Test
    void aStreamWhosePeerDoesNotReadShowsItsWindowCreditAndQueues() throws Exception {
        final BlockingQueue<BraidStream> atServer = new LinkedBlockingQueue<>();
        final CountDownLatch read = new CountDownLatch(1);
        final BraidServer server = server(config(true).initialStreamWindow(WINDOW), s -> s
                .stream(UPLOAD, (call, stream) -> {
                    call.reply(new byte[0]);
                    atServer.add(stream);
                    read.await(); // the peer does not read: the client's window fills
                    final ByteBuffer b = ByteBuffer.allocate(65536);
                    while (stream.read(b.clear()) >= 0) {
                        // drain
                    }
                    stream.finish();
                }));
        final Connection c = connect(config(false).initialStreamWindow(WINDOW / 2), server);
        final BraidStream up = c.openStream(UPLOAD, ByteBuffer.allocate(0), StreamOptions.DEFAULT);
        final BraidStream down = atServer.poll(10, TimeUnit.SECONDS);
        assertThat(up.sendWindow()).isEqualTo(WINDOW);
        assertThat(up.receiveWindow()).isEqualTo(WINDOW / 2);
        assertThat(down.sendWindow()).isEqualTo(WINDOW / 2);
        assertThat(down.receiveWindow()).isEqualTo(WINDOW);
        assertThat(up.sendCredit()).isEqualTo(WINDOW);

        // Write until the stream takes no more: the server's window is full, the rest waits in the send queue.
        final ByteBuffer chunk = ByteBuffer.allocate(16 * 1024);
        Await.until("the client's send queue is full", () -> up.tryWrite(chunk.clear()) == 0, up::sendQueuedBytes);
        final long total = up.bytesWritten();
        Await.until("the server holds a full window", () -> down.queuedBytes() >= WINDOW - 16 * 1024 - 64,
                down::queuedBytes);
        assertThat(down.queuedBytes()).isLessThanOrEqualTo(WINDOW);
        assertThat(up.sendCredit()).isLessThan(16 * 1024 + 64L);
        assertThat(up.sendQueuedBytes()).isPositive();
        final Peer peer = onlyConnection(server);
        final ConnectionStats s = peer.stats();
        assertThat(s.streamQueuedBytes()).isEqualTo(down.queuedBytes());
        assertThat(s.streamReceiveWindow()).isEqualTo(WINDOW);
        assertThat(s.streamsOpened()).isEqualTo(1);
        assertThat(peer.streams()).singleElement().satisfies(st -> {
            assertThat(st.procedure()).isEqualTo(UPLOAD);
            assertThat(st.serial()).isEqualTo(down.serial());
            assertThat(st.queuedBytes()).isEqualTo(down.queuedBytes());
            assertThat(st.receiveWindow()).isEqualTo(WINDOW);
            assertThat(st.age()).isPositive();
        });
        assertThat(c.streams()).singleElement().satisfies(st -> {
            assertThat(st.bytesSent()).isEqualTo(total);
            assertThat(st.sendQueuedBytes()).isEqualTo(up.sendQueuedBytes());
            assertThat(st.sendCredit()).isEqualTo(up.sendCredit());
        });
        final ConnectionStats cs = c.stats();
        assertThat(cs.streamSendQueuedBytes()).isEqualTo(up.sendQueuedBytes());
        assertThat(cs.streamReceiveWindow()).isEqualTo(WINDOW / 2);
        assertThat(cs.streamSendCredit()).isEqualTo(up.sendCredit());

        read.countDown();
        up.finish();
        Await.until("the server's stream ended", () -> peer.stats().streamsOpen() == 0, peer::stats);
        assertThat(peer.stats().streamBytesReceived()).isEqualTo(total);
        assertThat(c.stats().streamBytesSent()).isEqualTo(total);
        assertThat(c.stats().streamSendQueuedBytes()).isZero();
        assertThat(c.stats().streamsAborted()).isZero();
        assertThat(c.streams()).isEmpty();

        final BraidStream dropped = c.openStream(UPLOAD, ByteBuffer.allocate(0), StreamOptions.DEFAULT);
        dropped.abort("counted");
        assertThat(c.stats().streamsOpened()).isEqualTo(2);
        assertThat(c.stats().streamsAborted()).isEqualTo(1);
        Await.until("the server counts the abort", () -> peer.stats().streamsAborted() == 1, peer::stats);
        assertThat(peer.stats().outboundQueuedBytes()).isGreaterThanOrEqualTo(0);
    }
}
