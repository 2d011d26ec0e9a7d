package dev.braid.loom;

import dev.braid.Braid;
import dev.braid.BraidConfig;
import dev.braid.BraidServer;
import dev.braid.BraidStream;
import dev.braid.Connection;
import dev.braid.HandlerMode;
import dev.braid.Procedure;
import dev.braid.StreamListener;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Bug 1.5, loom part, through braid's engine: user code that runs on one of a loom connection's I/O threads
 * (a non-blocking handler on the reader, a stream listener's {@code onWritable} on the writer) and is slow
 * does not stall the other direction of the connection. Before, both threads made every engine call under
 * one lock, so such a callback stopped the other thread too.
 */
class LoomContextsTest {
    private static final Procedure SLOW = Procedure.of(0x6c6f6f6d, 1, 1); // "loom"
    private static final Procedure DOWNLOAD = Procedure.of(0x6c6f6f6d, 1, 2);
    private static final Procedure TICK = Procedure.of(0x6c6f6f6d, 1, 3);
    private static final int BYTES = 256 * 1024; // within one stream window: no credit needed from the stalled side

    private Braid serverBraid;
    private Braid clientBraid;

    @BeforeEach
    void start() {
        serverBraid = Braid.create(new BraidConfig().backend("loom"));
        clientBraid = Braid.create(new BraidConfig().backend("loom"));
    }

    @AfterEach
    void stop() {
        clientBraid.close();
        serverBraid.close();
    }

    @Test
    void aSlowNonBlockingHandlerDoesNotStopTheServersWrites() throws Exception {
        final CountDownLatch entered = new CountDownLatch(1);
        final CountDownLatch release = new CountDownLatch(1);
        final BraidServer server = serverBraid.server()
                .handle(SLOW, call -> {
                    entered.countDown();
                    release.await(); // slow user code on the server's reader thread
                    call.reply(new byte[0]);
                }, HandlerMode.NON_BLOCKING)
                .stream(DOWNLOAD, (call, stream) -> {
                    call.reply(new byte[0]);
                    entered.await(); // writes only once the reader is stuck in the slow handler
                    stream.write(ByteBuffer.wrap(pattern(BYTES)));
                    stream.finish();
                })
                .bind(0);
        try (server; Connection c = clientBraid.connect(server.address())) {
            final BraidStream s = c.openStream(DOWNLOAD, new byte[0]);
            final var slowReply = c.callAsync(SLOW, new byte[0]);
            assertThat(entered.await(10, TimeUnit.SECONDS)).isTrue();
            final ByteBuffer got = ByteBuffer.allocate(BYTES);
            final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (got.hasRemaining() && System.nanoTime() < deadline) {
                if (s.read(got, Duration.ofMillis(100)) < 0) {
                    break;
                }
            }
            release.countDown();
            assertThat(got.position()).as("bytes the server wrote while its reader ran the slow handler")
                    .isEqualTo(BYTES);
            slowReply.get(10, TimeUnit.SECONDS).close();
            assertThat(got.flip()).isEqualTo(ByteBuffer.wrap(pattern(BYTES)));
            s.abort("done");
        }
    }

    @Test
    void aSlowOnWritableDoesNotStopTheServersReads() throws Exception {
        final CountDownLatch stuck = new CountDownLatch(1);
        final CountDownLatch release = new CountDownLatch(1);
        final AtomicInteger ticks = new AtomicInteger();
        final BraidServer server = serverBraid.server()
                .stream(DOWNLOAD, (call, stream) -> {
                    call.reply(new byte[0]);
                    stream.setListener(new StreamListener() {
                        private final ByteBuffer chunk = ByteBuffer.wrap(pattern(64 * 1024));

                        @Override
                        public void onWritable(final BraidStream st) {
                            if (Thread.currentThread().getName().contains("-loom-w-") && stuck.getCount() > 0) {
                                stuck.countDown();
                                try {
                                    release.await(); // slow user code on the server's writer thread
                                } catch (InterruptedException e) {
                                    Thread.currentThread().interrupt();
                                }
                                return;
                            }
                            while (st.tryWrite(chunk.clear()) != BraidStream.WOULD_BLOCK) {
                                // fill the ring until it is full: the writer calls onWritable when it frees a slot
                            }
                        }
                    });
                }, HandlerMode.NON_BLOCKING)
                .onEvent(TICK, e -> ticks.incrementAndGet(), HandlerMode.NON_BLOCKING) // on the server's reader
                .bind(0);
        try (server; Connection c = clientBraid.connect(server.address())) {
            final BraidStream s = c.openStream(DOWNLOAD, new byte[0]);
            try {
                readWhileTheWriterIsStuck(c, s, stuck, ticks);
            } finally {
                release.countDown();
            }
            s.abort("done");
        }
    }

    private static void readWhileTheWriterIsStuck(final Connection c, final BraidStream s, final CountDownLatch stuck,
                                                  final AtomicInteger ticks) throws InterruptedException {
        {
            final ByteBuffer sink = ByteBuffer.allocate(64 * 1024);
            final long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (!stuck.await(1, TimeUnit.MILLISECONDS) && System.nanoTime() < until) {
                s.tryRead(sink.clear()); // keep the download moving until onWritable blocks
            }
            assertThat(stuck.getCount()).as("onWritable ran on the writer thread").isZero();
            for (int i = 0; i < 100; i++) {
                c.sendEvent(TICK, ByteBuffer.allocate(8));
            }
            final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (ticks.get() < 100 && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
            assertThat(ticks.get()).as("events the server read while its writer ran the slow onWritable")
                    .isEqualTo(100);
        }
    }

    private static byte[] pattern(final int n) {
        final byte[] b = new byte[n];
        for (int i = 0; i < n; i++) {
            b[i] = (byte) (i % 251);
        }
        return b;
    }
}
