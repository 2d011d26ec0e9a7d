package dev.braid.testsuite;

import dev.braid.BraidServer;
import dev.braid.Connection;
import dev.braid.Procedure;
import dev.braid.buffer.BufferPool;
import dev.braid.internal.wire.FrameHeader;
import dev.braid.testing.LeakChecks;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntPredicate;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Issue 11 §1.1: an {@link OutOfMemoryError} while serving one connection closes that connection only. The
 * server's pool is given an allocator that fails on demand (where a real server would run out of direct
 * memory), and the test checks that the event loop and the listener survive: a well-behaved client already
 * connected goes on calling, and a new client connects and calls. Before the fix, on nio the error reached
 * the selector loop, which closed every connection and the listener.
 */
class LoopSurvivalTest extends TransportTest {
    static final Procedure ECHO = Procedure.of(0x4c4f4f50, 1, 1); // "LOOP"
    private static final long WAIT_MILLIS = 30_000;

    /** Fails the allocations it is armed for (a count, and which capacities), then allocates normally. */
    private static final class FailingAllocator implements BufferPool.Allocator {
        final AtomicInteger armed = new AtomicInteger();
        volatile IntPredicate which = c -> true;
        final AtomicInteger failed = new AtomicInteger();

        @Override
        public ByteBuffer allocate(final int capacity) {
            if (which.test(capacity) && armed.getAndUpdate(n -> Math.max(0, n - 1)) > 0) {
                failed.incrementAndGet();
                throw new OutOfMemoryError("Cannot reserve " + capacity + " bytes of direct buffer memory (injected)");
            }
            return ByteBuffer.allocateDirect(capacity);
        }
    }

    private final FailingAllocator allocator = new FailingAllocator();

    private BraidServer server() {
        final BufferPool serverPool = new BufferPool(BufferPool.DEFAULT_RETAINED_BYTES_PER_CLASS, true, allocator);
        closeLater(() -> LeakChecks.assertNoOutstandingBuffers(serverPool)); // runs after the server closed
        // keepalive off: nothing but the attack allocates on the server while a failure is armed
        return server(config(true).bufferPool(serverPool).keepaliveInterval(Duration.ZERO),
                s -> s.handle(ECHO, call -> call.reply(call.args())));
    }

    @Test
    void anOutOfMemoryErrorWhileReadingALargeFrameClosesThatConnectionOnly() throws Exception {
        final BraidServer server = server();
        final Connection good = connect(config(false).keepaliveInterval(Duration.ZERO), server);
        assertThat(good.call(ECHO, new byte[]{1})).containsExactly(1);
        allocator.which = c -> c >= 1 << 20; // the large frame's buffer, once it grows past 1 MiB
        allocator.armed.set(1);
        try (Socket raw = new Socket(server.address().getAddress(), server.address().getPort())) {
            final OutputStream out = raw.getOutputStream();
            final int length = 3 << 20;
            final ByteBuffer h = ByteBuffer.allocate(FrameHeader.HEADER_LENGTH);
            h.putInt(length).putInt(ECHO.program()).putInt(ECHO.version()).putInt(ECHO.procedure())
                    .putInt(FrameHeader.TYPE_CALL).putInt(1).putInt(FrameHeader.STATUS_OK);
            out.write(h.array());
            try {
                out.write(new byte[2 << 20]); // the buffer grows 256 KiB -> 1 MiB on the way: that fails
                out.flush();
            } catch (IOException e) {
                // the server closed the connection while we wrote: what the test waits for
            }
            assertClosedByServer(raw);
        }
        assertThat(allocator.failed.get()).as("the injected failure happened").isEqualTo(1);
        assertThat(good.call(ECHO, new byte[]{2})).as("the loop serves the other connection").containsExactly(2);
        final Connection next = connect(config(false).keepaliveInterval(Duration.ZERO), server);
        assertThat(next.call(ECHO, new byte[]{3})).as("the listener still accepts").containsExactly(3);
    }

    @Test
    void anOutOfMemoryErrorWhileAcceptingOrOpeningClosesThatSocketOnly() throws Exception {
        final BraidServer server = server();
        final Connection good = connect(config(false).keepaliveInterval(Duration.ZERO), server);
        assertThat(good.call(ECHO, new byte[]{1})).containsExactly(1);
        allocator.which = c -> true;
        allocator.armed.set(1); // the next allocation on the server: the new connection's, wherever it comes
        try (Socket raw = new Socket(server.address().getAddress(), server.address().getPort())) {
            raw.getOutputStream().write(new byte[4]); // a first read, should the engine allocate only then
            assertClosedByServer(raw);
        }
        assertThat(allocator.failed.get()).as("the injected failure happened").isEqualTo(1);
        assertThat(good.call(ECHO, new byte[]{2})).as("the loop serves the other connection").containsExactly(2);
        final Connection next = connect(config(false).keepaliveInterval(Duration.ZERO), server);
        assertThat(next.call(ECHO, new byte[]{3})).as("the listener still accepts").containsExactly(3);
    }

    /** Reads until the server closes; fails if it has not within WAIT_MILLIS (a generous bound, not a timing). */
    static void assertClosedByServer(final Socket raw) throws IOException {
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
