package dev.braid.testsuite;

import dev.braid.BraidServer;
import dev.braid.Connection;
import dev.braid.Procedure;
import dev.braid.internal.wire.FrameHeader;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Issue 11 §1.1 and §1.4, as an attacker would try them on loopback: a header announcing a large frame
 * followed by a byte now and then (slowloris), and a connection that never says anything. Keepalive cannot
 * catch either (any byte resets it); the frame and first-frame deadlines close them, while a well-behaved
 * client on the same server goes on.
 */
class PeerDeadlinesTest extends TransportTest {
    static final Procedure ECHO = Procedure.of(0x444c4e53, 1, 1); // "DLNS"
    private static final long WAIT_MILLIS = 60_000;

    private BraidServer server() {
        // keepalive off: only the deadlines under test can close these connections
        return server(config(true).frameTimeout(Duration.ofMillis(300)).minFrameRate(1 << 20)
                        .helloTimeout(Duration.ofMillis(500)).keepaliveInterval(Duration.ZERO),
                s -> s.handle(ECHO, call -> call.reply(call.args())));
    }

    @Test
    void aFrameDribbledByteByByteIsClosedAtItsDeadline() throws Exception {
        final BraidServer server = server();
        final Connection good = connect(server); // a well-behaved client beside the attack
        try (Socket raw = new Socket(server.address().getAddress(), server.address().getPort())) {
            final OutputStream out = raw.getOutputStream();
            // a valid CALL header announcing 1 MiB: 300 ms + 1 s at 1 MiB/s to complete it
            final ByteBuffer h = ByteBuffer.allocate(FrameHeader.HEADER_LENGTH);
            h.putInt(1 << 20).putInt(ECHO.program()).putInt(ECHO.version()).putInt(ECHO.procedure())
                    .putInt(FrameHeader.TYPE_CALL).putInt(1).putInt(FrameHeader.STATUS_OK);
            out.write(h.array());
            final AtomicBoolean stop = new AtomicBoolean();
            final Thread dribbler = Thread.ofVirtual().start(() -> {
                try {
                    while (!stop.get()) {
                        out.write(0);
                        out.flush();
                        Thread.sleep(50);
                    }
                } catch (IOException | InterruptedException e) {
                    // the server closed the connection: what the test waits for
                }
            });
            try {
                assertClosedByServer(raw);
            } finally {
                stop.set(true);
                dribbler.join(10_000);
            }
        }
        assertThat(good.call(ECHO, new byte[]{7})).containsExactly(7);
    }

    @Test
    void aConnectionThatSaysNothingIsClosedAfterHelloTimeout() throws Exception {
        final BraidServer server = server();
        final Connection good = connect(server);
        try (Socket raw = new Socket(server.address().getAddress(), server.address().getPort())) {
            assertClosedByServer(raw);
        }
        assertThat(good.call(ECHO, new byte[]{8})).containsExactly(8);
    }

    /** Reads until the server closes; fails if it has not within WAIT_MILLIS (a generous bound, not a timing). */
    private static void assertClosedByServer(final Socket raw) throws IOException {
        final InputStream in = raw.getInputStream();
        final long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(WAIT_MILLIS);
        final byte[] buf = new byte[4096];
        while (true) {
            final long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
            assertThat(left).as("the server closed the connection within " + WAIT_MILLIS + " ms").isPositive();
            raw.setSoTimeout((int) Math.max(1, left));
            try {
                if (in.read(buf) < 0) {
                    return;
                }
            } catch (SocketTimeoutException e) {
                // loop: the assertion above fails once the deadline passed
            } catch (IOException e) {
                return; // reset: closed too
            }
        }
    }
}
